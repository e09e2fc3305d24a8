/**
 * Task JSON: what an operator (through the REST API) asks the ACS to do on a device at its next
 * session. One TypeBox schema per task type, keyed by `type`; the union `TaskPayloadSchema` is the
 * request body schema the API serves in OpenAPI, and `validateTaskPayload` is the one validator
 * everybody uses (API, CLI, tests, the session engine when it reads a stored task back).
 *
 * Shapes are a public contract: extend them with optional fields, never rename or remove.
 * Every CPE method of src/cwmp/types.ts has a task type; `refresh` is the one composite task
 * (GetParameterNames then GetParameterValues of a sub-tree).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/** A full parameter name (no trailing dot). Max 256 characters per TR-069 string limits. */
const ParameterName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^.\\s][^\\s]*[^.\\s]$|^[^.\\s]$', description: 'full parameter name' });
/** A parameter name or a partial path ending with `.`. */
const ParameterPath = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\s]+$', description: 'parameter name or partial path ending with "."' });
/** An object path ending with `.` (AddObject: a table; DeleteObject: an instance). */
const ObjectPath = Type.String({ minLength: 2, maxLength: 256, pattern: '^[^\\s]*\\.$', description: 'object path ending with "."' });
const CommandKey = Type.String({ maxLength: 32 });
const ParameterKey = Type.String({ maxLength: 32 });
const Url = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z][A-Za-z0-9+.-]*://', description: 'absolute URL' });
const UnsignedInt = Type.Integer({ minimum: 0, maximum: 4294967295 });
const Notification = Type.Integer({ minimum: 0, maximum: 6, description: '0 off, 1 passive, 2 active, 3-6 lightweight (CWMP 1.4)' });
const XsdTypeName = Type.Union([
  Type.Literal('string'),
  Type.Literal('int'),
  Type.Literal('unsignedInt'),
  Type.Literal('long'),
  Type.Literal('unsignedLong'),
  Type.Literal('boolean'),
  Type.Literal('dateTime'),
  Type.Literal('base64'),
  Type.Literal('hexBinary'),
  Type.Literal('decimal'),
]);

