/**
 * Answers the ACS's RPCs (TR-069 Annex A "CPE methods") for one device.
 *
 * Parameter RPCs go to the DeviceModel (which raises the right 9003-9009 faults); Reboot,
 * FactoryReset, ScheduleInform and the transfer RPCs change the agent's own state through
 * `RpcContext`. Every RPC that changes state calls `ctx.persist()` BEFORE the response is returned,
 * so an acknowledged change survives a crash. Unsupported methods (ChangeDUState, SetVouchers,
 * GetOptions and anything unknown) answer 9000.
 */
import { CwmpFaultError, FaultCode } from '../cwmp/faults.ts';
import type { CpeRequest, CpeResponse, Download, ScheduleDownload, Upload } from '../cwmp/types.ts';
import { UNKNOWN_TIME } from '../cwmp/types.ts';
import type { DeviceModel } from '../datamodel/model.ts';
import { TransferFailure, checkTransferUrl } from './file-transfer.ts';
import {
  MAX_QUEUED_TRANSFERS,
  SUPPORTED_DOWNLOAD_TYPES,
  SUPPORTED_UPLOAD_TYPES,
  allQueuedTransfers,
  queuedTransfers,
  type AbsoluteWindow,
  type TransferRecord,
} from './transfers.ts';

/** The methods this CPE implements (GetRPCMethodsResponse). */
export const SUPPORTED_RPC_METHODS: readonly string[] = [
  'GetRPCMethods',
  'GetParameterNames',
  'GetParameterValues',
  'SetParameterValues',
  'GetParameterAttributes',
  'SetParameterAttributes',
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
];

/** Longest CommandKey (string(32) in the schema). */
const MAX_COMMAND_KEY = 32;
const MS_PER_S = 1000;
/** Window modes of TimeWindowStruct (TR-069 A.4.1.9). */
const WINDOW_MODES = new Set(['1 At Any Time', '2 Immediately', '3 When Idle', '4 Confirmation Needed']);

/** What the handler needs from the agent. */
export interface RpcContext {
  readonly model: DeviceModel;
  /** Current time, ms since the epoch. */
  now(): number;
  /** Saves the device state durably. */
  persist(): void;
  /** The transfer queue (mutated in place). */
  readonly transfers: TransferRecord[];
  /** A transfer was queued: arm its timer. */
  transferQueued(t: TransferRecord): void;
  /** ScheduleInform accepted. */
  scheduleInform(delaySeconds: number, commandKey: string): void;
  /** Reboot accepted: reboot when the session ends. */
  rebootAfterSession(commandKey: string): void;
  /** FactoryReset accepted: reset when the session ends. */
  factoryResetAfterSession(): void;
}

function invalidArgs(message: string): CwmpFaultError {
  return new CwmpFaultError(FaultCode.INVALID_ARGUMENTS, `Invalid arguments: ${message}`);
}

function checkCommandKey(key: string): void {
  if ([...key].length > MAX_COMMAND_KEY) throw invalidArgs(`CommandKey longer than ${MAX_COMMAND_KEY} characters`);
}

/**
 * Answers one ACS request. Returns the response; throws CwmpFaultError (or the data model's
 * CwmpFaultError) for a fault.
 */
