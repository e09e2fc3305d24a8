/**
 * Declarative description of every CWMP message body, taken from the BBF schemas
 * cwmp-1-0.xsd .. cwmp-1-4.xsd: element names and order, scalar kinds, facets
 * (maxLength, enumerations, patterns, array bounds) and the version in which each
 * message appeared. The parser and the builder are both driven by this table, so
 * a message that builds also parses back to the same value.
 *
 * Facets that differ between schema versions are checks taking the schema
 * generation (0 = cwmp-1-0, 1 = cwmp-1-1, 2 = cwmp-1-2 and the 1.3/1.4 schemas
 * built on it). The builder enforces every facet (it must only emit valid
 * messages); the parser only enforces what the TypeScript types promise
 * (integers, booleans, enumerations of typed unions), to stay tolerant of peers.
 */
import type { CwmpMethodName, CwmpVersion } from './types.ts';

/** Schema generation: 0 = cwmp-1-0, 1 = cwmp-1-1, 2 = cwmp-1-2 (also used by 1.3 and 1.4). */
export type SchemaGen = 0 | 1 | 2;

export function schemaGen(v: CwmpVersion): SchemaGen {
  return v === '1.0' ? 0 : v === '1.1' ? 1 : 2;
}

/** A facet check: returns null when `value` is allowed in schema generation `gen`, else the reason. */
export type Check<T> = (value: T, gen: SchemaGen) => string | null;

export type ScalarKind =
  /** xs:string (and restrictions); TS string */
  | 'string'
  /** xs:unsignedInt; TS number */
  | 'uint'
  /** xs:int; TS number */
  | 'int'
  /** xs:boolean; TS boolean; built as "true"/"false" */
  | 'bool'
  /** xs:int restricted to 0/1; TS boolean */
  | 'intBool'
  /** xs:dateTime; TS string (kept verbatim) */
  | 'dateTime'
  /** xs:unsignedInt kept as its text; TS string */
  | 'uintText'
  /** soapenc:base64; TS string */
  | 'base64'
  /** xs:anyURI; TS string */
  | 'anyURI';

export interface ScalarType {
  t: 'scalar';
  kind: ScalarKind;
  /** Maximum length in characters (xs:maxLength). */
  maxLength?: number;
  /** Allowed values (numbers for numeric kinds, strings for strings). */
  enumeration?: readonly (number | string)[];
  min?: number;
  /** xsi:nil="true" allowed (parsed as ''). */
  nillable?: boolean;
  check?: Check<string> | Check<number>;
}

export interface StructType {
  t: 'struct';
  fields: readonly FieldSpec[];
}

/** A SOAP-encoded array: `<El soap-enc:arrayType="cwmp:X[N]"><itemEl>..</itemEl>...</El>`. */
export interface ArrayType {
  t: 'array';
  itemEl: string;
  /** `<itemEl>` and `</itemEl>`, made once for the builder. */
  itemOpen: string;
  itemClose: string;
  /** The arrayType base, e.g. "cwmp:EventStruct" or "xsd:string". */
  arrayType: string;
  of: ValueType;
  minItems?: number;
  maxItems?: number;
}

/** Special cases handled by code (ParameterValueStruct's typed Value, ChangeDUState operations). */
export interface CustomType {
  t: 'custom';
  name: 'ParameterValueStruct' | 'Operation';
}

export type ValueType = ScalarType | StructType | ArrayType | CustomType;

export interface FieldSpec {
  /** Property name in the TypeScript value. */
  prop: string;
  /** Element local name on the wire (unqualified). */
  el: string;
  /** `<el>` and `</el>`, made once for the builder. */
  open: string;
  close: string;
  type: ValueType;
  /** The element may be absent (minOccurs=0); the property is then undefined. */
  optional?: boolean;
  /** The element repeats directly (no array wrapper), e.g. ChangeDUState/Operations. */
  repeated?: { minItems: number };
  /** Tolerance: value used when a peer omits this required element. */
  parseDefault?: unknown;
}

export interface MessageSpec {
  method: CwmpMethodName;
  /** First schema generation that has this element. */
  since: SchemaGen;
  fields: readonly FieldSpec[];
}

