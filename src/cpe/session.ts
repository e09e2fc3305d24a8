/**
 * One CWMP session, CPE side (TR-069 §3.7, CWMP-CHECKLIST §4):
 *
 *   POST Inform -> InformResponse; then the CPE's own requests (TransferComplete, RequestDownload),
 *   one at a time unless the ACS holds them (HoldRequests); then the empty POST; then the ACS's
 *   requests, each answered in the next POST, until the ACS answers with an empty 204 (or 200).
 *
 * The session owns the transport (one TCP connection, cookies, auth, redirects) and the protocol
 * version (Inform in the configured version's namespace, 1.4 adds SupportedCWMPVersions; the
 * ACS's UseCWMPVersion, or else the InformResponse's namespace, governs the rest). What the CPE
 * answers is delegated to `SessionHandler`, so this file knows nothing about the data model.
 */
import type {
  AcsRequest,
  CpeRequest,
  CpeResponse,
  CwmpHeader,
  CwmpMessage,
  CwmpVersion,
  Inform,
  SoapFault,
} from '../cwmp/types.ts';
import { CwmpFaultError, FaultCode, makeFault } from '../cwmp/faults.ts';
import { decodeMessage, encodeMessage, isAcsResponse, isCpeRequest, CpeCodecError } from './codec.ts';
import { SessionTransport, TransportError, type HttpReply, type TransportOptions } from './transport.ts';

/** The versions a 1.4 CPE announces in SupportedCWMPVersions. */
const SUPPORTED_VERSIONS: readonly CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];

/** Outcome of one CPE request sent during the session. */
export type CpeRequestOutcome =
  | { kind: 'response'; message: CwmpMessage }
  | { kind: 'fault'; fault: SoapFault };

/** What the agent provides to a session. */
export interface SessionHandler {
  /** Called after the InformResponse: events are delivered now. */
  informAccepted(version: CwmpVersion): void;
  /** The next CPE request to send (TransferComplete, RequestDownload), or null when none is left. */
  nextCpeRequest(): AcsRequest | null;
  /** The ACS answered a CPE request (response or fault). */
  cpeRequestDone(request: AcsRequest, outcome: CpeRequestOutcome): void;
  /**
   * Answers an ACS request. Returns the response, or throws CwmpFaultError to answer with a fault.
   * Any other error is answered with fault 9002.
   */
  handleAcsRequest(request: CpeRequest, header: CwmpHeader, version: CwmpVersion): Promise<CpeResponse>;
  /** Every envelope the CPE sends, with the version it was built for (tests validate them). */
  onSend?(xml: string, version: CwmpVersion): void;
  /** Diagnostic log. */
  log?(level: 'info' | 'warn', message: string): void;
}

export interface SessionConfig {
  url: string;
  inform: Inform;
  /** The CWMP version the CPE is configured for. */
  version: CwmpVersion;
  transport: TransportOptions;
  /** Overall session limit (default 5 min): a stuck ACS must not hold the device forever. */
  sessionTimeoutMs?: number;
}

export type SessionFailureKind = 'transport' | 'protocol' | 'acs-fault' | 'timeout';

export interface SessionResult {
  ok: boolean;
  /** True once the InformResponse arrived (events were delivered). */
  informAccepted: boolean;
  failure?: { kind: SessionFailureKind; message: string; faultCode?: number };
  /** Negotiated version (the configured one if the Inform never got an answer). */
  version: CwmpVersion;
  /** ACS requests answered in this session. */
  acsRequests: number;
  /** TCP connections used (local ports). */
  connections: number;
  redirects: number;
  durationMs: number;
}

class SessionFailure extends Error {
  constructor(
    readonly kind: SessionFailureKind,
    message: string,
    readonly faultCode?: number,
  ) {
    super(message);
  }
}

/** The namespace version the Inform is sent in: 1.2 for 1.2, 1.3 and 1.4. */
function informNamespaceVersion(v: CwmpVersion): CwmpVersion {
  return v === '1.0' || v === '1.1' ? v : '1.2';
}

const VERSION_ORDER: Record<CwmpVersion, number> = { '1.0': 0, '1.1': 1, '1.2': 2, '1.3': 3, '1.4': 4 };

/** Default overall session limit. */
export const DEFAULT_SESSION_TIMEOUT_MS = 5 * 60_000;
/** Seconds announced in cwmp:SessionTimeout (1.3+): how long the CPE waits for the ACS. */
const ANNOUNCED_SESSION_TIMEOUT_S = 30;

/**
 * Runs one session to completion. Never throws: failures are reported in the result (the caller
 * applies the retry policy).
 */
