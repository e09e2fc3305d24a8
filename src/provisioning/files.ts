/**
 * The file library: firmware images and configuration files the ACS hands to devices.
 *
 * Content is stored once per SHA-256 under `<dataDir>/files/<first two hex>/<sha256>` (content
 * addressed: two records of the same image share the bytes, and a record's bytes can never change
 * behind its ETag); metadata lives in the provisioning store. An upload streams to a temporary file
 * while hashing, then is renamed into place, so a crash or a too-large upload never leaves a
 * half-written file under a content name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import type { FileAuth, FileRecord, NewFileRecord, ProvisioningStore } from '../store/provisioning/types.ts';

/** Default largest upload (firmware images of these phones are tens of MiB). */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;
export const FIRMWARE_FILE_TYPE = '1 Firmware Upgrade Image';
export const CONFIG_FILE_TYPE = '3 Vendor Configuration File';
const SHA256_RE = /^[0-9a-f]{64}$/;

/** A failed upload, with the reason (the API maps it to a 4xx answer). */
export class FileUploadError extends Error {
  constructor(
    readonly code: 'too_large' | 'empty' | 'invalid',
    message: string,
    /** For `too_large`: the limit in bytes. */
    readonly limit?: number,
  ) {
    super(message);
    this.name = 'FileUploadError';
  }
}

/** Metadata of an upload; absent firmware fields are read from the image header when it has one. */
export interface FileUploadMeta {
  name: string;
  fileType: string;
  oui?: string | null;
  productClass?: string | null;
  version?: string | null;
  description?: string | null;
  auth?: FileAuth;
}

/** What the header of a Switchboard firmware image says (format of src/cpe/firmware.ts). */
export interface FirmwareHeaderInfo {
  model: string;
  version: string;
}

const FIRMWARE_MAGIC = 'SBFW';
const PREAMBLE_BYTES = 8;
const MAX_HEADER_BYTES = 4096;

/**
 * Reads the model and version from the start of a simulated-firmware image (magic `SBFW`, 4-byte
 * big-endian header length, JSON header). Other formats return null; nothing is verified here (the
 * device verifies the signature).
 */
export function sniffFirmwareHeader(head: Buffer): FirmwareHeaderInfo | null {
  if (head.length < PREAMBLE_BYTES || head.toString('ascii', 0, 4) !== FIRMWARE_MAGIC) return null;
  const len = head.readUInt32BE(4);
  if (len === 0 || len > MAX_HEADER_BYTES || head.length < PREAMBLE_BYTES + len) return null;
  try {
    const h = JSON.parse(head.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + len).toString('utf8')) as { model?: unknown; version?: unknown };
    if (typeof h.model === 'string' && typeof h.version === 'string' && h.model && h.version) return { model: h.model, version: h.version };
  } catch {
    // not JSON: not our format
  }
  return null;
}

/** See the module comment. */
export class FileLibrary {
  readonly dir: string;
  private readonly store: ProvisioningStore;
  private readonly maxBytes: number;

  constructor(options: { store: ProvisioningStore; dir: string; maxBytes?: number }) {
    this.store = options.store;
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  }

  /** Path of a content file. @throws Error for a malformed hash (never a path outside the library). */
  contentPath(sha256: string): string {
    if (!SHA256_RE.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /**
   * Stores an upload and its record.
   * @returns the new record.
   * @throws FileUploadError (too large, empty); StoreError from the store; I/O errors.
   */
  async add(content: Readable | Buffer, meta: FileUploadMeta): Promise<FileRecord> {
    await fsp.mkdir(join(this.dir, 'tmp'), { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, 'tmp', `${randomBytes(8).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    const max = this.maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > max) {
          done(new FileUploadError('too_large', `the file is larger than the limit of ${max} bytes`, max));
          return;
        }
        if (head.length < PREAMBLE_BYTES + MAX_HEADER_BYTES) head = Buffer.concat([head, chunk]).subarray(0, PREAMBLE_BYTES + MAX_HEADER_BYTES);
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      const source: Readable = Buffer.isBuffer(content) ? Readable.from([content]) : content;
      await pipeline(source, meter, createWriteStream(tmp, { mode: 0o600 }));
      if (size === 0) throw new FileUploadError('empty', 'the file is empty');
      const sha256 = hash.digest('hex');
      const target = this.contentPath(sha256);
      await fsp.mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
      // Same content already stored: keep the existing bytes.
      const exists = await fsp.stat(target).then(() => true, () => false);
      if (exists) await fsp.rm(tmp, { force: true });
      else await fsp.rename(tmp, target);
      const sniffed = meta.fileType.startsWith('1') ? sniffFirmwareHeader(head) : null;
      const record: NewFileRecord = {
        name: meta.name,
        fileType: meta.fileType,
        oui: meta.oui ?? null,
        productClass: meta.productClass !== undefined && meta.productClass !== null ? meta.productClass : (sniffed?.model ?? null),
        version: meta.version !== undefined && meta.version !== null ? meta.version : (sniffed?.version ?? null),
        size,
        sha256,
        description: meta.description ?? null,
        auth: meta.auth ?? { scheme: 'none', username: null, password: null },
      };
      return await this.store.createFile(record);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Deletes a record, and its content when no other record uses it.
   * @returns false when the record does not exist.
   */
  async remove(id: string): Promise<boolean> {
    const file = await this.store.getFile(id);
    if (!file) return false;
    const gone = await this.store.deleteFile(id);
    if (gone && (await this.store.countFilesWithContent(file.sha256)) === 0) {
      await fsp.rm(this.contentPath(file.sha256), { force: true });
    }
    return gone;
  }

  /** Opens the content (optionally a byte range, inclusive). @throws when the content is missing. */
  open(file: FileRecord, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.contentPath(file.sha256), range ? { start: range.start, end: range.end } : {});
  }

  /** True when the content of a record is on disk. */
  async hasContent(file: FileRecord): Promise<boolean> {
    return fsp.stat(this.contentPath(file.sha256)).then((s) => s.isFile(), () => false);
  }
}

/** The public download URL of a file: `<base>/files/<id>/<name>`. */
export function fileUrl(baseUrl: string, file: Pick<FileRecord, 'id' | 'name'>): string {
  return `${baseUrl.replace(/\/+$/, '')}/files/${encodeURIComponent(file.id)}/${encodeURIComponent(file.name)}`;
}