// ---------------------------------------------------------------------------
// XSD pattern helpers
// ---------------------------------------------------------------------------

/**
 * Compiles an XSD regular expression (implicitly anchored) into a JS RegExp with
 * XSD semantics for the escapes used by the CWMP schemas: \d = Unicode decimal
 * digit, \S = not XML whitespace (space, TAB, LF, CR), '.' = not LF/CR.
 */
export function xsdPattern(src: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[++i];
      if (n === 'd') out += '\\p{Nd}';
      else if (n === 'S') out += '[^ \\t\\n\\r]';
      else if (n === 's') out += '[ \\t\\n\\r]';
      else out += `\\${n}`;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    if (c === '.' && !inClass) out += '[^\\n\\r]';
    else out += c;
  }
  return new RegExp(`^(?:${out})$`, 'u');
}

function patterns(list: readonly string[]): (v: string) => boolean {
  const res = list.map(xsdPattern);
  return (v) => res.some((r) => r.test(v));
}

function byGen(perGen: readonly [readonly string[], readonly string[], readonly string[]], what: string): Check<string> {
  const testers = perGen.map(patterns);
  return (v, gen) => (testers[gen](v) ? null : `not a valid ${what} for this CWMP version`);
}

type Range = readonly [number, number];
function codeCheck(perGen: readonly [readonly Range[], readonly Range[], readonly Range[]], what: string): Check<number> {
  return (v, gen) => (perGen[gen].some(([lo, hi]) => v >= lo && v <= hi) ? null : `${v} is not an allowed ${what} in this CWMP version`);
}
const one = (n: number): Range => [n, n];

// ---------------------------------------------------------------------------
// Facets from the schemas
// ---------------------------------------------------------------------------

const EVENT_CODES_10 = [
  '0 BOOTSTRAP', '1 BOOT', '2 PERIODIC', '3 SCHEDULED', '4 VALUE CHANGE', '5 KICKED', '6 CONNECTION REQUEST',
  '7 TRANSFER COMPLETE', '8 DIAGNOSTICS COMPLETE', '9 REQUEST DOWNLOAD', 'M Reboot', 'M ScheduleInform',
  'M Download', 'M Upload', 'M X_\\S+', 'X [0-9A-F]{6} .*',
];
const EVENT_CODES_11 = [...EVENT_CODES_10, '10 AUTONOMOUS TRANSFER COMPLETE', '\\d+( \\S+)+', 'M \\S+'];
const EVENT_CODES_12 = ['\\d+( \\S+)+', 'M \\S+', 'M X_\\S+', 'X [0-9A-F]{6} .+', 'X \\S+ .+'];
export const eventCodeCheck = byGen([EVENT_CODES_10, EVENT_CODES_11, EVENT_CODES_12], 'EventCode');

const DOWNLOAD_FT_OLD = ['1 Firmware Upgrade Image', '2 Web Content', '3 Vendor Configuration File', 'X [0-9A-F]{6} .*'];
const UPLOAD_FT_OLD = ['1 Vendor Configuration File', '2 Vendor Log File', 'X [0-9A-F]{6} .*'];
const TRANSFER_FT_11 = [...DOWNLOAD_FT_OLD, '4 Vendor Log File'];
const DOWNLOAD_FT_12 = ['[1-9]\\d*( \\S+)+', 'X [0-9A-F]{6} .+', 'X \\S+ .+'];
const TRANSFER_FT_12 = [...DOWNLOAD_FT_12, '[1-9]\\d*( \\S+)+ [1-9]\\d*'];
const downloadFileType = byGen([DOWNLOAD_FT_OLD, DOWNLOAD_FT_OLD, DOWNLOAD_FT_12], 'download FileType');
const uploadFileType = byGen([UPLOAD_FT_OLD, UPLOAD_FT_OLD, TRANSFER_FT_12], 'upload FileType');
const transferFileType = byGen([TRANSFER_FT_11, TRANSFER_FT_11, TRANSFER_FT_12], 'FileType');
// TimeWindowModeValueType has the same patterns as DownloadFileType (and exists only in cwmp-1-2).
const windowModeCheck = byGen([DOWNLOAD_FT_12, DOWNLOAD_FT_12, DOWNLOAD_FT_12], 'WindowMode');

