/**
 * STUN message codec for TR-111 Part 2 (TR-069 Annex G).
 *
 * Two framings share one wire format:
 * - RFC 5389: 20-byte header = type, length, magic cookie 0x2112A442, 96-bit transaction id.
 * - RFC 3489 ("classic STUN", what Annex G specifies): type, length, 128-bit transaction id.
 * A message is 5389-framed when bytes 4..7 hold the magic cookie, else 3489-framed (`flavour`).
 *
 * Attributes: the RFC 3489 set (MAPPED-, RESPONSE-, SOURCE-, CHANGED-ADDRESS, CHANGE-REQUEST,
 * USERNAME, PASSWORD, MESSAGE-INTEGRITY, ERROR-CODE, UNKNOWN-ATTRIBUTES, REFLECTED-FROM), the RFC 5389
 * additions (XOR-MAPPED-ADDRESS, REALM, NONCE, SOFTWARE, ALTERNATE-SERVER, FINGERPRINT) and the TR-111
 * ones: CONNECTION-REQUEST-BINDING (0xC001, value "dslforum.org/TR-111 ") and BINDING-CHANGE (0xC002).
 * Others are kept as `{ type: 'UNKNOWN', code, value }`.
 *
 * MESSAGE-INTEGRITY (HMAC-SHA1) has two flavours:
 * - RFC 5389: over the message up to the attribute, with the header length counting up to the end of
 *   MESSAGE-INTEGRITY (so a FINGERPRINT may follow).
 * - RFC 3489: the same text zero-padded to a multiple of 64 bytes.
 * `verifyMessageIntegrity` accepts either on 3489-framed messages (CPEs differ) and only the 5389 one
 * on 5389-framed messages.
 *
 * Attribute values are padded to 4 bytes as in RFC 5389 (all RFC 3489 attributes are multiples of 4
 * already). The decoder never throws and is bounded (message length, attribute count); the encoder
 * throws only for programming errors (wrong transaction id length, bad address).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { crc32 } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_BYTES = 20;
export const STUN_DEFAULT_PORT = 3478;
/** XOR constant of FINGERPRINT ("STUN"). */
const FINGERPRINT_XOR = 0x5354554e;
const TID_BYTES_5389 = 12;
const TID_BYTES_3489 = 16;
const HMAC_SHA1_BYTES = 20;
const ATTR_HEADER_BYTES = 4;
const FINGERPRINT_VALUE_BYTES = 4;
/** RFC 3489 §11.2.8: the HMAC input is zero-padded to a multiple of 64 bytes. */
const RFC3489_HMAC_BLOCK = 64;
/** Decoding refuses messages with more attributes than this (bounded work on garbage). */
export const STUN_MAX_ATTRIBUTES = 64;
/** Largest STUN message we decode (a UDP payload cannot be larger anyway). */
export const STUN_MAX_MESSAGE_BYTES = 65535;

/** The TR-111 CONNECTION-REQUEST-BINDING value: 20 bytes, note the trailing space. */
export const TR111_CONNECTION_REQUEST_BINDING = 'dslforum.org/TR-111 ';

/** STUN methods. */
export const StunMethod = {
  Binding: 0x001,
  /** RFC 3489 only. */
  SharedSecret: 0x002,
} as const;

/** Attribute type codes. */
export const StunAttributeCode = {
  MAPPED_ADDRESS: 0x0001,
  RESPONSE_ADDRESS: 0x0002,
  CHANGE_REQUEST: 0x0003,
  SOURCE_ADDRESS: 0x0004,
  CHANGED_ADDRESS: 0x0005,
  USERNAME: 0x0006,
  PASSWORD: 0x0007,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REFLECTED_FROM: 0x000b,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
  CONNECTION_REQUEST_BINDING: 0xc001,
  BINDING_CHANGE: 0xc002,
} as const;

/** Attributes below this code are comprehension-required (a server must refuse unknown ones). */
export const STUN_COMPREHENSION_OPTIONAL_MIN = 0x8000;

const CHANGE_IP_FLAG = 0x04;
const CHANGE_PORT_FLAG = 0x02;
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;
const IPV4_BYTES = 4;
const IPV6_BYTES = 16;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export type StunFlavour = 'rfc5389' | 'rfc3489';
export type StunClass = 'request' | 'indication' | 'success' | 'error';