export function handleRpc(ctx: RpcContext, req: CpeRequest): CpeResponse {
  const m = ctx.model;
  switch (req.method) {
    case 'GetRPCMethods':
      return { method: 'GetRPCMethodsResponse', methodList: [...SUPPORTED_RPC_METHODS] };
    case 'GetParameterNames':
      return { method: 'GetParameterNamesResponse', parameterList: m.getParameterNames(req.parameterPath, req.nextLevel) };
    case 'GetParameterValues':
      if (req.parameterNames.length === 0) throw invalidArgs('empty ParameterNames');
      return { method: 'GetParameterValuesResponse', parameterList: m.getParameterValues(req.parameterNames) };
    case 'SetParameterValues': {
      if (req.parameterList.length === 0) throw invalidArgs('empty ParameterList');
      const r = m.setParameterValues(req.parameterList, req.parameterKey);
      ctx.persist();
      return { method: 'SetParameterValuesResponse', status: r.status };
    }
    case 'GetParameterAttributes':
      if (req.parameterNames.length === 0) throw invalidArgs('empty ParameterNames');
      return { method: 'GetParameterAttributesResponse', parameterList: m.getParameterAttributes(req.parameterNames) };
    case 'SetParameterAttributes':
      if (req.parameterList.length === 0) throw invalidArgs('empty ParameterList');
      m.setParameterAttributes(req.parameterList);
      ctx.persist();
      return { method: 'SetParameterAttributesResponse' };
    case 'AddObject': {
      const r = m.addObject(req.objectName, req.parameterKey);
      ctx.persist();
      return { method: 'AddObjectResponse', instanceNumber: r.instanceNumber, status: r.status };
    }
    case 'DeleteObject': {
      const r = m.deleteObject(req.objectName, req.parameterKey);
      ctx.persist();
      return { method: 'DeleteObjectResponse', status: r.status };
    }
    case 'Reboot':
      checkCommandKey(req.commandKey);
      ctx.rebootAfterSession(req.commandKey);
      ctx.persist();
      return { method: 'RebootResponse' };
    case 'FactoryReset':
      ctx.factoryResetAfterSession();
      ctx.persist();
      return { method: 'FactoryResetResponse' };
    case 'ScheduleInform':
      checkCommandKey(req.commandKey);
      if (!Number.isInteger(req.delaySeconds) || req.delaySeconds < 1) throw invalidArgs('DelaySeconds must be at least 1');
      ctx.scheduleInform(req.delaySeconds, req.commandKey);
      ctx.persist();
      return { method: 'ScheduleInformResponse' };
    case 'Download':
      return queueDownload(ctx, req);
    case 'Upload':
      return queueUpload(ctx, req);
    case 'ScheduleDownload':
      return queueScheduleDownload(ctx, req);
    case 'GetQueuedTransfers':
      return { method: 'GetQueuedTransfersResponse', transferList: queuedTransfers(ctx.transfers) };
    case 'GetAllQueuedTransfers':
      return { method: 'GetAllQueuedTransfersResponse', transferList: allQueuedTransfers(ctx.transfers) };
    case 'CancelTransfer': {
      const i = ctx.transfers.findIndex((t) => t.commandKey === req.commandKey);
      if (i < 0) throw invalidArgs(`no transfer with CommandKey ${JSON.stringify(req.commandKey)}`);
      if (ctx.transfers[i].state !== 'queued') {
        throw new CwmpFaultError(FaultCode.CANCEL_NOT_PERMITTED, `transfer ${JSON.stringify(req.commandKey)} is ${ctx.transfers[i].state}`);
      }
      ctx.transfers.splice(i, 1);
      ctx.persist();
      return { method: 'CancelTransferResponse' };
    }
    case 'ChangeDUState':
    case 'SetVouchers':
    case 'GetOptions':
      throw new CwmpFaultError(FaultCode.METHOD_NOT_SUPPORTED, `${req.method} is not supported by this device`);
    default: {
      const method = (req as { method: string }).method;
      throw new CwmpFaultError(FaultCode.METHOD_NOT_SUPPORTED, `${method} is not supported by this device`);
    }
  }
}

function checkUrl(url: string): void {
  if (!url) throw invalidArgs('URL is empty');
  try {
    checkTransferUrl(url);
  } catch (err) {
    if (err instanceof TransferFailure) throw new CwmpFaultError(FaultCode.UNSUPPORTED_TRANSFER_PROTOCOL, err.message);
    throw err;
  }
}

function checkQueueRoom(ctx: RpcContext): void {
  if (ctx.transfers.length >= MAX_QUEUED_TRANSFERS) {
    throw new CwmpFaultError(FaultCode.RESOURCES_EXCEEDED, `transfer queue is full (${MAX_QUEUED_TRANSFERS})`);
  }
}

function checkUniqueKey(ctx: RpcContext, commandKey: string): void {
  // Transfers are identified by CommandKey (CancelTransfer, TransferComplete): keep them distinct.
  if (commandKey !== '' && ctx.transfers.some((t) => t.commandKey === commandKey)) {
    throw invalidArgs(`a transfer with CommandKey ${JSON.stringify(commandKey)} is already queued`);
  }
}

