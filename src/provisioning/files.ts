/**
 * The file library: firmware images and configuration files the ACS hands to devices.
 *
 * Metadata lives in the provisioning store, bytes in a `FileContentStore`
 * (src/store/provisioning/file-content.ts), content-addressed by SHA-256: on the filesystem under
 * `<dataDir>/files/<first two hex>/<sha256>` (one host), or in the PostgreSQL database (every ACS
 * instance on it serves every file). An upload streams into the content store's pending area while
 * it is hashed and metered, and is committed under its hash only when complete and within the
 * limit, so a crash or a too-large upload never leaves a half-written file under a content name.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import { FsFileContentStore, type ContentRange, type FileContentStore } from '../store/provisioning/file-content.ts';
import type { FileAuth, FileRecord, NewFileRecord, ProvisioningStore } from '../store/provisioning/types.ts';

/** Default largest upload (firmware images of these phones are tens of MiB). */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;
export const FIRMWARE_FILE_TYPE = '1 Firmware Upgrade Image';
export const CONFIG_FILE_TYPE = '3 Vendor Configuration File';

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
  /** Where the bytes are. */
  readonly content: FileContentStore;
  private readonly store: ProvisioningStore;
  private readonly maxBytes: number;

  /**
   * @param options.content where the bytes go; default the filesystem under `options.dir`.
   * @throws Error when neither `content` nor `dir` is given.
   */
  constructor(options: { store: ProvisioningStore; dir?: string; content?: FileContentStore; maxBytes?: number }) {
    this.store = options.store;
    if (options.content) this.content = options.content;
    else if (options.dir !== undefined) this.content = new FsFileContentStore(options.dir);
    else throw new Error('FileLibrary needs a content store or a directory');
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  }

  /**
   * Stores an upload and its record.
   * @returns the new record.
   * @throws FileUploadError (too large, empty); StoreError from the store; I/O errors.
   */
  async add(content: Readable | Buffer, meta: FileUploadMeta): Promise<FileRecord> {
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
    const source: Readable = Buffer.isBuffer(content) ? Readable.from([content]) : content;
    // pipeline, not pipe: an error on either side destroys both (the upload's request stream
    // included) and reaches the content store through the metered stream it reads.
    const metered = pipeline(source, meter, () => undefined);
    const pending = await this.content.write(metered);
    try {
      if (size === 0) throw new FileUploadError('empty', 'the file is empty');
      const sha256 = hash.digest('hex');
      await pending.commit(sha256);
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
      await pending.abort();
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
      await this.content.delete(file.sha256);
    }
    return gone;
  }

  /** Opens the content (optionally a byte range, inclusive); the stream errors when the content is missing. */
  open(file: FileRecord, range?: ContentRange): Readable {
    return this.content.open(file.sha256, range);
  }

  /** True when the content of a record is stored. */
  hasContent(file: FileRecord): Promise<boolean> {
    return this.content.has(file.sha256);
  }
}

/** The public download URL of a file: `<base>/files/<id>/<name>`. */
export function fileUrl(baseUrl: string, file: Pick<FileRecord, 'id' | 'name'>): string {
  return `${baseUrl.replace(/\/+$/, '')}/files/${encodeURIComponent(file.id)}/${encodeURIComponent(file.name)}`;
}