export async function runSession(cfg: SessionConfig, handler: SessionHandler): Promise<SessionResult> {
  const started = Date.now();
  const transport = new SessionTransport(new URL(cfg.url), cfg.transport);
  const state = { version: cfg.version, informAccepted: false, acsRequests: 0 };
  const limit = cfg.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SessionFailure('timeout', `session exceeded ${limit} ms`)), limit);
    timer.unref?.();
  });
  let failure: SessionResult['failure'];
  try {
    const work = converse(cfg, handler, transport, state);
    // If the timeout wins, the conversation fails later when the transport closes: not an unhandled rejection.
    work.catch(() => undefined);
    await Promise.race([work, timeout]);
  } catch (err) {
    if (err instanceof SessionFailure) failure = { kind: err.kind, message: err.message, faultCode: err.faultCode };
    else if (err instanceof TransportError) failure = { kind: err.kind === 'timeout' ? 'timeout' : 'transport', message: err.message };
    else failure = { kind: 'protocol', message: err instanceof Error ? err.message : String(err) };
    handler.log?.('warn', `session failed: ${failure.message}`);
  } finally {
    clearTimeout(timer);
    transport.close();
  }
  return {
    ok: failure === undefined,
    informAccepted: state.informAccepted,
    failure,
    version: state.version,
    acsRequests: state.acsRequests,
    connections: transport.localPorts.size,
    redirects: transport.redirectCount,
    durationMs: Date.now() - started,
  };
}

let idCounter = 0;
function nextId(): string {
  idCounter = (idCounter + 1) % 1_000_000_000;
  return `cpe-${idCounter}`;
}

function isEmptyReply(r: HttpReply): boolean {
  if (r.status === 204) return true;
  return r.status === 200 && r.body.toString('utf8').trim() === '';
}

async function converse(
  cfg: SessionConfig,
  handler: SessionHandler,
  transport: SessionTransport,
  state: { version: CwmpVersion; informAccepted: boolean; acsRequests: number },
): Promise<void> {
  const send = async (header: CwmpHeader, body: CwmpMessage | null, version: CwmpVersion): Promise<HttpReply> => {
    if (body === null) return transport.post(null);
    const xml = encodeMessage(header, body, version);
    handler.onSend?.(xml, version);
    return transport.post(xml);
  };

  // 1. Inform
  const informHeader: CwmpHeader = { id: nextId() };
  if (cfg.version === '1.4') informHeader.supportedCwmpVersions = SUPPORTED_VERSIONS.join(',');
  if (VERSION_ORDER[cfg.version] >= VERSION_ORDER['1.3']) informHeader.sessionTimeout = ANNOUNCED_SESSION_TIMEOUT_S;
  const informVersion = informNamespaceVersion(cfg.version);
  let reply = await send(informHeader, cfg.inform, cfg.version);
  if (reply.status !== 200 || isEmptyReply(reply)) {
    throw new SessionFailure('protocol', `ACS answered the Inform with HTTP ${reply.status}${isEmptyReply(reply) ? ' (empty)' : ''}`);
  }
  const informResp = decodeOrFail(reply);
  if (informResp.body?.method === 'Fault') {
    const f = informResp.body;
    throw new SessionFailure('acs-fault', `ACS fault ${f.faultCode} to the Inform: ${f.faultString}`, f.faultCode);
  }
  if (informResp.body?.method !== 'InformResponse') {
    throw new SessionFailure('protocol', `expected InformResponse, got ${informResp.body?.method ?? 'nothing'}`);
  }
  state.version = negotiateVersion(cfg.version, informVersion, informResp.version, informResp.header.useCwmpVersion);
  state.informAccepted = true;
  handler.informAccepted(state.version);
  let hold = informResp.header.holdRequests === true;

  // 2. The CPE's own requests.
  for (;;) {
    if (hold) break;
    const req = handler.nextCpeRequest();
    if (!req) break;
    reply = await send({ id: nextId() }, req, state.version);
    if (isEmptyReply(reply) || reply.status !== 200) {
      throw new SessionFailure('protocol', `ACS answered ${req.method} with HTTP ${reply.status}${isEmptyReply(reply) ? ' (empty)' : ''}`);
    }
    const r = decodeOrFail(reply);
    if (r.body?.method === 'Fault') {
      handler.cpeRequestDone(req, { kind: 'fault', fault: r.body });
      handler.log?.('warn', `ACS fault ${r.body.faultCode} to ${req.method}: ${r.body.faultString}`);
    } else if (r.body && isAcsResponse(r.body) && r.body.method === `${req.method}Response`) {
      handler.cpeRequestDone(req, { kind: 'response', message: r.body });
    } else {
      throw new SessionFailure('protocol', `expected ${req.method}Response, got ${r.body?.method ?? 'nothing'}`);
    }
    hold = r.header.holdRequests === true;
  }

  // 3. Empty POST, then the ACS's requests until it sends an empty response.
  reply = await send({}, null, state.version);
  for (;;) {
    if (isEmptyReply(reply)) return;
    if (reply.status !== 200) throw new SessionFailure('protocol', `ACS answered with HTTP ${reply.status}`);
    let answer: { header: CwmpHeader; body: CwmpMessage };
    try {
      const msg = decodeMessage(reply.body, reply.headers);
      answer = await answerAcsMessage(msg.header, msg.body, handler, state.version);
    } catch (err) {
      if (!(err instanceof CpeCodecError)) throw err;
      // A request we cannot read: answer with a fault (echoing the ID when it could be read).
      handler.log?.('warn', `unreadable ACS request: ${err.message}`);
      answer = { header: err.id === undefined ? {} : { id: err.id }, body: makeFault(err.faultCode, err.message) };
    }
    state.acsRequests++;
    reply = await send(answer.header, answer.body, state.version);
  }
}