const CWMP_FAULT_RANGES_10: Range[] = [[9000, 9013], [9800, 9899], [8000, 8005], [8800, 8899]];
const CWMP_FAULT_RANGES_11: Range[] = [[9000, 9899], [8000, 8899]];
/** cwmp:Fault/FaultCode. */
export const faultCodeCheck = codeCheck([CWMP_FAULT_RANGES_10, CWMP_FAULT_RANGES_11, CWMP_FAULT_RANGES_11], 'cwmp:Fault FaultCode');
/** cwmp:Fault/SetParameterValuesFault/FaultCode. */
export const spvFaultCodeCheck = codeCheck([CWMP_FAULT_RANGES_10, CWMP_FAULT_RANGES_11, [[9000, 9899]]], 'SetParameterValuesFault FaultCode');

const TC_FAULTS_10: Range[] = [0, 9001, 9002, 9010, 9011, 9012].map(one);
const TC_FAULTS_11: Range[] = [...TC_FAULTS_10, [9014, 9019], [9020, 9799], [9800, 9899]];
const TC_FAULTS_12: Range[] = [...TC_FAULTS_10, [9014, 9020], [9033, 9799], [9800, 9899]];
const transferFaultCheck = codeCheck([TC_FAULTS_10, TC_FAULTS_11, TC_FAULTS_12], 'transfer FaultCode');
const DU_FAULTS: Range[] = [...[0, 9001, 9003, 9012, 9013, 9015, 9016, 9017, 9018].map(one), [9022, 9032], [9033, 9799], [9800, 9899]];
const duFaultCheck = codeCheck([DU_FAULTS, DU_FAULTS, DU_FAULTS], 'deployment unit FaultCode');

const NOTIFICATION_BY_GEN: readonly (readonly number[])[] = [[0, 1, 2], [0, 1, 2], [0, 1, 2, 3, 4, 5, 6]];
const notificationCheck: Check<number> = (v, gen) =>
  NOTIFICATION_BY_GEN[gen].includes(v) ? null : `Notification ${v} not allowed in this CWMP version`;

const OUI_RE = /^[0-9A-F]{6}$/;
const ouiCheck: Check<string> = (v) => (OUI_RE.test(v) ? null : 'OUI must be 6 upper-case hex digits');
const OBJECT_NAME_RE = xsdPattern('.*\\.');
const objectNameCheck: Check<string> = (v) => (OBJECT_NAME_RE.test(v) ? null : 'object name must end with "." (and hold no line break)');
const UUID_RE = xsdPattern('[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}');
const uuidCheck: Check<string> = (v) => (UUID_RE.test(v) ? null : 'not a UUID');

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

const str = (maxLength?: number, extra?: Partial<ScalarType>): ScalarType => ({ t: 'scalar', kind: 'string', maxLength, ...extra });
const UINT: ScalarType = { t: 'scalar', kind: 'uint' };
const INT: ScalarType = { t: 'scalar', kind: 'int' };
const BOOL: ScalarType = { t: 'scalar', kind: 'bool' };
const DATETIME: ScalarType = { t: 'scalar', kind: 'dateTime' };
const STATUS: ScalarType = { t: 'scalar', kind: 'int', enumeration: [0, 1] };
const f = (prop: string, el: string, type: ValueType, extra?: Partial<FieldSpec>): FieldSpec => ({ prop, el, open: `<${el}>`, close: `</${el}>`, type, ...extra });
const struct = (...fields: FieldSpec[]): StructType => ({ t: 'struct', fields });
const array = (itemEl: string, arrayType: string, of: ValueType, bounds?: { minItems?: number; maxItems?: number }): ArrayType => ({
  t: 'array',
  itemEl,
  itemOpen: `<${itemEl}>`,
  itemClose: `</${itemEl}>`,
  arrayType,
  of,
  ...bounds,
});

const COMMAND_KEY = str(32);
const PARAMETER_KEY = str(32);