export const GetParameterValuesTask = Type.Object(
  { type: Type.Literal('getParameterValues'), names: Type.Array(ParameterPath, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false, title: 'getParameterValues', description: 'Reads values; stored in the inventory.' },
);

export const SetParameterValuesTask = Type.Object(
  {
    type: Type.Literal('setParameterValues'),
    parameters: Type.Array(
      Type.Object(
        {
          name: ParameterName,
          value: Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
          /** xsd type to send; default from the stored parameter's type, else inferred from the JSON type. */
          type: Type.Optional(XsdTypeName),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    parameterKey: Type.Optional(ParameterKey),
  },
  { additionalProperties: false, title: 'setParameterValues', description: 'Writes values atomically; stored values change on success.' },
);

export const GetParameterNamesTask = Type.Object(
  { type: Type.Literal('getParameterNames'), path: Type.String({ maxLength: 256 }), nextLevel: Type.Boolean() },
  { additionalProperties: false, title: 'getParameterNames', description: 'Discovers names and writability; stored.' },
);

export const GetParameterAttributesTask = Type.Object(
  { type: Type.Literal('getParameterAttributes'), names: Type.Array(ParameterPath, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false, title: 'getParameterAttributes' },
);

export const SetParameterAttributesTask = Type.Object(
  {
    type: Type.Literal('setParameterAttributes'),
    parameters: Type.Array(
      Type.Object(
        {
          name: ParameterPath,
          notification: Type.Optional(Notification),
          accessList: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false, title: 'setParameterAttributes', description: 'A field that is absent is not changed.' },
);

export const AddObjectTask = Type.Object(
  { type: Type.Literal('addObject'), objectName: ObjectPath, parameterKey: Type.Optional(ParameterKey) },
  { additionalProperties: false, title: 'addObject', description: 'Result: { instanceNumber, status }.' },
);

export const DeleteObjectTask = Type.Object(
  { type: Type.Literal('deleteObject'), objectName: ObjectPath, parameterKey: Type.Optional(ParameterKey) },
  { additionalProperties: false, title: 'deleteObject' },
);

export const RebootTask = Type.Object(
  { type: Type.Literal('reboot'), commandKey: Type.Optional(CommandKey) },
  { additionalProperties: false, title: 'reboot' },
);

export const FactoryResetTask = Type.Object(
  { type: Type.Literal('factoryReset') },
  { additionalProperties: false, title: 'factoryReset' },
);

/** File server credentials travel in the task and are stored with it; they are not ACS secrets. */
const TransferCommon = {
  fileType: Type.String({ minLength: 1, maxLength: 64, description: 'e.g. "1 Firmware Upgrade Image", "3 Vendor Configuration File"' }),
  url: Url,
  username: Type.Optional(Type.String({ maxLength: 256 })),
  password: Type.Optional(Type.String({ maxLength: 256 })),
  commandKey: Type.Optional(CommandKey),
};

export const DownloadTask = Type.Object(
  {
    type: Type.Literal('download'),
    ...TransferCommon,
    fileSize: Type.Optional(UnsignedInt),
    targetFileName: Type.Optional(Type.String({ maxLength: 256 })),
    delaySeconds: Type.Optional(UnsignedInt),
    successUrl: Type.Optional(Type.String({ maxLength: 256 })),
    failureUrl: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false, title: 'download', description: 'Result: { status, startTime, completeTime } (status 1 = TransferComplete later).' },
);

export const UploadTask = Type.Object(
  { type: Type.Literal('upload'), ...TransferCommon, delaySeconds: Type.Optional(UnsignedInt) },
  { additionalProperties: false, title: 'upload' },
);

export const ScheduleInformTask = Type.Object(
  { type: Type.Literal('scheduleInform'), delaySeconds: Type.Integer({ minimum: 1, maximum: 4294967295 }), commandKey: Type.Optional(CommandKey) },
  { additionalProperties: false, title: 'scheduleInform' },
);

export const GetRPCMethodsTask = Type.Object(
  { type: Type.Literal('getRPCMethods') },
  { additionalProperties: false, title: 'getRPCMethods', description: 'Result: { methods: string[] }.' },
);

export const RefreshTask = Type.Object(
  { type: Type.Literal('refresh'), path: Type.String({ maxLength: 256, description: 'partial path ending with "." or "" for everything' }) },
  {
    additionalProperties: false,
    title: 'refresh',
    description: 'GetParameterNames(path, false) then GetParameterValues of the leaves; the stored sub-tree is replaced.',
  },
);

export const TimeWindow = Type.Object(
  {
    windowStart: UnsignedInt,
    windowEnd: UnsignedInt,
    windowMode: Type.String({ minLength: 1, maxLength: 64, description: '"1 At Any Time" | "2 Immediately" | "3 When Idle" | "4 Confirmation Needed"' }),
    userMessage: Type.Optional(Type.String({ maxLength: 256 })),
    maxRetries: Type.Optional(Type.Integer({ minimum: -1 })),
  },
  { additionalProperties: false },
);

export const ScheduleDownloadTask = Type.Object(
  {
    type: Type.Literal('scheduleDownload'),
    ...TransferCommon,
    fileSize: Type.Optional(UnsignedInt),
    targetFileName: Type.Optional(Type.String({ maxLength: 256 })),
    timeWindows: Type.Array(TimeWindow, { minItems: 1, maxItems: 2 }),
  },
  { additionalProperties: false, title: 'scheduleDownload' },
);

export const CancelTransferTask = Type.Object(
  { type: Type.Literal('cancelTransfer'), commandKey: CommandKey },
  { additionalProperties: false, title: 'cancelTransfer' },
);

export const GetQueuedTransfersTask = Type.Object(
  { type: Type.Literal('getQueuedTransfers') },
  { additionalProperties: false, title: 'getQueuedTransfers' },
);

export const GetAllQueuedTransfersTask = Type.Object(
  { type: Type.Literal('getAllQueuedTransfers') },
  { additionalProperties: false, title: 'getAllQueuedTransfers' },
);

const Uuid = Type.String({ maxLength: 36 });
export const DuOperation = Type.Union([
  Type.Object(
    {
      op: Type.Literal('Install'),
      url: Url,
      uuid: Type.Optional(Uuid),
      username: Type.Optional(Type.String({ maxLength: 256 })),
      password: Type.Optional(Type.String({ maxLength: 256 })),
      executionEnvRef: Type.Optional(Type.String({ maxLength: 256 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      op: Type.Literal('Update'),
      uuid: Type.Optional(Uuid),
      version: Type.Optional(Type.String({ maxLength: 32 })),
      url: Type.Optional(Url),
      username: Type.Optional(Type.String({ maxLength: 256 })),
      password: Type.Optional(Type.String({ maxLength: 256 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      op: Type.Literal('Uninstall'),
      uuid: Uuid,
      version: Type.Optional(Type.String({ maxLength: 32 })),
      executionEnvRef: Type.Optional(Type.String({ maxLength: 256 })),
    },
    { additionalProperties: false },
  ),
]);

export const ChangeDUStateTask = Type.Object(
  { type: Type.Literal('changeDUState'), operations: Type.Array(DuOperation, { minItems: 1, maxItems: 16 }), commandKey: Type.Optional(CommandKey) },
  { additionalProperties: false, title: 'changeDUState' },
);

export const SetVouchersTask = Type.Object(
  { type: Type.Literal('setVouchers'), vouchers: Type.Array(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9+/=\\s]+$', description: 'base64' }), { minItems: 1, maxItems: 64 }) },
  { additionalProperties: false, title: 'setVouchers' },
);

export const GetOptionsTask = Type.Object(
  { type: Type.Literal('getOptions'), optionName: Type.String({ maxLength: 64, description: '"" for all options' }) },
  { additionalProperties: false, title: 'getOptions' },
);

/** Every task schema, keyed by its `type` (the API may serve these one by one). */
export const TASK_SCHEMAS = {
  getParameterValues: GetParameterValuesTask,
  setParameterValues: SetParameterValuesTask,
  getParameterNames: GetParameterNamesTask,
  getParameterAttributes: GetParameterAttributesTask,
  setParameterAttributes: SetParameterAttributesTask,
  addObject: AddObjectTask,
  deleteObject: DeleteObjectTask,
  reboot: RebootTask,
  factoryReset: FactoryResetTask,
  download: DownloadTask,
  upload: UploadTask,
  scheduleInform: ScheduleInformTask,
  getRPCMethods: GetRPCMethodsTask,
  refresh: RefreshTask,
  scheduleDownload: ScheduleDownloadTask,
  cancelTransfer: CancelTransferTask,
  getQueuedTransfers: GetQueuedTransfersTask,
  getAllQueuedTransfers: GetAllQueuedTransfersTask,
  changeDUState: ChangeDUStateTask,
  setVouchers: SetVouchersTask,
  getOptions: GetOptionsTask,
} as const satisfies Record<string, TSchema>;

export type TaskType = keyof typeof TASK_SCHEMAS;
export const TASK_TYPES = Object.keys(TASK_SCHEMAS) as TaskType[];

/** The request body of "create a task": one of the task shapes, discriminated by `type`. */
export const TaskPayloadSchema = Type.Union(Object.values(TASK_SCHEMAS), { title: 'TaskPayload', description: 'A task, discriminated by "type".' });

export type GetParameterValuesTaskPayload = Static<typeof GetParameterValuesTask>;
export type SetParameterValuesTaskPayload = Static<typeof SetParameterValuesTask>;
export type GetParameterNamesTaskPayload = Static<typeof GetParameterNamesTask>;
export type GetParameterAttributesTaskPayload = Static<typeof GetParameterAttributesTask>;
export type SetParameterAttributesTaskPayload = Static<typeof SetParameterAttributesTask>;
export type AddObjectTaskPayload = Static<typeof AddObjectTask>;
export type DeleteObjectTaskPayload = Static<typeof DeleteObjectTask>;
export type RebootTaskPayload = Static<typeof RebootTask>;
export type FactoryResetTaskPayload = Static<typeof FactoryResetTask>;
export type DownloadTaskPayload = Static<typeof DownloadTask>;
export type UploadTaskPayload = Static<typeof UploadTask>;
export type ScheduleInformTaskPayload = Static<typeof ScheduleInformTask>;
export type GetRPCMethodsTaskPayload = Static<typeof GetRPCMethodsTask>;
export type RefreshTaskPayload = Static<typeof RefreshTask>;
export type ScheduleDownloadTaskPayload = Static<typeof ScheduleDownloadTask>;
export type CancelTransferTaskPayload = Static<typeof CancelTransferTask>;
export type GetQueuedTransfersTaskPayload = Static<typeof GetQueuedTransfersTask>;
export type GetAllQueuedTransfersTaskPayload = Static<typeof GetAllQueuedTransfersTask>;
export type ChangeDUStateTaskPayload = Static<typeof ChangeDUStateTask>;
export type SetVouchersTaskPayload = Static<typeof SetVouchersTask>;
export type GetOptionsTaskPayload = Static<typeof GetOptionsTask>;
export type TaskPayload = Static<typeof TaskPayloadSchema>;

/** One problem found in a task JSON. */
export interface TaskValidationIssue {
  /** JSON pointer of the offending value, e.g. `/parameters/0/name`. */
  path: string;
  message: string;
}

/** Thrown by `validateTaskPayload`; the API maps it to HTTP 400 `{ code: 'invalid_task', ... }`. */
export class TaskValidationError extends Error {
  readonly code = 'invalid_task';
  readonly issues: TaskValidationIssue[];
  constructor(issues: TaskValidationIssue[]) {
    super(`invalid task: ${issues.map((i) => `${i.path || '/'} ${i.message}`).join('; ')}`);
    this.name = 'TaskValidationError';
    this.issues = issues;
  }
}

type TaskChecker = { Check(value: unknown): boolean; Errors(value: unknown): Iterable<{ path: string; message: string }> };
const compiled: Record<string, TaskChecker> = Object.fromEntries(
  Object.entries(TASK_SCHEMAS).map(([type, schema]): [string, TaskChecker] => [type, TypeCompiler.Compile(schema as TSchema)]),
);

/** Issues that a JSON schema cannot express. */
function semanticIssues(task: TaskPayload): TaskValidationIssue[] {
  const issues: TaskValidationIssue[] = [];
  if (task.type === 'setParameterValues') {
    const seen = new Set<string>();
    task.parameters.forEach((p, i) => {
      if (seen.has(p.name)) issues.push({ path: `/parameters/${i}/name`, message: `duplicate parameter ${p.name}` });
      seen.add(p.name);
      if (typeof p.value === 'number' && !Number.isFinite(p.value)) issues.push({ path: `/parameters/${i}/value`, message: 'must be finite' });
    });
  }
  if (task.type === 'setParameterAttributes') {
    task.parameters.forEach((p, i) => {
      if (p.notification === undefined && p.accessList === undefined) {
        issues.push({ path: `/parameters/${i}`, message: 'must change notification or accessList' });
      }
    });
  }
  if (task.type === 'refresh' && task.path !== '' && !task.path.endsWith('.')) {
    issues.push({ path: '/path', message: 'must be "" or a partial path ending with "."' });
  }
  if (task.type === 'scheduleDownload') {
    task.timeWindows.forEach((w, i) => {
      if (w.windowEnd < w.windowStart) issues.push({ path: `/timeWindows/${i}/windowEnd`, message: 'must not be before windowStart' });
    });
  }
  return issues;
}

/**
 * Checks that `input` is a valid task and returns it typed.
 * @throws TaskValidationError listing every problem (unknown type, missing/extra fields, bad values).
 */
export function validateTaskPayload(input: unknown): TaskPayload {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TaskValidationError([{ path: '', message: 'must be an object' }]);
  }
  const type = (input as { type?: unknown }).type;
  if (typeof type !== 'string' || !(type in compiled)) {
    throw new TaskValidationError([{ path: '/type', message: `must be one of ${TASK_TYPES.join(', ')}` }]);
  }
  const checker = compiled[type];
  if (!checker.Check(input)) {
    const issues = [...checker.Errors(input)].slice(0, 20).map((e) => ({ path: e.path, message: e.message }));
    throw new TaskValidationError(issues);
  }
  const task = input as TaskPayload;
  const extra = semanticIssues(task);
  if (extra.length) throw new TaskValidationError(extra);
  return task;
}
