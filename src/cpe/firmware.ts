/**
 * The firmware image format of Switchboard's simulated Grandstream devices ("SBFW", version 1).
 *
 * Layout (all integers big-endian):
 *
 * | offset      | size | content                                                              |
 * |-------------|------|----------------------------------------------------------------------|
 * | 0           | 4    | magic `SBFW` (ASCII)                                                 |
 * | 4           | 4    | H = length of the header in bytes                                    |
 * | 8           | H    | header, UTF-8 JSON `{"magic":"SBFW","format":1,"model","version","size","sha256"}` |
 * | 8+H         | size | payload (opaque bytes: the "firmware")                               |
 * | 8+H+size    | 64   | Ed25519 signature over bytes [0, 8+H+size)                           |
 *
 * `model` is the device model it is built for (e.g. "GXP2140", compared case-insensitively with the
 * device's ProductClass), `version` the SoftwareVersion the device reports after installing it,
 * `size` the payload length, `sha256` the lower-case hex SHA-256 of the payload.
 *
 * Every simulated device trusts the project's firmware signing key below. Its private half is
 * published on purpose: these are simulated devices and anyone testing them must be able to make
 * images. A deployment that wants its own trust root passes another key pair.
 *
 * Verification order and the TransferComplete fault each failure gives (TR-069 fault codes):
 *
 * | check                                                   | fault | name                               |
 * |---------------------------------------------------------|-------|------------------------------------|
 * | file missing / HTTP error (404, 403, 5xx)               | 9016  | unable to access file              |
 * | received byte count differs from the Download FileSize, | 9017  | unable to complete download        |
 * | or from the length the image header announces           |       |                                    |
 * | bad magic, unreadable header, SHA-256 mismatch          | 9018  | file corrupted                     |
 * | signature does not verify with the device's key         | 9019  | file authentication failure        |
 * | image built for another model                           | 9010  | file transfer failure (not for us) |
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export const FIRMWARE_MAGIC = 'SBFW';
export const FIRMWARE_FORMAT = 1;
/** Bytes before the header: magic (4) + header length (4). */
const PREAMBLE_BYTES = 8;
/** Ed25519 signatures are 64 bytes. */
export const SIGNATURE_BYTES = 64;
/** Refuse absurd headers before parsing them. */
const MAX_HEADER_BYTES = 4096;

/**
 * The project's simulated-device firmware signing key (Ed25519, JWK). Not a secret: see the file
 * comment. Devices verify with the public part (`x`).
 */
export const SIMULATED_FIRMWARE_KEY_JWK = {
  kty: 'OKP',
  crv: 'Ed25519',
  d: 'e7nqL78CyX_WAvVlNki3Pli0N90eoff4tuU_CPIpYXU',
  x: 'OsYnsjDhv_JQCvAezvN4AL6HtyhR2UHcKqnuoViLDYo',
} as const;

let defaultPrivate: KeyObject | undefined;
let defaultPublic: KeyObject | undefined;

/** The default signing key (private). */
export function defaultFirmwareSigningKey(): KeyObject {
  defaultPrivate ??= createPrivateKey({ key: { ...SIMULATED_FIRMWARE_KEY_JWK }, format: 'jwk' });
  return defaultPrivate;
}

/** The default verification key (public) every simulated device trusts. */
export function defaultFirmwareVerifyKey(): KeyObject {
  defaultPublic ??= createPublicKey({
    key: { kty: SIMULATED_FIRMWARE_KEY_JWK.kty, crv: SIMULATED_FIRMWARE_KEY_JWK.crv, x: SIMULATED_FIRMWARE_KEY_JWK.x },
    format: 'jwk',
  });
  return defaultPublic;
}

export interface FirmwareHeader {
  magic: typeof FIRMWARE_MAGIC;
  format: typeof FIRMWARE_FORMAT;
  model: string;
  version: string;
  size: number;
  sha256: string;
}

export interface BuildFirmwareOptions {
  /** Model the image is for, e.g. "GXP2140". */
  model: string;
  /** SoftwareVersion after installing, e.g. "1.0.11.3". */
  version: string;
  /** The firmware bytes (default: a short text naming model and version). */
  payload?: Uint8Array | string;
  /** Ed25519 private key (KeyObject or PEM); default: the project's simulated-device key. */
  key?: KeyObject | string;
}

/**
 * Builds a signed firmware image. Returns the image bytes.
 * Throws TypeError if model or version is empty or the key is not an Ed25519 private key.
 */