const PARAMETER_VALUE_LIST = array('ParameterValueStruct', 'cwmp:ParameterValueStruct', { t: 'custom', name: 'ParameterValueStruct' });
const PARAMETER_NAMES = array('string', 'xsd:string', str(256), { minItems: 1 });
const ACCESS_LIST = array('string', 'xsd:string', str(64, { enumeration: ['Subscriber'] }));

const EVENT_STRUCT = struct(f('eventCode', 'EventCode', str(64, { check: eventCodeCheck })), f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }));
const DEVICE_ID = struct(
  f('manufacturer', 'Manufacturer', str(64)),
  f('oui', 'OUI', str(6, { check: ouiCheck })),
  f('productClass', 'ProductClass', str(64)),
  f('serialNumber', 'SerialNumber', str(64)),
);
const TRANSFER_FAULT = struct(
  f('faultCode', 'FaultCode', { t: 'scalar', kind: 'uint', check: transferFaultCheck }),
  f('faultString', 'FaultString', str(256), { parseDefault: '' }),
);
const DU_FAULT = struct(
  f('faultCode', 'FaultCode', { t: 'scalar', kind: 'uint', check: duFaultCheck }),
  // minOccurs=0 in the schema; always built (the TS field is required), '' when a peer omits it.
  f('faultString', 'FaultString', str(), { parseDefault: '' }),
);
const QUEUED_TRANSFER_FIELDS = [f('commandKey', 'CommandKey', COMMAND_KEY), f('state', 'State', { t: 'scalar', kind: 'int', enumeration: [1, 2, 3] })];
const TIME_WINDOW = struct(
  f('windowStart', 'WindowStart', UINT),
  f('windowEnd', 'WindowEnd', UINT),
  f('windowMode', 'WindowMode', str(64, { check: windowModeCheck })),
  f('userMessage', 'UserMessage', str(256), { parseDefault: '' }),
  f('maxRetries', 'MaxRetries', INT),
);
const OP_RESULT_FIELDS: FieldSpec[] = [
  f('uuid', 'UUID', str(undefined, { check: uuidCheck })),
  f('deploymentUnitRef', 'DeploymentUnitRef', str()),
  f('version', 'Version', str(32)),
  f('currentState', 'CurrentState', str(undefined, { enumeration: ['Installed', 'Uninstalled', 'Failed'] })),
  f('resolved', 'Resolved', BOOL),
  f('executionUnitRefList', 'ExecutionUnitRefList', str(), { parseDefault: '' }),
  f('startTime', 'StartTime', DATETIME),
  f('completeTime', 'CompleteTime', DATETIME),
  f('fault', 'Fault', DU_FAULT),
];

export const OPERATION_CHECKS = { uuidCheck };

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

const M = (method: CwmpMethodName, since: SchemaGen, ...fields: FieldSpec[]): MessageSpec => ({ method, since, fields });

