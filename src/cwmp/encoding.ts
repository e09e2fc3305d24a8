/**
 * HTTP body bytes -> JS string: Content-Encoding (gzip, deflate, br) with a
 * bounded output size, then the character set from the BOM, the Content-Type
 * charset, the XML declaration, or UTF-8 by default.
 */
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { CodecError } from './errors.ts';

/** Default maximum size of a (decompressed) body: 4 MiB. */
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
/** How far into the body the XML declaration is looked for. */
const XML_DECL_SNIFF_BYTES = 256;

function isTooLarge(e: unknown): boolean {
  return (
    e instanceof RangeError ||
    (typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
  );
}

function inflateOne(buf: Uint8Array, coding: string, maxBytes: number): Uint8Array {
  const opts = { maxOutputLength: maxBytes };
  try {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(buf, opts);
      case 'deflate':
        // RFC 9110 "deflate" is zlib-wrapped, but some peers send raw deflate: accept both.
        try {
          return inflateSync(buf, opts);
        } catch (e) {
          if (isTooLarge(e)) throw e;
          return inflateRawSync(buf, opts);
        }
      case 'br':
        return brotliDecompressSync(buf, opts);
      default:
        throw new CodecError('BAD_ENCODING', `unsupported Content-Encoding "${coding}"`);
    }
  } catch (e) {
    if (e instanceof CodecError) throw e;
    if (isTooLarge(e)) throw new CodecError('TOO_LARGE', `decompressed body larger than ${maxBytes} bytes`);
    throw new CodecError('BAD_ENCODING', `cannot decode ${coding} body: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The last Content-Type seen and its charset: a peer sends the same header on every request. */
let lastContentType = '';
let lastCharset: string | undefined;

/** charset parameter of a Content-Type header value, lower-cased, or undefined. */
export function charsetFromContentType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  if (contentType === lastContentType) return lastCharset;
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(contentType);
  const cs = (m?.[1] ?? m?.[2])?.trim().toLowerCase();
  lastContentType = contentType;
  lastCharset = cs ? cs : undefined;
  return lastCharset;
}

/** The XML declaration nearly every peer (and our builder) writes, as bytes. */
const USUAL_XML_DECL = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>', 'latin1');
const USUAL_XML_DECL_CHARSET = 'utf-8';

/** True when `bytes` start with USUAL_XML_DECL. */
function startsWithUsualDecl(bytes: Uint8Array): boolean {
  if (bytes.length < USUAL_XML_DECL.length) return false;
  for (let i = 0; i < USUAL_XML_DECL.length; i++) if (bytes[i] !== USUAL_XML_DECL[i]) return false;
  return true;
}

function charsetFromXmlDecl(bytes: Uint8Array): string | undefined {
  // The usual declaration without a string and a regular expression (every message of a session has it).
  if (startsWithUsualDecl(bytes)) return USUAL_XML_DECL_CHARSET;
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, XML_DECL_SNIFF_BYTES)).toString('latin1');
  const m = /^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']/.exec(head);
  return m ? m[1].toLowerCase() : undefined;
}

function sniffBomOrUtf16(b: Uint8Array): { label: string; skip: number } | undefined {
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return { label: 'utf-8', skip: 3 };
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return { label: 'utf-16le', skip: 2 };
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) return { label: 'utf-16be', skip: 2 };
  // "<?" in UTF-16 without a BOM.
  if (b.length >= 4 && b[0] === 0x3c && b[1] === 0 && b[2] === 0x3f && b[3] === 0) return { label: 'utf-16le', skip: 0 };
  if (b.length >= 4 && b[0] === 0 && b[1] === 0x3c && b[2] === 0 && b[3] === 0x3f) return { label: 'utf-16be', skip: 0 };
  return undefined;
}

/**
 * Decoders by charset label, reused: a non-streaming `decode` keeps no state between calls, and
 * constructing a TextDecoder costs more than decoding an Inform. Only labels the runtime knows
 * get an entry (a bounded set, whatever peers send).
 */
const decoders = new Map<string, TextDecoder>();
/** Far above the charsets CPEs use; the labels reaching here are trimmed and lower-cased. */
const MAX_CACHED_DECODERS = 32;

function decoderFor(label: string): TextDecoder {
  let decoder = decoders.get(label);
  if (decoder) return decoder;
  try {
    // ignoreBOM: the BOM has been removed already; a second one is content.
    decoder = new TextDecoder(label, { fatal: true, ignoreBOM: true });
  } catch {
    throw new CodecError('BAD_ENCODING', `unknown charset "${label}"`);
  }
  if (decoders.size < MAX_CACHED_DECODERS) decoders.set(label, decoder);
  return decoder;
}

function decodeText(bytes: Uint8Array, label: string): string {
  const decoder = decoderFor(label);
  try {
    return decoder.decode(bytes);
  } catch {
    throw new CodecError('BAD_ENCODING', `body is not valid ${label}`);
  }
}

const NO_CODINGS: readonly string[] = [];

/**
 * Decodes an HTTP body to text: undoes Content-Encoding (gzip/x-gzip, deflate
 * zlib or raw, br; a gzip body without the header is recognised by its magic
 * bytes), never producing more than `maxBytes` (default 4 MiB) of output, then
 * decodes the charset (BOM first, then the Content-Type charset, then the XML
 * declaration, else UTF-8; a body that is not valid UTF-8 and declares no
 * charset anywhere is read as windows-1252, as old CPEs send Latin-1 unlabelled).
 * Returns the text without BOM. Throws CodecError TOO_LARGE or BAD_ENCODING.
 */
export function decodeHttpBody(
  body: Uint8Array,
  headers: { contentEncoding?: string; contentType?: string },
  options?: { maxBytes?: number },
): string {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (body.length > maxBytes) throw new CodecError('TOO_LARGE', `body of ${body.length} bytes exceeds ${maxBytes}`);
  let bytes = body;
  const encoding = headers.contentEncoding;
  // Almost every CWMP body is sent without Content-Encoding: no list to make then.
  const codings =
    encoding === undefined || encoding === '' || encoding === 'identity'
      ? NO_CODINGS
      : encoding
          .split(',')
          .map((c) => c.trim().toLowerCase())
          .filter((c) => c !== '' && c !== 'identity');
  // Codings are listed in the order they were applied: undo them from the last.
  for (let i = codings.length - 1; i >= 0; i--) bytes = inflateOne(bytes, codings[i], maxBytes);
  if (codings.length === 0 && bytes.length >= 2 && bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1) {
    bytes = inflateOne(bytes, 'gzip', maxBytes);
  }

  const bom = sniffBomOrUtf16(bytes);
  if (bom) return decodeText(bytes.subarray(bom.skip), bom.label);
  const declared = charsetFromContentType(headers.contentType) ?? charsetFromXmlDecl(bytes);
  if (declared) return decodeText(bytes, declared);
  try {
    return decodeText(bytes, 'utf-8');
  } catch {
    return decodeText(bytes, 'windows-1252');
  }
}
