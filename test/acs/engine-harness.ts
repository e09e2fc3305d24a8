/**
 * Test harness for the session engine: a scripted CPE that talks to a `SessionEngine` with XML
 * strings (no sockets), and records every message the ACS sent so a test can validate them all
 * against the BBF schemas in one xmllint run.
 */
import assert from 'node:assert/strict';
import { buildEnvelope, parseEnvelope, type ParsedEnvelope } from '../../src/cwmp/codec.ts';
import type { CwmpHeader, CwmpMessage, CwmpVersion, Inform, ParameterValueStruct, XsdType } from '../../src/cwmp/types.ts';
import { SessionEngine, type EngineOptions } from '../../src/acs/session/engine.ts';
import type { EngineNotice, EngineReply, SessionState } from '../../src/acs/session/state.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { validateEnvelopes } from '../helpers/schema.ts';

export const OUI = '000B82';

/** A fake clock tests move by hand. */
export class FakeClock {
  constructor(public ms = Date.parse('2025-06-01T10:00:00.000Z')) {}
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface EngineFixture {
  store: Store;
  engine: SessionEngine;
  clock: FakeClock;
}

/** An engine on a fresh in-memory SQLite store with a fake clock. */
export function makeEngine(options: Partial<EngineOptions> = {}, store: Store = openSqliteStore({ file: ':memory:' })): EngineFixture {
  const clock = new FakeClock();
  const engine = new SessionEngine({ store, clock: clock.now, ...options });
  return { store, engine, clock };
}

export function param(name: string, value: string, type: XsdType = 'string'): ParameterValueStruct {
  return { name, value, type };
}

export interface InformOptions {
  serial?: string;
  productClass?: string;
  events?: (string | [string, string])[];
  parameters?: ParameterValueStruct[];
}

export function deviceIdOf(serial: string, productClass = 'HT502'): string {
  return `${OUI}-${productClass}-${serial}`;
}

/** An Inform of a Grandstream HT502 with the usual forced-inform parameters. */
export function informMessage(o: InformOptions = {}): Inform {
  const serial = o.serial ?? 'SN0001';
  return {
    method: 'Inform',
    deviceId: { manufacturer: 'Grandstream', oui: OUI, productClass: o.productClass ?? 'HT502', serialNumber: serial },
    event: (o.events ?? ['1 BOOT']).map((e) => (typeof e === 'string' ? { eventCode: e, commandKey: '' } : { eventCode: e[0], commandKey: e[1] })),
    maxEnvelopes: 1,
    currentTime: '2025-06-01T10:00:00Z',
    retryCount: 0,
    parameterList: o.parameters ?? [
      param('InternetGatewayDevice.DeviceInfo.SoftwareVersion', '1.0.3.10'),
      param('InternetGatewayDevice.DeviceInfo.HardwareVersion', 'V2.1A'),
      param('InternetGatewayDevice.ManagementServer.ConnectionRequestURL', `http://10.0.0.5:7547/cr-${serial}`),
      param('InternetGatewayDevice.ManagementServer.PeriodicInformInterval', '3600', 'unsignedInt'),
    ],
  };
}

export interface Exchange {
  reply: EngineReply;
  /** The ACS message parsed back (null for 204/503 or an empty body). */
  parsed: ParsedEnvelope | null;
}

/** A CPE driven by the test: each `send` is one HTTP POST to the engine. */
export class ScriptedCpe {
  session: SessionState | null = null;
  /** Version the CPE writes its messages in (and the ACS must answer in). */
  version: CwmpVersion;
  readonly notices: EngineNotice[] = [];
  /** Every ACS message with the schema version it must satisfy. */
  readonly acsMessages: { xml: string; version: CwmpVersion }[] = [];
  private idSeq = 0;

  constructor(
    readonly engine: SessionEngine,
    options: { version?: CwmpVersion; remoteAddress?: string } = {},
  ) {
    this.version = options.version ?? '1.0';
    this.remoteAddress = options.remoteAddress ?? '10.0.0.5';
  }
  readonly remoteAddress: string;

  /** Sends a message (built in this CPE's version), raw XML text, bytes, or an empty POST (null). */
  async send(message: CwmpMessage | string | Uint8Array | null, header: CwmpHeader = {}, http: { contentEncoding?: string } = {}): Promise<Exchange> {
    let body: string | Uint8Array;
    if (message === null) body = '';
    else if (typeof message === 'string' || message instanceof Uint8Array) body = message;
    else {
      const h: CwmpHeader = { ...header };
      if (h.id === undefined && !('id' in header)) h.id = `cpe-${++this.idSeq}`;
      body = buildEnvelope({ header: h, body: message }, { version: this.version });
    }
    const reply = await this.engine.exchange(this.session, { body, remoteAddress: this.remoteAddress, contentEncoding: http.contentEncoding });
    this.session = reply.session;
    this.notices.push(...reply.notices);
    let parsed: ParsedEnvelope | null = null;
    if (reply.status === 200 && reply.body !== '') {
      parsed = parseEnvelope(reply.body);
      const version: CwmpVersion = parsed.header.useCwmpVersion !== undefined ? '1.4' : this.version;
      this.acsMessages.push({ xml: reply.body, version });
      if (parsed.body?.method === 'InformResponse' && parsed.header.useCwmpVersion) this.version = parsed.header.useCwmpVersion as CwmpVersion;
    }
    return { reply, parsed };
  }

  /** Answers the ACS request in `ex` with `response`, echoing its cwmp:ID. */
  async answer(ex: Exchange, response: CwmpMessage): Promise<Exchange> {
    assert.ok(ex.parsed?.header.id, 'ACS request must carry a cwmp:ID');
    return this.send(response, { id: ex.parsed.header.id });
  }

  /** Inform + empty POST; returns the reply to the empty POST (first task RPC or 204). */
  async informAndEmpty(o: InformOptions = {}): Promise<Exchange> {
    const ir = await this.send(informMessage(o));
    assert.equal(ir.parsed?.body?.method, 'InformResponse', `expected InformResponse, got ${ir.reply.status} ${ir.reply.body}`);
    return this.send(null);
  }

  /** Validates every ACS message sent so far against the BBF schema (strict). */
  async assertAllValid(): Promise<void> {
    const byVersion = new Map<CwmpVersion, string[]>();
    for (const m of this.acsMessages) byVersion.set(m.version, [...(byVersion.get(m.version) ?? []), m.xml]);
    for (const [version, xmls] of byVersion) {
      const results = await validateEnvelopes(xmls, version);
      results.forEach((r, i) => assert.ok(r.valid, `ACS message not valid for CWMP ${version}:\n${xmls[i]}\n${r.errors.join('\n')}`));
    }
  }
}

/** The method of the body of an exchange (or `204`/`503`). */
export function methodOf(ex: Exchange): string {
  if (ex.reply.status !== 200) return String(ex.reply.status);
  return ex.parsed?.body?.method ?? 'empty';
}

/** The cwmp:Fault code of a fault reply. */
export function faultCodeOf(ex: Exchange): number | null {
  const b = ex.parsed?.body;
  return b && b.method === 'Fault' ? b.faultCode : null;
}