/** Every body element except soap-env:Fault, keyed by method (= element local name). */
export const MESSAGES: ReadonlyMap<string, MessageSpec> = new Map(
  [
    // CPE methods
    M('GetRPCMethods', 0),
    M('GetRPCMethodsResponse', 0, f('methodList', 'MethodList', array('string', 'xsd:string', str(64), { minItems: 1 }))),
    M('SetParameterValues', 0, f('parameterList', 'ParameterList', PARAMETER_VALUE_LIST), f('parameterKey', 'ParameterKey', PARAMETER_KEY, { parseDefault: '' })),
    M('SetParameterValuesResponse', 0, f('status', 'Status', STATUS)),
    M('GetParameterValues', 0, f('parameterNames', 'ParameterNames', PARAMETER_NAMES)),
    M('GetParameterValuesResponse', 0, f('parameterList', 'ParameterList', PARAMETER_VALUE_LIST)),
    M('GetParameterNames', 0, f('parameterPath', 'ParameterPath', str(256, { nillable: true }), { parseDefault: '' }), f('nextLevel', 'NextLevel', BOOL)),
    M(
      'GetParameterNamesResponse',
      0,
      f('parameterList', 'ParameterList', array('ParameterInfoStruct', 'cwmp:ParameterInfoStruct', struct(f('name', 'Name', str(256)), f('writable', 'Writable', BOOL)))),
    ),
    M(
      'SetParameterAttributes',
      0,
      f(
        'parameterList',
        'ParameterList',
        array(
          'SetParameterAttributesStruct',
          'cwmp:SetParameterAttributesStruct',
          struct(
            f('name', 'Name', str(256, { nillable: true }), { parseDefault: '' }),
            f('notificationChange', 'NotificationChange', BOOL),
            f('notification', 'Notification', { t: 'scalar', kind: 'int', enumeration: [0, 1, 2, 3, 4, 5, 6], check: notificationCheck }),
            f('accessListChange', 'AccessListChange', BOOL),
            f('accessList', 'AccessList', ACCESS_LIST, { parseDefault: [] }),
          ),
          { minItems: 1 },
        ),
      ),
    ),
    M('SetParameterAttributesResponse', 0),
    M('GetParameterAttributes', 0, f('parameterNames', 'ParameterNames', PARAMETER_NAMES)),
    M(
      'GetParameterAttributesResponse',
      0,
      f(
        'parameterList',
        'ParameterList',
        array(
          'ParameterAttributeStruct',
          'cwmp:ParameterAttributeStruct',
          struct(
            f('name', 'Name', str(256)),
            f('notification', 'Notification', { t: 'scalar', kind: 'int', enumeration: [0, 1, 2, 3, 4, 5, 6], check: notificationCheck }),
            f('accessList', 'AccessList', ACCESS_LIST, { parseDefault: [] }),
          ),
        ),
      ),
    ),
    M('AddObject', 0, f('objectName', 'ObjectName', str(256, { check: objectNameCheck })), f('parameterKey', 'ParameterKey', PARAMETER_KEY, { parseDefault: '' })),
    M('AddObjectResponse', 0, f('instanceNumber', 'InstanceNumber', { t: 'scalar', kind: 'uint', min: 1 }), f('status', 'Status', STATUS)),
    M('DeleteObject', 0, f('objectName', 'ObjectName', str(256, { check: objectNameCheck })), f('parameterKey', 'ParameterKey', PARAMETER_KEY, { parseDefault: '' })),
    M('DeleteObjectResponse', 0, f('status', 'Status', STATUS)),
    M(
      'Download',
      0,
      f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }),
      f('fileType', 'FileType', str(64, { check: downloadFileType })),
      f('url', 'URL', str(256)),
      f('username', 'Username', str(256), { parseDefault: '' }),
      f('password', 'Password', str(256), { parseDefault: '' }),
      f('fileSize', 'FileSize', UINT, { parseDefault: 0 }),
      f('targetFileName', 'TargetFileName', str(256), { parseDefault: '' }),
      f('delaySeconds', 'DelaySeconds', UINT, { parseDefault: 0 }),
      f('successURL', 'SuccessURL', str(256), { parseDefault: '' }),
      f('failureURL', 'FailureURL', str(256), { parseDefault: '' }),
    ),
    M('DownloadResponse', 0, f('status', 'Status', STATUS), f('startTime', 'StartTime', DATETIME), f('completeTime', 'CompleteTime', DATETIME)),
    M('Reboot', 0, f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' })),
    M('RebootResponse', 0),
    M('GetQueuedTransfers', 0),
    M(
      'GetQueuedTransfersResponse',
      0,
      f('transferList', 'TransferList', array('QueuedTransferStruct', 'cwmp:QueuedTransferStruct', struct(...QUEUED_TRANSFER_FIELDS), { maxItems: 16 })),
    ),
    M('ScheduleInform', 0, f('delaySeconds', 'DelaySeconds', UINT), f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' })),
    M('ScheduleInformResponse', 0),
    M('SetVouchers', 0, f('voucherList', 'VoucherList', array('base64', 'soap-enc:base64', { t: 'scalar', kind: 'base64' }, { minItems: 1 }))),
    M('SetVouchersResponse', 0),
    M('GetOptions', 0, f('optionName', 'OptionName', str(64))),
    M(
      'GetOptionsResponse',
      0,
      f(
        'optionList',
        'OptionList',
        array(
          'OptionStruct',
          'cwmp:OptionStruct',
          struct(
            f('optionName', 'OptionName', str(64)),
            f('voucherSN', 'VoucherSN', { t: 'scalar', kind: 'uintText' }),
            f('state', 'State', { t: 'scalar', kind: 'uint', enumeration: [0, 1, 2, 3] }),
            f('mode', 'Mode', { t: 'scalar', kind: 'int', enumeration: [0, 1, 2] }),
            f('startDate', 'StartDate', DATETIME),
            f('expirationDate', 'ExpirationDate', DATETIME, { optional: true }),
            f('isTransferable', 'IsTransferable', { t: 'scalar', kind: 'intBool' }),
          ),
        ),
      ),
    ),
    M(
      'Upload',
      0,
      f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }),
      f('fileType', 'FileType', str(64, { check: uploadFileType })),
      f('url', 'URL', str(256)),
      f('username', 'Username', str(256), { parseDefault: '' }),
      f('password', 'Password', str(256), { parseDefault: '' }),
      f('delaySeconds', 'DelaySeconds', UINT, { parseDefault: 0 }),
    ),
    M('UploadResponse', 0, f('status', 'Status', STATUS), f('startTime', 'StartTime', DATETIME), f('completeTime', 'CompleteTime', DATETIME)),
    M('FactoryReset', 0),
    M('FactoryResetResponse', 0),
    M('GetAllQueuedTransfers', 1),
    M(
      'GetAllQueuedTransfersResponse',
      1,
      f(
        'transferList',
        'TransferList',
        array(
          'AllQueuedTransferStruct',
          'cwmp:AllQueuedTransferStruct',
          struct(
            ...QUEUED_TRANSFER_FIELDS,
            f('isDownload', 'IsDownload', BOOL),
            f('fileType', 'FileType', str(64, { check: transferFileType })),
            f('fileSize', 'FileSize', UINT, { parseDefault: 0 }),
            f('targetFileName', 'TargetFileName', str(256), { parseDefault: '' }),
          ),
          { maxItems: 16 },
        ),
      ),
    ),
    M(
      'ScheduleDownload',
      2,
      f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }),
      f('fileType', 'FileType', str(64, { check: downloadFileType })),
      f('url', 'URL', str(256)),
      f('username', 'Username', str(256), { parseDefault: '' }),
      f('password', 'Password', str(256), { parseDefault: '' }),
      f('fileSize', 'FileSize', UINT, { parseDefault: 0 }),
      f('targetFileName', 'TargetFileName', str(256), { parseDefault: '' }),
      f('timeWindowList', 'TimeWindowList', array('TimeWindowStruct', 'cwmp:TimeWindowStruct', TIME_WINDOW, { minItems: 1, maxItems: 2 })),
    ),
    M('ScheduleDownloadResponse', 2),
    M('CancelTransfer', 2, f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' })),
    M('CancelTransferResponse', 2),
    M(
      'ChangeDUState',
      2,
      f('operations', 'Operations', { t: 'custom', name: 'Operation' }, { repeated: { minItems: 1 } }),
      // minOccurs=0 in the schema; always built, '' when a peer omits it.
      f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }),
    ),
    M('ChangeDUStateResponse', 2),

    // ACS methods
    M(
      'Inform',
      0,
      f('deviceId', 'DeviceId', DEVICE_ID),
      f('event', 'Event', array('EventStruct', 'cwmp:EventStruct', EVENT_STRUCT, { maxItems: 64 }), { parseDefault: [] }),
      f('maxEnvelopes', 'MaxEnvelopes', UINT, { parseDefault: 1 }),
      f('currentTime', 'CurrentTime', DATETIME),
      f('retryCount', 'RetryCount', UINT, { parseDefault: 0 }),
      f('parameterList', 'ParameterList', PARAMETER_VALUE_LIST, { parseDefault: [] }),
    ),
    M('InformResponse', 0, f('maxEnvelopes', 'MaxEnvelopes', UINT, { parseDefault: 1 })),
    M(
      'TransferComplete',
      0,
      f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }),
      f('faultStruct', 'FaultStruct', TRANSFER_FAULT),
      f('startTime', 'StartTime', DATETIME),
      f('completeTime', 'CompleteTime', DATETIME),
    ),
    M('TransferCompleteResponse', 0),
    M(
      'AutonomousTransferComplete',
      1,
      f('announceURL', 'AnnounceURL', str(1024), { parseDefault: '' }),
      f('transferURL', 'TransferURL', str(1024), { parseDefault: '' }),
      f('isDownload', 'IsDownload', BOOL),
      f('fileType', 'FileType', str(64, { check: transferFileType })),
      f('fileSize', 'FileSize', UINT, { parseDefault: 0 }),
      f('targetFileName', 'TargetFileName', str(256), { parseDefault: '' }),
      f('faultStruct', 'FaultStruct', TRANSFER_FAULT),
      f('startTime', 'StartTime', DATETIME),
      f('completeTime', 'CompleteTime', DATETIME),
    ),
    M('AutonomousTransferCompleteResponse', 1),
    M(
      'RequestDownload',
      0,
      f('fileType', 'FileType', str(64, { check: downloadFileType })),
      f('fileTypeArg', 'FileTypeArg', array('ArgStruct', 'cwmp:ArgStruct', struct(f('name', 'Name', str(64)), f('value', 'Value', str(256))), { maxItems: 16 }), {
        parseDefault: [],
      }),
    ),
    M('RequestDownloadResponse', 0),
    M(
      'Kicked',
      0,
      f('command', 'Command', str(32)),
      f('referer', 'Referer', str(64), { parseDefault: '' }),
      f('arg', 'Arg', str(256), { parseDefault: '' }),
      f('next', 'Next', str(1024), { parseDefault: '' }),
    ),
    M('KickedResponse', 0, f('nextURL', 'NextURL', str(1024), { parseDefault: '' })),
    M(
      'DUStateChangeComplete',
      2,
      f('results', 'Results', struct(...OP_RESULT_FIELDS), { repeated: { minItems: 1 } }),
      f('commandKey', 'CommandKey', COMMAND_KEY, { parseDefault: '' }),
    ),
    M('DUStateChangeCompleteResponse', 2),
    M(
      'AutonomousDUStateChangeComplete',
      2,
      f('results', 'Results', struct(...OP_RESULT_FIELDS, f('operationPerformed', 'OperationPerformed', str())), { repeated: { minItems: 1 } }),
    ),
    M('AutonomousDUStateChangeCompleteResponse', 2),
  ].map((m) => [m.method, m] as const),
);

