/**
 * Public entry point of the CWMP codec: types, parse/build, HTTP body decoding,
 * fault registry, event codes and xsd value helpers.
 *
 *   const text = decodeHttpBody(bytes, { contentEncoding, contentType }); // gzip/deflate, charset, BOM
 *   const env = parseEnvelope(text);            // { header, body, namespace, version }; body null = empty POST
 *   if (env.body?.method === 'Inform') ...
 *   const xml = buildEnvelope({ header: { id: env.header.id }, body: { method: 'InformResponse', maxEnvelopes: 1 } },
 *                             { version: env.version });   // '' when body is null and header empty
 *   throw new CwmpFaultError(9005);             // in a handler: answer with makeFault(9005)
 *
 * Every failure is a CodecError with a `code` (see CodecErrorCode).
 */
export * from './types.ts';
export { CodecError, isCodecError, CODEC_ERROR_CODES, type CodecErrorCode } from './errors.ts';
export {
  parseEnvelope,
  buildEnvelope,
  namespaceForVersion,
  decodeEnvelopeTree,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ITEMS,
  type ParseOptions,
  type ParsedEnvelope,
} from './codec.ts';
export { decodeHttpBody, charsetFromContentType, DEFAULT_MAX_BYTES } from './encoding.ts';
export { methodsInVersion } from './messages.ts';
export { stripIllegalXmlChars, findIllegalXmlChar } from './xml.ts';
export * from './faults.ts';
export * from './events.ts';
export * from './values.ts';
export * from './auth.ts';
export * from './udp-connection-request.ts';
export * from './stun.ts';