function queueDownload(ctx: RpcContext, req: Download): CpeResponse {
  checkCommandKey(req.commandKey);
  if (!SUPPORTED_DOWNLOAD_TYPES.includes(req.fileType)) throw invalidArgs(`unsupported FileType ${JSON.stringify(req.fileType)}`);
  checkUrl(req.url);
  if (!Number.isInteger(req.delaySeconds) || req.delaySeconds < 0) throw invalidArgs('DelaySeconds must be >= 0');
  checkQueueRoom(ctx);
  checkUniqueKey(ctx, req.commandKey);
  const t: TransferRecord = {
    commandKey: req.commandKey,
    kind: 'download',
    origin: 'Download',
    fileType: req.fileType,
    url: req.url,
    username: req.username,
    password: req.password,
    fileSize: req.fileSize,
    targetFileName: req.targetFileName,
    notBefore: ctx.now() + req.delaySeconds * MS_PER_S,
    state: 'queued',
  };
  ctx.transfers.push(t);
  ctx.persist();
  ctx.transferQueued(t);
  return { method: 'DownloadResponse', status: 1, startTime: UNKNOWN_TIME, completeTime: UNKNOWN_TIME };
}

function queueUpload(ctx: RpcContext, req: Upload): CpeResponse {
  checkCommandKey(req.commandKey);
  if (!SUPPORTED_UPLOAD_TYPES.includes(req.fileType)) throw invalidArgs(`unsupported FileType ${JSON.stringify(req.fileType)}`);
  checkUrl(req.url);
  if (!Number.isInteger(req.delaySeconds) || req.delaySeconds < 0) throw invalidArgs('DelaySeconds must be >= 0');
  checkQueueRoom(ctx);
  checkUniqueKey(ctx, req.commandKey);
  const t: TransferRecord = {
    commandKey: req.commandKey,
    kind: 'upload',
    origin: 'Upload',
    fileType: req.fileType,
    url: req.url,
    username: req.username,
    password: req.password,
    fileSize: 0,
    targetFileName: '',
    notBefore: ctx.now() + req.delaySeconds * MS_PER_S,
    state: 'queued',
  };
  ctx.transfers.push(t);
  ctx.persist();
  ctx.transferQueued(t);
  return { method: 'UploadResponse', status: 1, startTime: UNKNOWN_TIME, completeTime: UNKNOWN_TIME };
}

function queueScheduleDownload(ctx: RpcContext, req: ScheduleDownload): CpeResponse {
  checkCommandKey(req.commandKey);
  if (!SUPPORTED_DOWNLOAD_TYPES.includes(req.fileType)) throw invalidArgs(`unsupported FileType ${JSON.stringify(req.fileType)}`);
  checkUrl(req.url);
  const w = req.timeWindowList;
  if (w.length < 1 || w.length > 2) throw invalidArgs('TimeWindowList must have one or two windows');
  for (const x of w) {
    if (!(x.windowEnd >= x.windowStart)) throw invalidArgs('WindowEnd before WindowStart');
    if (!WINDOW_MODES.has(x.windowMode) && !/^X [^ ]+ /.test(x.windowMode)) throw invalidArgs(`unknown WindowMode ${JSON.stringify(x.windowMode)}`);
  }
  if (w.length === 2 && w[1].windowStart < w[0].windowEnd) throw invalidArgs('windows overlap or are out of order');
  checkQueueRoom(ctx);
  checkUniqueKey(ctx, req.commandKey);
  const now = ctx.now();
  const windows: AbsoluteWindow[] = w.map((x) => ({
    start: now + x.windowStart * MS_PER_S,
    end: now + x.windowEnd * MS_PER_S,
    mode: x.windowMode,
    maxRetries: x.maxRetries,
  }));
  const t: TransferRecord = {
    commandKey: req.commandKey,
    kind: 'download',
    origin: 'ScheduleDownload',
    fileType: req.fileType,
    url: req.url,
    username: req.username,
    password: req.password,
    fileSize: req.fileSize,
    targetFileName: req.targetFileName,
    notBefore: windows[0].start,
    windows,
    state: 'queued',
  };
  ctx.transfers.push(t);
  ctx.persist();
  ctx.transferQueued(t);
  return { method: 'ScheduleDownloadResponse' };
}
