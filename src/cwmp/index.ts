/**
 * Public entry point of the CWMP codec: types, parse/build, HTTP body decoding,
 * fault registry, event codes and xsd value helpers.
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