/** An IP address and port as they appear in address attributes. */
export interface TransportAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

type AddressAttributeName =
  | 'MAPPED-ADDRESS'
  | 'XOR-MAPPED-ADDRESS'
  | 'RESPONSE-ADDRESS'
  | 'SOURCE-ADDRESS'
  | 'CHANGED-ADDRESS'
  | 'REFLECTED-FROM'
  | 'ALTERNATE-SERVER';
type TextAttributeName = 'USERNAME' | 'REALM' | 'NONCE' | 'SOFTWARE' | 'CONNECTION-REQUEST-BINDING';

export type StunAttribute =
  | { type: AddressAttributeName; value: TransportAddress }
  | { type: TextAttributeName; value: string }
  | { type: 'CHANGE-REQUEST'; changeIp: boolean; changePort: boolean }
  | { type: 'PASSWORD'; value: Buffer }
  | { type: 'MESSAGE-INTEGRITY'; value: Buffer }
  | { type: 'FINGERPRINT'; value: number }
  | { type: 'ERROR-CODE'; code: number; reason: string }
  | { type: 'UNKNOWN-ATTRIBUTES'; value: number[] }
  | { type: 'BINDING-CHANGE' }
  | { type: 'UNKNOWN'; code: number; value: Buffer };

export type StunAttributeType = StunAttribute['type'];
/** The attribute shape for one type name (intersection, because several names share a shape). */
export type StunAttributeOf<T extends StunAttributeType> = StunAttribute & { type: T };

export interface StunMessage {
  flavour: StunFlavour;
  method: number;
  class: StunClass;
  /** 12 bytes (rfc5389) or 16 bytes (rfc3489). */
  transactionId: Buffer;
  attributes: StunAttribute[];
}

export type StunDecodeErrorCode = 'too-short' | 'too-long' | 'not-stun' | 'bad-length' | 'bad-attribute' | 'too-many-attributes' | 'bad-fingerprint';

/** Why a buffer is not a decodable STUN message. */
export interface StunDecodeError {
  error: StunDecodeErrorCode;
  message: string;
}

/** Narrows a decode result. */
export function isStunDecodeError(x: StunMessage | StunDecodeError): x is StunDecodeError {
  return 'error' in x;
}

const NAME_BY_CODE: ReadonlyMap<number, Exclude<StunAttributeType, 'UNKNOWN'>> = new Map([
  [StunAttributeCode.MAPPED_ADDRESS, 'MAPPED-ADDRESS'],
  [StunAttributeCode.RESPONSE_ADDRESS, 'RESPONSE-ADDRESS'],
  [StunAttributeCode.CHANGE_REQUEST, 'CHANGE-REQUEST'],
  [StunAttributeCode.SOURCE_ADDRESS, 'SOURCE-ADDRESS'],
  [StunAttributeCode.CHANGED_ADDRESS, 'CHANGED-ADDRESS'],
  [StunAttributeCode.USERNAME, 'USERNAME'],
  [StunAttributeCode.PASSWORD, 'PASSWORD'],
  [StunAttributeCode.MESSAGE_INTEGRITY, 'MESSAGE-INTEGRITY'],
  [StunAttributeCode.ERROR_CODE, 'ERROR-CODE'],
  [StunAttributeCode.UNKNOWN_ATTRIBUTES, 'UNKNOWN-ATTRIBUTES'],
  [StunAttributeCode.REFLECTED_FROM, 'REFLECTED-FROM'],
  [StunAttributeCode.REALM, 'REALM'],
  [StunAttributeCode.NONCE, 'NONCE'],
  [StunAttributeCode.XOR_MAPPED_ADDRESS, 'XOR-MAPPED-ADDRESS'],
  [StunAttributeCode.SOFTWARE, 'SOFTWARE'],
  [StunAttributeCode.ALTERNATE_SERVER, 'ALTERNATE-SERVER'],
  [StunAttributeCode.FINGERPRINT, 'FINGERPRINT'],
  [StunAttributeCode.CONNECTION_REQUEST_BINDING, 'CONNECTION-REQUEST-BINDING'],
  [StunAttributeCode.BINDING_CHANGE, 'BINDING-CHANGE'],
] as const);
const CODE_BY_NAME: ReadonlyMap<string, number> = new Map([...NAME_BY_CODE].map(([code, name]) => [name, code]));

