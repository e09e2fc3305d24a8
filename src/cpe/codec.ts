/**
 * The CPE's view of the CWMP codec (src/cwmp): bytes from the ACS -> typed message, typed message ->
 * envelope text, and the mapping of codec refusals to the CWMP fault the CPE answers with.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  CodecError,
  FaultCode,
  buildEnvelope,
  decodeHttpBody,
  parseEnvelope,
  type AcsResponse,
  type CpeRequest,
  type CwmpHeader,
  type CwmpMessage,
  type CwmpVersion,
} from '../cwmp/index.ts';

/** Methods the ACS may call on a CPE (TR-069 Table A.1 "CPE methods"). */
const CPE_REQUEST_METHODS = new Set<string>([
  'GetRPCMethods',
  'SetParameterValues',
  'GetParameterValues',
  'GetParameterNames',
  'SetParameterAttributes',
  'GetParameterAttributes',
  'AddObject',
  'DeleteObject',
  'Reboot',
  'Download',
  'Upload',
  'FactoryReset',
  'ScheduleInform',
  'GetQueuedTransfers',
  'GetAllQueuedTransfers',
  'ScheduleDownload',
  'CancelTransfer',
  'ChangeDUState',
  'SetVouchers',
  'GetOptions',
]);

const ACS_RESPONSE_METHODS = new Set<string>([
  'InformResponse',
  'GetRPCMethodsResponse',
  'TransferCompleteResponse',
  'AutonomousTransferCompleteResponse',
  'RequestDownloadResponse',
  'KickedResponse',
  'DUStateChangeCompleteResponse',
  'AutonomousDUStateChangeCompleteResponse',
]);

export function isCpeRequest(m: CwmpMessage): m is CpeRequest {
  return CPE_REQUEST_METHODS.has(m.method);
}

export function isAcsResponse(m: CwmpMessage): m is AcsResponse {
  return ACS_RESPONSE_METHODS.has(m.method);
}

/** A message from the ACS that cannot be decoded, with the fault to answer it with. */
export class CpeCodecError extends Error {
  constructor(
    message: string,
    readonly faultCode: number,
    /** The cwmp:ID of the message when it could be read, so the fault can echo it. */
    readonly id: string | undefined,
  ) {
    super(message);
    this.name = 'CpeCodecError';
  }
}

export interface DecodedMessage {
  header: CwmpHeader;
  body: CwmpMessage | null;
  version: CwmpVersion;
}

/** Largest ACS message the agent reads. */
const MAX_ACS_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Decodes an HTTP body from the ACS. Returns the message (body null for an empty one).
 * Throws CpeCodecError with the fault to answer: 9000 unknown method, 9004 too large/deep,
 * 9003 anything else unreadable.
 */
export function decodeMessage(body: Buffer, headers: IncomingHttpHeaders): DecodedMessage {
  let text = '';
  try {
    text = decodeHttpBody(body, { contentEncoding: headers['content-encoding'], contentType: headers['content-type'] }, { maxBytes: MAX_ACS_MESSAGE_BYTES });
    const env = parseEnvelope(text, { maxBytes: MAX_ACS_MESSAGE_BYTES });
    return { header: env.header, body: env.body, version: env.version };
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    const fault =
      err.code === 'UNKNOWN_METHOD'
        ? FaultCode.METHOD_NOT_SUPPORTED
        : err.code === 'TOO_LARGE' || err.code === 'TOO_DEEP' || err.code === 'TOO_MANY_ITEMS'
          ? FaultCode.RESOURCES_EXCEEDED
          : FaultCode.INVALID_ARGUMENTS;
    throw new CpeCodecError(err.message, fault, sniffId(text));
  }
}

/**
 * Builds the envelope text of a message in `version`. Throws CodecError when the message is not
 * valid for that version (a bug on our side: every message we send must be schema-valid).
 */
export function encodeMessage(header: CwmpHeader, body: CwmpMessage, version: CwmpVersion): string {
  return buildEnvelope({ header, body }, { version });
}

/** Best-effort read of the cwmp:ID header of an envelope the codec refused. */
function sniffId(xml: string): string | undefined {
  const m = /<(?:[A-Za-z_][\w.-]*:)?ID\b[^>]*>([^<]{0,256})<\/(?:[A-Za-z_][\w.-]*:)?ID>/.exec(xml);
  return m ? m[1].trim() : undefined;
}
