/**
 * Test harness for the CPE agent: a scripted ACS, a file server (downloads, uploads, Digest auth),
 * and an agent wired to both, recording every envelope the agent sends so that tests can validate
 * them against the BBF schema.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import type { CpeRequest, CwmpMessage, CwmpVersion } from '../../src/cwmp/index.ts';
import { CpeAgent, type CpeAgentOptions, type CpeRuntime } from '../../src/cpe/agent.ts';
import { ConnectionRequestServer } from '../../src/cpe/connection-request-server.ts';
import { RealScheduler, type Scheduler } from '../../src/cpe/scheduler.ts';
import type { SessionResult } from '../../src/cpe/session.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { validateEnvelopes } from '../helpers/schema.ts';
import { ScriptedAcs, type RawRequest, type ScriptedAcsHooks } from './scripted-acs.ts';

export interface SentEnvelope {
  xml: string;
  version: CwmpVersion;
}

/** Files served by `FileServer`: body, optional Digest credentials, optional status override. */
export interface ServedFile {
  body: Buffer | string;
  status?: number;
  digest?: { username: string; password: string };
  /** Announce this Content-Length but close after sending the body (truncated transfer). */
  truncateTo?: number;
}

/** An HTTP file server for Download/Upload tests (Digest auth with qop=auth when asked). */
export class FileServer {
  readonly files = new Map<string, ServedFile>();
  readonly uploads: { path: string; body: Buffer; contentType: string | undefined; authorized: boolean }[] = [];
  uploadDigest?: { username: string; password: string };
  private server = http.createServer((req, res) => void this.handle(req, res));
  port = 0;
  private nonce = randomBytes(8).toString('hex');

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private checkDigest(req: http.IncomingMessage, creds: { username: string; password: string }): boolean {
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Digest ')) return false;
    const p: Record<string, string> = {};
    for (const m of h.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]] = m[2] ?? m[3];
    const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${creds.username}:files:${creds.password}`);
    const ha2 = md5(`${req.method}:${p.uri}`);
    const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
    return p.username === creds.username && p.nonce === this.nonce && expected === p.response;
  }

  private challenge(res: http.ServerResponse): void {
    res.writeHead(401, { 'www-authenticate': `Digest realm="files", qop="auth", nonce="${this.nonce}", algorithm=MD5`, 'content-length': 0 }).end();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? '/';
    if (req.method === 'PUT') {
      const creds = this.uploadDigest;
      const authorized = creds ? this.checkDigest(req, creds) : true;
      if (!authorized) return this.challenge(res);
      this.uploads.push({ path, body: Buffer.concat(chunks), contentType: req.headers['content-type'], authorized });
      res.writeHead(201, { 'content-length': 0 }).end();
      return;
    }
    const f = this.files.get(path);
    if (!f) {
      res.writeHead(404, { 'content-length': 0 }).end();
      return;
    }
    if (f.digest && !this.checkDigest(req, f.digest)) return this.challenge(res);
    const body = Buffer.from(f.body);
    if (f.truncateTo !== undefined) {
      res.writeHead(f.status ?? 200, { 'content-length': body.length });
      res.write(body.subarray(0, f.truncateTo));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.writeHead(f.status ?? 200, { 'content-length': body.length, 'content-type': 'application/octet-stream' }).end(body);
  }
}

export interface HarnessOptions {
  model?: string;
  serial?: string;
  hooks?: ScriptedAcsHooks;
  agent?: Partial<CpeAgentOptions>;
  runtime?: Partial<CpeRuntime>;
  scheduler?: Scheduler;
  /** Start the agent (default true). */
  start?: boolean;
  withConnectionRequests?: boolean;
}

export interface Harness {
  acs: ScriptedAcs;
  files: FileServer;
  agent: CpeAgent;
  sent: SentEnvelope[];
  crServer?: ConnectionRequestServer;
  /** Queues ACS requests, triggers a session and resolves when it ended. */
  session(requests?: (CpeRequest | RawRequest)[]): Promise<{ result: SessionResult; answers: (CwmpMessage | null)[] }>;
  /** Validates every envelope sent so far; throws listing the invalid ones. */
  validateAll(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a scripted ACS, a file server and an agent provisioned with the ACS URL; waits for the BOOTSTRAP session. */
export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const acs = await new ScriptedAcs(o.hooks ?? {}).listen();
  const files = await new FileServer().listen();
  const sent: SentEnvelope[] = [];
  let crServer: ConnectionRequestServer | undefined;
  if (o.withConnectionRequests) {
    crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1' });
    await crServer.listen();
  }
  const runtime: CpeRuntime = {
    scheduler: o.scheduler ?? new RealScheduler(),
    random: Math.random,
    connectionRequests: crServer,
    onSend: (_s, xml, version) => sent.push({ xml, version }),
    ...o.runtime,
  };
  const agent = new CpeAgent(
    {
      profile: loadProfile(o.model ?? 'GXP2140'),
      serial: o.serial ?? '000B82A1B2C3',
      crRateLimit: { burst: 1000, windowMs: 1000 },
      rebootDurationMs: 30,
      responseTimeoutMs: 5000,
      ...o.agent,
      provisioning: { acsUrl: acs.url, connectionRequestUsername: 'cruser', connectionRequestPassword: 'crpass', ...o.agent?.provisioning },
    },
    runtime,
  );
  const h: Harness = {
    acs,
    files,
    agent,
    sent,
    crServer,
    async session(requests = []) {
      const before = acs.answers.length;
      acs.queue.push(...requests);
      const done = agent.nextSession();
      agent.connectionRequest('http');
      const result = await done;
      return { result, answers: acs.answers.slice(before).map((a) => a.message) };
    },
    async validateAll() {
      const byVersion = new Map<CwmpVersion, string[]>();
      for (const s of sent) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s.xml]);
      const errors: string[] = [];
      for (const [v, xmls] of byVersion) {
        const rs = await validateEnvelopes(xmls, v);
        rs.forEach((r, i) => {
          if (!r.valid) errors.push(`CWMP ${v} envelope invalid: ${r.errors.join('; ')}\n${xmls[i].slice(0, 600)}`);
        });
      }
      if (errors.length) throw new Error(errors.join('\n\n'));
    },
    async close() {
      await agent.stop();
      await acs.close();
      await files.close();
      await crServer?.close();
    },
  };
  if (o.start !== false) {
    const first = agent.nextSession();
    agent.start();
    await first;
  }
  return h;
}