/** The numeric type code of an attribute. */
export function stunAttributeCode(attr: StunAttribute): number {
  return attr.type === 'UNKNOWN' ? attr.code : (CODE_BY_NAME.get(attr.type) as number);
}

// ---------------------------------------------------------------------------------------------
// Message type <-> method/class (RFC 5389 §6; the RFC 3489 codes fit the same layout)
// ---------------------------------------------------------------------------------------------

const CLASS_BITS: Record<StunClass, number> = { request: 0b00, indication: 0b01, success: 0b10, error: 0b11 };
const CLASS_BY_BITS: readonly StunClass[] = ['request', 'indication', 'success', 'error'];
const MAX_METHOD = 0xfff;

function encodeType(method: number, cls: StunClass): number {
  const c = CLASS_BITS[cls];
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((c & 0b10) << 7) | ((c & 0b01) << 4);
}

function decodeType(type: number): { method: number; class: StunClass } {
  const method = ((type >> 2) & 0xf80) | ((type >> 1) & 0x070) | (type & 0x00f);
  const c = ((type >> 7) & 0b10) | ((type >> 4) & 0b01);
  return { method, class: CLASS_BY_BITS[c] };
}

// ---------------------------------------------------------------------------------------------
// IP address text <-> bytes
// ---------------------------------------------------------------------------------------------