async function answerAcsMessage(
  header: CwmpHeader,
  body: CwmpMessage | null,
  handler: SessionHandler,
  version: CwmpVersion,
): Promise<{ header: CwmpHeader; body: CwmpMessage }> {
  const replyHeader: CwmpHeader = header.id === undefined ? {} : { id: header.id };
  if (body === null) throw new SessionFailure('protocol', 'ACS sent an envelope without a body');
  if (body.method === 'Fault') {
    throw new SessionFailure('acs-fault', `ACS sent a fault ${body.faultCode} out of turn: ${body.faultString}`, body.faultCode);
  }
  if (!isCpeRequest(body)) {
    return { header: replyHeader, body: makeFault(FaultCode.METHOD_NOT_SUPPORTED, `${body.method} is not a CPE method`) };
  }
  try {
    return { header: replyHeader, body: await handler.handleAcsRequest(body, header, version) };
  } catch (err) {
    if (err instanceof CwmpFaultError) return { header: replyHeader, body: err.fault };
    const like = faultLike(err);
    if (like) return { header: replyHeader, body: like };
    handler.log?.('warn', `internal error answering ${body.method}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return { header: replyHeader, body: makeFault(FaultCode.INTERNAL_ERROR, 'Internal error') };
  }
}

/** Accepts fault errors of other parts (e.g. the data model's) shaped `{ fault: { faultCode, faultString, setParameterValuesFaults } }`. */
function faultLike(err: unknown): SoapFault | null {
  const f = (err as { fault?: { faultCode?: unknown; faultString?: unknown; setParameterValuesFaults?: unknown } } | null)?.fault;
  if (!f || typeof f.faultCode !== 'number') return null;
  return makeFault(
    f.faultCode,
    typeof f.faultString === 'string' ? f.faultString : undefined,
    Array.isArray(f.setParameterValuesFaults) ? f.setParameterValuesFaults : [],
  );
}

function decodeOrFail(reply: HttpReply): { header: CwmpHeader; body: CwmpMessage | null; version: CwmpVersion } {
  try {
    return decodeMessage(reply.body, reply.headers);
  } catch (err) {
    throw new SessionFailure('protocol', `unreadable ACS message: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The version for the rest of the session: UseCWMPVersion when the ACS sent one we support (and
 * not above ours), else the lower of ours and the InformResponse's namespace version.
 * Throws SessionFailure when the ACS asks for a version we do not speak.
 */
export function negotiateVersion(
  configured: CwmpVersion,
  sentNamespace: CwmpVersion,
  responseNamespace: CwmpVersion,
  useCwmpVersion: string | undefined,
): CwmpVersion {
  if (useCwmpVersion !== undefined) {
    const v = useCwmpVersion.trim() as CwmpVersion;
    if (!(v in VERSION_ORDER) || VERSION_ORDER[v] > VERSION_ORDER[configured]) {
      throw new SessionFailure('protocol', `ACS asked for CWMP ${useCwmpVersion}, this CPE supports up to ${configured}`);
    }
    return v;
  }
  // Without UseCWMPVersion the ACS predates 1.4: the rest of the session uses the InformResponse's
  // namespace version (cwmp-1-2 stands for 1.2), never above what we sent.
  const answered = VERSION_ORDER[responseNamespace] < VERSION_ORDER[sentNamespace] ? responseNamespace : sentNamespace;
  return VERSION_ORDER[answered] < VERSION_ORDER[configured] ? answered : configured;
}