export function buildFirmwareImage(opts: BuildFirmwareOptions): Buffer {
  if (!opts.model || !opts.version) throw new TypeError('buildFirmwareImage: model and version are required');
  const payload =
    opts.payload === undefined
      ? Buffer.from(`simulated firmware ${opts.model} ${opts.version}\n`)
      : typeof opts.payload === 'string'
        ? Buffer.from(opts.payload)
        : Buffer.from(opts.payload);
  const header: FirmwareHeader = {
    magic: FIRMWARE_MAGIC,
    format: FIRMWARE_FORMAT,
    model: opts.model,
    version: opts.version,
    size: payload.length,
    sha256: createHash('sha256').update(payload).digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(PREAMBLE_BYTES);
  pre.write(FIRMWARE_MAGIC, 0, 'ascii');
  pre.writeUInt32BE(headerBytes.length, 4);
  const signed = Buffer.concat([pre, headerBytes, payload]);
  const key = opts.key === undefined ? defaultFirmwareSigningKey() : typeof opts.key === 'string' ? createPrivateKey(opts.key) : opts.key;
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('buildFirmwareImage: key must be an Ed25519 private key');
  const signature = sign(null, signed, key);
  return Buffer.concat([signed, signature]);
}

/** Why an image was refused; each maps to one TransferComplete fault code. */
export type FirmwareProblem = 'size' | 'corrupted' | 'signature' | 'wrong-model';

/** TransferComplete fault code for each firmware problem (see the table in the file comment). */
export const FIRMWARE_FAULT_CODES: Record<FirmwareProblem, number> = {
  size: 9017,
  corrupted: 9018,
  signature: 9019,
  'wrong-model': 9010,
};

export class FirmwareError extends Error {
  readonly faultCode: number;
  constructor(
    readonly problem: FirmwareProblem,
    message: string,
  ) {
    super(message);
    this.name = 'FirmwareError';
    this.faultCode = FIRMWARE_FAULT_CODES[problem];
  }
}

export interface VerifiedFirmware {
  header: FirmwareHeader;
  payload: Buffer;
}

export interface VerifyFirmwareOptions {
  /** The device's model (ProductClass); the image's model must match, case-insensitively. */
  model: string;
  /** Public key to verify with; default: the project's simulated-device key. */
  publicKey?: KeyObject;
  /** The Download's FileSize (0 = unknown): when set, the image must be exactly that long. */
  expectedFileSize?: number;
}

/**
 * Parses and verifies a firmware image. Returns the header and payload.
 * Throws FirmwareError ('size' | 'corrupted' | 'signature' | 'wrong-model') when the image must be refused.
 */
export function verifyFirmwareImage(image: Uint8Array, opts: VerifyFirmwareOptions): VerifiedFirmware {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (opts.expectedFileSize && opts.expectedFileSize > 0 && buf.length !== opts.expectedFileSize) {
    throw new FirmwareError('size', `received ${buf.length} bytes, Download announced FileSize ${opts.expectedFileSize}`);
  }
  if (buf.length < PREAMBLE_BYTES || buf.toString('ascii', 0, 4) !== FIRMWARE_MAGIC) {
    throw new FirmwareError('corrupted', 'not a firmware image (bad magic)');
  }
  const headerLen = buf.readUInt32BE(4);
  if (headerLen === 0 || headerLen > MAX_HEADER_BYTES || PREAMBLE_BYTES + headerLen > buf.length) {
    throw new FirmwareError('corrupted', `bad header length ${headerLen}`);
  }
  const header = parseHeader(buf.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLen));
  const payloadStart = PREAMBLE_BYTES + headerLen;
  const expectedTotal = payloadStart + header.size + SIGNATURE_BYTES;
  if (buf.length !== expectedTotal) {
    throw new FirmwareError('size', `image is ${buf.length} bytes, header announces ${expectedTotal}`);
  }
  const payload = buf.subarray(payloadStart, payloadStart + header.size);
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) {
    throw new FirmwareError('corrupted', 'payload SHA-256 does not match the header');
  }
  const signature = buf.subarray(payloadStart + header.size);
  const ok = verify(null, buf.subarray(0, payloadStart + header.size), opts.publicKey ?? defaultFirmwareVerifyKey(), signature);
  if (!ok) throw new FirmwareError('signature', 'image signature does not verify with the device key');
  if (header.model.toLowerCase() !== opts.model.toLowerCase()) {
    throw new FirmwareError('wrong-model', `image is for model ${header.model}, this device is ${opts.model}`);
  }
  return { header, payload: Buffer.from(payload) };
}

function parseHeader(bytes: Buffer): FirmwareHeader {
  let h: unknown;
  try {
    h = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new FirmwareError('corrupted', 'image header is not JSON');
  }
  const o = h as Partial<FirmwareHeader> | null;
  if (
    !o ||
    typeof o !== 'object' ||
    o.magic !== FIRMWARE_MAGIC ||
    o.format !== FIRMWARE_FORMAT ||
    typeof o.model !== 'string' ||
    !o.model ||
    typeof o.version !== 'string' ||
    !o.version ||
    o.version.length > 64 ||
    typeof o.size !== 'number' ||
    !Number.isSafeInteger(o.size) ||
    o.size < 0 ||
    typeof o.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(o.sha256)
  ) {
    throw new FirmwareError('corrupted', 'image header is missing fields or has bad values');
  }
  return o as FirmwareHeader;
}