function ipv4ToBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6ToBytes(ip: string): Buffer {
  let text = ip;
  const out = Buffer.alloc(IPV6_BYTES);
  // An embedded dotted quad ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4ToBytes(v4[1]);
    text = `${text.slice(0, v4.index)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [headText, tailText] = text.includes('::') ? text.split('::') : [text, undefined];
  const head = headText === '' ? [] : headText.split(':');
  const tail = tailText === undefined || tailText === '' ? [] : tailText.split(':');
  const groups = tailText === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** RFC 5952 text: lower-case, leading zeros dropped, the longest run (>= 2) of zero groups as "::". */
function bytesToIpv6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < IPV6_BYTES; i += 2) groups.push(b.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function addressBytes(a: TransportAddress): Buffer {
  if (a.family === 'IPv4') {
    if (!isIPv4(a.address)) throw new TypeError(`not an IPv4 address: ${a.address}`);
    return ipv4ToBytes(a.address);
  }
  if (!isIPv6(a.address)) throw new TypeError(`not an IPv6 address: ${a.address}`);
  return ipv6ToBytes(a.address);
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const MAX_PORT = 0xffff;

function encodeAddressValue(a: TransportAddress, xorKey: Buffer | null): Buffer {
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > MAX_PORT) throw new TypeError(`bad port ${a.port}`);
  const ip = addressBytes(a);
  const out = Buffer.alloc(ATTR_HEADER_BYTES + ip.length);
  out[1] = a.family === 'IPv4' ? FAMILY_IPV4 : FAMILY_IPV6;
  out.writeUInt16BE(xorKey ? a.port ^ xorKey.readUInt16BE(0) : a.port, 2);
  for (let i = 0; i < ip.length; i++) out[ATTR_HEADER_BYTES + i] = xorKey ? ip[i] ^ xorKey[i] : ip[i];
  return out;
}

/** Bytes of one attribute value (unpadded). */
function encodeValue(attr: StunAttribute, flavour: StunFlavour, xorKey: Buffer): Buffer {
  switch (attr.type) {
    case 'MAPPED-ADDRESS':
    case 'RESPONSE-ADDRESS':
    case 'SOURCE-ADDRESS':
    case 'CHANGED-ADDRESS':
    case 'REFLECTED-FROM':
    case 'ALTERNATE-SERVER':
      return encodeAddressValue(attr.value, null);
    case 'XOR-MAPPED-ADDRESS':
      return encodeAddressValue(attr.value, xorKey);
    case 'USERNAME':
    case 'REALM':
    case 'NONCE':
    case 'SOFTWARE':
    case 'CONNECTION-REQUEST-BINDING':
      return Buffer.from(attr.value, 'utf8');
    case 'CHANGE-REQUEST': {
      const b = Buffer.alloc(4);
      b.writeUInt32BE((attr.changeIp ? CHANGE_IP_FLAG : 0) | (attr.changePort ? CHANGE_PORT_FLAG : 0));
      return b;
    }
    case 'PASSWORD':
    case 'UNKNOWN':
      return attr.value;
    case 'MESSAGE-INTEGRITY':
    case 'FINGERPRINT':
      throw new TypeError('MESSAGE-INTEGRITY and FINGERPRINT are computed by encodeStunMessage');
    case 'ERROR-CODE': {
      const errorClassDivisor = 100;
      const cls = Math.floor(attr.code / errorClassDivisor);
      const num = attr.code % errorClassDivisor;
      if (!Number.isInteger(attr.code) || cls < 3 || cls > 6) throw new TypeError(`bad STUN error code ${attr.code}`);
      const reason = Buffer.from(attr.reason, 'utf8');
      const b = Buffer.alloc(4 + reason.length);
      b[2] = cls;
      b[3] = num;
      reason.copy(b, 4);
      return b;
    }
    case 'UNKNOWN-ATTRIBUTES': {
      // RFC 3489 §11.2.10 pads an odd list by repeating an entry; RFC 5389 pads with zero bytes.
      const list = flavour === 'rfc3489' && attr.value.length % 2 === 1 ? [...attr.value, attr.value[attr.value.length - 1]] : attr.value;
      const b = Buffer.alloc(list.length * 2);
      list.forEach((code, i) => b.writeUInt16BE(code, i * 2));
      return b;
    }
    case 'BINDING-CHANGE':
      return Buffer.alloc(0);
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function attributeBytes(code: number, value: Buffer): Buffer {
  const out = Buffer.alloc(ATTR_HEADER_BYTES + pad4(value.length));
  out.writeUInt16BE(code, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, ATTR_HEADER_BYTES);
  return out;
}

export interface StunEncodeOptions {
  /**
   * Append MESSAGE-INTEGRITY keyed with this (short-term: the password; long-term: see `longTermKey`).
   */
  integrityKey?: string | Buffer;
  /** HMAC input flavour; default the message's flavour. */
  integrityFlavour?: StunFlavour;
  /** Append FINGERPRINT (meaningful for rfc5389 framing). */
  fingerprint?: boolean;
}

/**
 * Encodes a message. MESSAGE-INTEGRITY / FINGERPRINT entries in `msg.attributes` are ignored:
 * they are computed from `opts` and appended last, in that order.
 * @returns the datagram bytes.
 * @throws TypeError for a transaction id of the wrong length for the flavour, a method above 0xFFF,
 *         an invalid address or error code, or a message longer than 65535 bytes.
 */
export function encodeStunMessage(msg: StunMessage, opts: StunEncodeOptions = {}): Buffer {
  const tidBytes = msg.flavour === 'rfc5389' ? TID_BYTES_5389 : TID_BYTES_3489;
  if (msg.transactionId.length !== tidBytes) throw new TypeError(`${msg.flavour} needs a ${tidBytes}-byte transaction id`);
  if (!Number.isInteger(msg.method) || msg.method < 0 || msg.method > MAX_METHOD) throw new TypeError(`bad method ${msg.method}`);
  const header = Buffer.alloc(STUN_HEADER_BYTES);
  header.writeUInt16BE(encodeType(msg.method, msg.class), 0);
  if (msg.flavour === 'rfc5389') {
    header.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
    msg.transactionId.copy(header, 8);
  } else {
    msg.transactionId.copy(header, 4);
  }
  const xorKey = header.subarray(4, STUN_HEADER_BYTES);
  const parts: Buffer[] = [header];
  for (const attr of msg.attributes) {
    if (attr.type === 'MESSAGE-INTEGRITY' || attr.type === 'FINGERPRINT') continue;
    parts.push(attributeBytes(stunAttributeCode(attr), encodeValue(attr, msg.flavour, xorKey)));
  }
  let buf = Buffer.concat(parts);
  if (opts.integrityKey !== undefined) {
    const miOffset = buf.length;
    buf = Buffer.concat([buf, attributeBytes(StunAttributeCode.MESSAGE_INTEGRITY, Buffer.alloc(HMAC_SHA1_BYTES))]);
    const hmac = integrityHmac(buf, miOffset, opts.integrityKey, opts.integrityFlavour ?? msg.flavour);
    hmac.copy(buf, miOffset + ATTR_HEADER_BYTES);
  }
  if (opts.fingerprint) {
    const fpOffset = buf.length;
    buf = Buffer.concat([buf, attributeBytes(StunAttributeCode.FINGERPRINT, Buffer.alloc(FINGERPRINT_VALUE_BYTES))]);
    buf.writeUInt16BE(buf.length - STUN_HEADER_BYTES, 2);
    buf.writeUInt32BE(fingerprintOf(buf, fpOffset), fpOffset + ATTR_HEADER_BYTES);
  }
  if (buf.length > STUN_MAX_MESSAGE_BYTES) throw new TypeError('STUN message too long');
  buf.writeUInt16BE(buf.length - STUN_HEADER_BYTES, 2);
  return buf;
}

/**
 * HMAC of the message before the MESSAGE-INTEGRITY attribute at `miOffset`, with the header length
 * pointing at the end of that attribute. Does not modify `buf`.
 */
function integrityHmac(buf: Buffer, miOffset: number, key: string | Buffer, flavour: StunFlavour): Buffer {
  const text = Buffer.from(buf.subarray(0, miOffset));
  text.writeUInt16BE(miOffset + ATTR_HEADER_BYTES + HMAC_SHA1_BYTES - STUN_HEADER_BYTES, 2);
  const input = flavour === 'rfc3489' ? Buffer.concat([text, Buffer.alloc(pad64(text.length) - text.length)]) : text;
  return createHmac('sha1', key).update(input).digest();
}

function pad64(n: number): number {
  return Math.ceil(n / RFC3489_HMAC_BLOCK) * RFC3489_HMAC_BLOCK;
}

/** CRC-32 of the message before FINGERPRINT at `fpOffset` (header length already final), XOR "STUN". */
function fingerprintOf(buf: Buffer, fpOffset: number): number {
  return (crc32(buf.subarray(0, fpOffset)) ^ FINGERPRINT_XOR) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

function derr(error: StunDecodeErrorCode, message: string): StunDecodeError {
  return { error, message };
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Quick test used to demultiplex a shared socket: right size, top two bits zero, length field
 * consistent with the datagram and a multiple of 4. Does not decode attributes.
 */
export function looksLikeStun(data: Uint8Array): boolean {
  if (data.byteLength < STUN_HEADER_BYTES || data.byteLength > STUN_MAX_MESSAGE_BYTES) return false;
  if ((data[0] & 0xc0) !== 0) return false;
  const len = (data[2] << 8) | data[3];
  return len % 4 === 0 && len + STUN_HEADER_BYTES === data.byteLength;
}

function decodeAddress(v: Buffer, xorKey: Buffer | null): TransportAddress | null {
  if (v.length < ATTR_HEADER_BYTES) return null;
  const family = v[1];
  const ipLen = family === FAMILY_IPV4 ? IPV4_BYTES : family === FAMILY_IPV6 ? IPV6_BYTES : 0;
  if (ipLen === 0 || v.length !== ATTR_HEADER_BYTES + ipLen) return null;
  const port = xorKey ? v.readUInt16BE(2) ^ xorKey.readUInt16BE(0) : v.readUInt16BE(2);
  const ip = Buffer.alloc(ipLen);
  for (let i = 0; i < ipLen; i++) ip[i] = xorKey ? v[ATTR_HEADER_BYTES + i] ^ xorKey[i] : v[ATTR_HEADER_BYTES + i];
  return family === FAMILY_IPV4 ? { family: 'IPv4', address: [...ip].join('.'), port } : { family: 'IPv6', address: bytesToIpv6(ip), port };
}

function decodeAttribute(code: number, v: Buffer, xorKey: Buffer): StunAttribute | string {
  const name = NAME_BY_CODE.get(code);
  switch (name) {
    case undefined:
      return { type: 'UNKNOWN', code, value: Buffer.from(v) };
    case 'MAPPED-ADDRESS':
    case 'RESPONSE-ADDRESS':
    case 'SOURCE-ADDRESS':
    case 'CHANGED-ADDRESS':
    case 'REFLECTED-FROM':
    case 'ALTERNATE-SERVER':
    case 'XOR-MAPPED-ADDRESS': {
      const value = decodeAddress(v, name === 'XOR-MAPPED-ADDRESS' ? xorKey : null);
      return value ? { type: name, value } : `malformed ${name}`;
    }
    case 'USERNAME':
    case 'REALM':
    case 'NONCE':
    case 'SOFTWARE':
    case 'CONNECTION-REQUEST-BINDING':
      return { type: name, value: v.toString('utf8') };
    case 'CHANGE-REQUEST': {
      if (v.length !== 4) return 'malformed CHANGE-REQUEST';
      const flags = v.readUInt32BE(0);
      return { type: name, changeIp: (flags & CHANGE_IP_FLAG) !== 0, changePort: (flags & CHANGE_PORT_FLAG) !== 0 };
    }
    case 'PASSWORD':
      return { type: name, value: Buffer.from(v) };
    case 'MESSAGE-INTEGRITY':
      return v.length === HMAC_SHA1_BYTES ? { type: name, value: Buffer.from(v) } : 'malformed MESSAGE-INTEGRITY';
    case 'FINGERPRINT':
      return v.length === FINGERPRINT_VALUE_BYTES ? { type: name, value: v.readUInt32BE(0) } : 'malformed FINGERPRINT';
    case 'ERROR-CODE': {
      if (v.length < 4) return 'malformed ERROR-CODE';
      const cls = v[2] & 0x07;
      const num = v[3];
      const maxNumber = 99;
      if (num > maxNumber) return 'malformed ERROR-CODE';
      return { type: name, code: cls * 100 + num, reason: v.subarray(4).toString('utf8') };
    }
    case 'UNKNOWN-ATTRIBUTES': {
      if (v.length % 2 !== 0) return 'malformed UNKNOWN-ATTRIBUTES';
      const value: number[] = [];
      for (let i = 0; i < v.length; i += 2) value.push(v.readUInt16BE(i));
      return { type: name, value };
    }
    case 'BINDING-CHANGE':
      return { type: name };
  }
}

/**
 * Decodes one STUN message (one datagram). Padding bytes may hold anything. A FINGERPRINT, when
 * present, must be the last attribute and must match.
 * @returns the message, or a StunDecodeError for anything that is not a well-formed STUN message;
 *          never throws.
 */
export function decodeStunMessage(data: Uint8Array): StunMessage | StunDecodeError {
  if (!(data instanceof Uint8Array)) return derr('not-stun', 'not a byte array');
  const buf = toBuffer(data);
  if (buf.length < STUN_HEADER_BYTES) return derr('too-short', `${buf.length} bytes`);
  if (buf.length > STUN_MAX_MESSAGE_BYTES) return derr('too-long', `${buf.length} bytes`);
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) return derr('not-stun', 'top two bits of the type are not zero');
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0) return derr('bad-length', 'length is not a multiple of 4');
  if (length + STUN_HEADER_BYTES !== buf.length) return derr('bad-length', `length field ${length} but ${buf.length - STUN_HEADER_BYTES} bytes follow the header`);
  const flavour: StunFlavour = buf.readUInt32BE(4) === STUN_MAGIC_COOKIE ? 'rfc5389' : 'rfc3489';
  const transactionId = Buffer.from(buf.subarray(flavour === 'rfc5389' ? 8 : 4, STUN_HEADER_BYTES));
  const xorKey = buf.subarray(4, STUN_HEADER_BYTES);
  const attributes: StunAttribute[] = [];
  let offset = STUN_HEADER_BYTES;
  while (offset < buf.length) {
    if (attributes.length >= STUN_MAX_ATTRIBUTES) return derr('too-many-attributes', `more than ${STUN_MAX_ATTRIBUTES} attributes`);
    if (offset + ATTR_HEADER_BYTES > buf.length) return derr('bad-attribute', 'truncated attribute header');
    const code = buf.readUInt16BE(offset);
    const len = buf.readUInt16BE(offset + 2);
    const valueStart = offset + ATTR_HEADER_BYTES;
    if (valueStart + pad4(len) > buf.length) return derr('bad-attribute', `attribute 0x${code.toString(16)} overruns the message`);
    const attr = decodeAttribute(code, buf.subarray(valueStart, valueStart + len), xorKey);
    if (typeof attr === 'string') return derr('bad-attribute', attr);
    if (attr.type === 'FINGERPRINT') {
      if (valueStart + pad4(len) !== buf.length) return derr('bad-fingerprint', 'FINGERPRINT is not the last attribute');
      if (fingerprintOf(buf, offset) !== attr.value) return derr('bad-fingerprint', 'FINGERPRINT does not match');
    }
    attributes.push(attr);
    offset = valueStart + pad4(len);
  }
  const { method, class: cls } = decodeType(type);
  return { flavour, method, class: cls, transactionId, attributes };
}

// ---------------------------------------------------------------------------------------------
// Integrity
// ---------------------------------------------------------------------------------------------

/** Finds the offset of the first MESSAGE-INTEGRITY attribute by walking the attribute list. */
function findIntegrityOffset(buf: Buffer): number | null {
  let offset = STUN_HEADER_BYTES;
  for (let n = 0; n < STUN_MAX_ATTRIBUTES && offset + ATTR_HEADER_BYTES <= buf.length; n++) {
    const code = buf.readUInt16BE(offset);
    const len = buf.readUInt16BE(offset + 2);
    if (code === StunAttributeCode.MESSAGE_INTEGRITY) {
      return len === HMAC_SHA1_BYTES && offset + ATTR_HEADER_BYTES + HMAC_SHA1_BYTES <= buf.length ? offset : null;
    }
    offset += ATTR_HEADER_BYTES + pad4(len);
  }
  return null;
}

/**
 * Which MESSAGE-INTEGRITY flavour verifies with `key`.
 * @returns 'rfc5389' or 'rfc3489' (the latter only for 3489-framed messages), or null when the
 *          message has no valid MESSAGE-INTEGRITY for this key; never throws.
 */
export function messageIntegrityFlavour(data: Uint8Array, key: string | Buffer): StunFlavour | null {
  const buf = toBuffer(data);
  if (!looksLikeStun(buf)) return null;
  const mi = findIntegrityOffset(buf);
  if (mi === null) return null;
  const got = buf.subarray(mi + ATTR_HEADER_BYTES, mi + ATTR_HEADER_BYTES + HMAC_SHA1_BYTES);
  if (timingSafeEqual(integrityHmac(buf, mi, key, 'rfc5389'), got)) return 'rfc5389';
  const framed3489 = buf.readUInt32BE(4) !== STUN_MAGIC_COOKIE;
  if (framed3489 && timingSafeEqual(integrityHmac(buf, mi, key, 'rfc3489'), got)) return 'rfc3489';
  return null;
}

/**
 * Checks MESSAGE-INTEGRITY of a raw message (RFC 5389 computation; on 3489-framed messages the
 * RFC 3489 64-byte-padded computation is accepted too).
 * @returns true when present and valid for `key`; never throws.
 */
export function verifyMessageIntegrity(data: Uint8Array, key: string | Buffer): boolean {
  return messageIntegrityFlavour(data, key) !== null;
}

/** RFC 5389 §15.4 long-term credential key: MD5(username ":" realm ":" password) (SASLprep not applied). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A fresh random transaction id of the right size for the flavour. */
export function createTransactionId(flavour: StunFlavour): Buffer {
  return randomBytes(flavour === 'rfc5389' ? TID_BYTES_5389 : TID_BYTES_3489);
}

/** The first attribute of the given type, typed. */
export function findAttribute<T extends StunAttributeType>(msg: StunMessage, type: T): StunAttributeOf<T> | undefined {
  return msg.attributes.find((a): a is StunAttributeOf<T> => a.type === type);
}

/** The mapped address of a response: XOR-MAPPED-ADDRESS if present, else MAPPED-ADDRESS. */
export function mappedAddress(msg: StunMessage): TransportAddress | undefined {
  return findAttribute(msg, 'XOR-MAPPED-ADDRESS')?.value ?? findAttribute(msg, 'MAPPED-ADDRESS')?.value;
}

/** Comprehension-required attribute codes (< 0x8000) this codec does not know. */
export function unknownRequiredAttributes(msg: StunMessage): number[] {
  return msg.attributes.filter((a): a is StunAttributeOf<'UNKNOWN'> => a.type === 'UNKNOWN' && a.code < STUN_COMPREHENSION_OPTIONAL_MIN).map((a) => a.code);
}

export interface BindingRequestOptions {
  /** Default 'rfc3489' (what TR-111 specifies). */
  flavour?: StunFlavour;
  transactionId?: Buffer;
  username?: string;
  /** Add CONNECTION-REQUEST-BINDING (TR-111). */
  connectionRequestBinding?: boolean;
  /** Add BINDING-CHANGE (TR-111): the public binding changed since the last report. */
  bindingChange?: boolean;
  changeRequest?: { changeIp: boolean; changePort: boolean };
  responseAddress?: TransportAddress;
  software?: string;
}

/**
 * Builds a Binding Request message (encode it with `encodeStunMessage`, passing `integrityKey` to
 * add MESSAGE-INTEGRITY).
 * @returns the message; throws nothing.
 */
export function buildBindingRequest(opts: BindingRequestOptions = {}): StunMessage {
  const flavour = opts.flavour ?? 'rfc3489';
  const attributes: StunAttribute[] = [];
  if (opts.username !== undefined) attributes.push({ type: 'USERNAME', value: opts.username });
  if (opts.software !== undefined) attributes.push({ type: 'SOFTWARE', value: opts.software });
  if (opts.changeRequest) attributes.push({ type: 'CHANGE-REQUEST', ...opts.changeRequest });
  if (opts.responseAddress) attributes.push({ type: 'RESPONSE-ADDRESS', value: opts.responseAddress });
  if (opts.connectionRequestBinding) attributes.push({ type: 'CONNECTION-REQUEST-BINDING', value: TR111_CONNECTION_REQUEST_BINDING });
  if (opts.bindingChange) attributes.push({ type: 'BINDING-CHANGE' });
  return {
    flavour,
    method: StunMethod.Binding,
    class: 'request',
    transactionId: opts.transactionId ?? createTransactionId(flavour),
    attributes,
  };
}

export interface BindingResponseOptions {
  /** Our own address (RFC 3489 SOURCE-ADDRESS). */
  source?: TransportAddress;
  /** Our alternate address (RFC 3489 CHANGED-ADDRESS). */
  changed?: TransportAddress;
  /** Where the request came from when answering to RESPONSE-ADDRESS (RFC 3489 REFLECTED-FROM). */
  reflectedFrom?: TransportAddress;
  software?: string;
}

/**
 * Builds the success response to `request`, same flavour and transaction id. rfc5389: XOR-MAPPED-ADDRESS
 * plus MAPPED-ADDRESS for old clients; rfc3489: MAPPED-ADDRESS plus SOURCE/CHANGED-ADDRESS when given.
 * @returns the message; throws nothing.
 */
export function buildBindingResponse(request: StunMessage, mapped: TransportAddress, opts: BindingResponseOptions = {}): StunMessage {
  const attributes: StunAttribute[] = [];
  if (request.flavour === 'rfc5389') attributes.push({ type: 'XOR-MAPPED-ADDRESS', value: mapped });
  attributes.push({ type: 'MAPPED-ADDRESS', value: mapped });
  if (opts.source) attributes.push({ type: 'SOURCE-ADDRESS', value: opts.source });
  if (opts.changed) attributes.push({ type: 'CHANGED-ADDRESS', value: opts.changed });
  if (opts.reflectedFrom) attributes.push({ type: 'REFLECTED-FROM', value: opts.reflectedFrom });
  if (opts.software !== undefined) attributes.push({ type: 'SOFTWARE', value: opts.software });
  return { flavour: request.flavour, method: request.method, class: 'success', transactionId: request.transactionId, attributes };
}

/**
 * Builds an error response to `request` (e.g. 400 Bad Request, 401 Unauthorized, 420 Unknown Attribute
 * with the unknown codes).
 * @returns the message; encoding throws TypeError for a code outside 300..699.
 */
export function buildErrorResponse(request: StunMessage, code: number, reason: string, unknownAttributes?: number[]): StunMessage {
  const attributes: StunAttribute[] = [{ type: 'ERROR-CODE', code, reason }];
  if (unknownAttributes && unknownAttributes.length > 0) attributes.push({ type: 'UNKNOWN-ATTRIBUTES', value: unknownAttributes });
  return { flavour: request.flavour, method: request.method, class: 'error', transactionId: request.transactionId, attributes };
}