/** Field layout of each ChangeDUState operation kind (xsi:type cwmp:<Kind>OpStruct), in schema order. */
export const OPERATION_FIELDS: Readonly<Record<'Install' | 'Update' | 'Uninstall', readonly FieldSpec[]>> = {
  Install: [
    f('url', 'URL', { t: 'scalar', kind: 'anyURI', maxLength: 1024 }),
    f('uuid', 'UUID', str(undefined, { check: uuidCheck }), { optional: true }),
    f('username', 'Username', str(256), { optional: true }),
    f('password', 'Password', str(256), { optional: true }),
    f('executionEnvRef', 'ExecutionEnvRef', str(256), { optional: true }),
  ],
  Update: [
    f('uuid', 'UUID', str(undefined, { check: uuidCheck }), { optional: true }),
    f('version', 'Version', str(32), { optional: true }),
    f('url', 'URL', { t: 'scalar', kind: 'anyURI', maxLength: 1024 }, { optional: true }),
    f('username', 'Username', str(256), { optional: true }),
    f('password', 'Password', str(256), { optional: true }),
  ],
  Uninstall: [
    f('uuid', 'UUID', str(undefined, { check: uuidCheck })),
    f('version', 'Version', str(32), { optional: true }),
    f('executionEnvRef', 'ExecutionEnvRef', str(256), { optional: true }),
  ],
};

/** The methods (body element names) the given version's schema defines, soap-env:Fault excluded. */
export function methodsInVersion(v: CwmpVersion): CwmpMethodName[] {
  const gen = schemaGen(v);
  return [...MESSAGES.values()].filter((m) => m.since <= gen).map((m) => m.method);
}
