/**
 * The CPE's transfer queue: Downloads, Uploads and ScheduleDownloads accepted from the ACS, from
 * "queued" through "in progress" to "completed" (waiting for the TransferCompleteResponse). The
 * records are plain JSON so they persist with the rest of the device state and survive a restart.
 */
import type { AllQueuedTransferStruct, FaultStruct, QueuedTransferStruct } from '../cwmp/types.ts';

/** TR-069 asks CPEs to queue at least 16 transfers; we refuse more with 9004. */
export const MAX_QUEUED_TRANSFERS = 16;

export const FileType = {
  FirmwareImage: '1 Firmware Upgrade Image',
  WebContent: '2 Web Content',
  VendorConfigDownload: '3 Vendor Configuration File',
  VendorConfigUpload: '1 Vendor Configuration File',
  VendorLogUpload: '2 Vendor Log File',
} as const;

/** Download FileTypes this agent installs. */
export const SUPPORTED_DOWNLOAD_TYPES: readonly string[] = [FileType.FirmwareImage, FileType.VendorConfigDownload];
/** Upload FileTypes this agent produces. */
export const SUPPORTED_UPLOAD_TYPES: readonly string[] = [FileType.VendorConfigUpload, FileType.VendorLogUpload];

export type TransferState = 'queued' | 'in-progress' | 'completed';

/** A time window of a ScheduleDownload, in absolute ms. */
export interface AbsoluteWindow {
  start: number;
  end: number;
  mode: string;
  maxRetries: number;
}

export interface TransferRecord {
  commandKey: string;
  kind: 'download' | 'upload';
  /** Which RPC created it: decides the "M ..." event of its TransferComplete. */
  origin: 'Download' | 'Upload' | 'ScheduleDownload';
  fileType: string;
  url: string;
  username: string;
  password: string;
  fileSize: number;
  targetFileName: string;
  /** Earliest start (ms since epoch): RPC time + DelaySeconds, or the first window's start. */
  notBefore: number;
  windows?: AbsoluteWindow[];
  state: TransferState;
  /** Set when completed: what TransferComplete reports. */
  result?: { fault: FaultStruct; startTime: string; completeTime: string };
  /** Firmware verified and waiting for the reboot that installs it. */
  installVersion?: string;
  /** Set when the transfer's reboot already happened (firmware installed). */
  installed?: boolean;
}

/** GetQueuedTransfers (deprecated; downloads only): at most 16 entries. */
export function queuedTransfers(list: readonly TransferRecord[]): QueuedTransferStruct[] {
  return list
    .filter((t) => t.kind === 'download')
    .slice(0, MAX_QUEUED_TRANSFERS)
    .map((t) => ({ commandKey: t.commandKey, state: stateNumber(t.state) }));
}

/** GetAllQueuedTransfers: at most 16 entries. */
export function allQueuedTransfers(list: readonly TransferRecord[]): AllQueuedTransferStruct[] {
  return list.slice(0, MAX_QUEUED_TRANSFERS).map((t) => ({
    commandKey: t.commandKey,
    state: stateNumber(t.state),
    isDownload: t.kind === 'download',
    fileType: t.fileType,
    fileSize: t.fileSize,
    targetFileName: t.targetFileName,
  }));
}

function stateNumber(s: TransferState): 1 | 2 | 3 {
  return s === 'queued' ? 1 : s === 'in-progress' ? 2 : 3;
}

/** The "M ..." event that goes with a transfer's TransferComplete. */
export function transferEventCode(t: TransferRecord): string {
  return t.origin === 'Upload' ? 'M Upload' : t.origin === 'ScheduleDownload' ? 'M ScheduleDownload' : 'M Download';
}
