/**
 * Provisioning views of one device: the dry run (what presets would change, no RPC sent), the
 * planner's memory (values set, values refused), forgetting refusals so they are tried again, and
 * the history of values the device reported.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import '../../api/context.ts';
import { TimestampQuery, toUtcTimestamp } from '../../api/routes/common.ts';
import { ConnectionRequestResultSchema, CursorQuery, DeviceIdParam, LimitQuery, NextCursor, TaskSchema } from '../../api/schemas.ts';
import { taskView } from '../../api/secrets.ts';
import { downloadPayload } from '../../provisioning/rollouts.ts';
import { TRIGGER_EVENTS } from '../../provisioning/desired.ts';
import { PresetInputSchema, ProvisioningValidationError, validatePresetInput } from '../../provisioning/schemas.ts';
import type { Preset, PresetSpec } from '../../store/provisioning/types.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';

const DeviceParams = Type.Object({ id: DeviceIdParam });
const EventName = Type.Union(Object.keys(TRIGGER_EVENTS).map((k) => Type.Literal(k)), { description: 'a trigger: bootstrap, boot, periodic, value-change, connection-request, transfer-complete' });
const DryRunQuery = Type.Object(
  { event: Type.Optional(Type.Array(EventName, { maxItems: 6, description: 'assume an Inform with these events (repeat the key); default: every trigger fires' })) },
  { additionalProperties: false },
);
const DryRunBody = Type.Object(
  {
    events: Type.Optional(Type.Array(EventName, { maxItems: 6 })),
    presets: Type.Optional(Type.Array(PresetInputSchema, { maxItems: 50, description: 'evaluate these (unsaved) presets instead of the stored ones' })),
  },
  { additionalProperties: false },
);
const Change = Type.Object({ name: Type.String(), from: Type.Union([Type.String(), Type.Null()]), to: Type.String(), preset: Type.String(), secret: Type.Boolean() });
const DryRunSchema = Type.Object(
  {
    deviceId: Type.String(),
    presets: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), weight: Type.Integer(), applies: Type.Boolean(), reasons: Type.Array(Type.String()) })),
    bootstrap: Type.Union([Type.Object({ key: Type.String(), revision: Type.Integer(), pending: Type.Boolean() }), Type.Null()]),
    quarantined: Type.Boolean(),
    changes: Type.Object({
      set: Type.Array(Change),
      read: Type.Array(Type.String()),
      attributes: Type.Array(Type.Object({ name: Type.String(), from: Type.Unknown(), to: Type.Unknown(), preset: Type.String() })),
      addObjects: Type.Array(Type.Object({ table: Type.String(), count: Type.Integer() })),
      deleteObjects: Type.Array(Type.String()),
      discover: Type.Array(Type.String()),
      downloads: Type.Array(Type.Object({ kind: Type.String(), fileId: Type.String(), fileName: Type.String(), version: Type.Union([Type.String(), Type.Null()]), reason: Type.String() })),
      tags: Type.Object({ add: Type.Array(Type.String()), remove: Type.Array(Type.String()) }),
    }),
    unchanged: Type.Integer(),
    skipped: Type.Array(Type.Object({ name: Type.String(), reason: Type.String() })),
    issues: Type.Array(Type.String()),
  },
  { title: 'DryRun', description: 'What the presets would change on the device, from what the ACS knows' },
);
const MemorySchema = Type.Object(
  { entries: Type.Array(Type.Object({ kind: Type.String(), name: Type.String(), detail: Type.Unknown(), at: Type.String() })) },
  { description: 'What the planner remembers: applied (hash of the value set), refused (with the fault), downloads, bootstrap' },
);
const ForgetQuery = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'only this parameter (or attr:<name>)' })) }, { additionalProperties: false });
const HistoryQuery = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), since: Type.Optional(TimestampQuery), limit: LimitQuery, cursor: Type.Optional(CursorQuery) },
  { additionalProperties: false },
);
const HistorySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  value: Type.String(),
  previous: Type.Union([Type.String(), Type.Null()]),
  source: Type.String(),
  at: Type.String(),
});

const DownloadBody = Type.Object(
  {
    fileId: Type.String({ minLength: 1, maxLength: 64, description: 'a file of the library: URL, FileSize, TargetFileName and credentials are filled in' }),
    commandKey: Type.Optional(Type.String({ maxLength: 32 })),
    delaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
  },
  { additionalProperties: false },
);
const DownloadQuery = Type.Object({ connectionRequest: Type.Boolean({ default: false, description: 'ask the device to open a session now' }) }, { additionalProperties: false });

/** Stored-preset shape of unsaved presets given to a dry run. */
function transientPresets(inputs: unknown[]): Preset[] {
  const at = new Date(0).toISOString();
  return inputs.map((body, i) => {
    let spec: PresetSpec;
    try {
      spec = validatePresetInput(body) as PresetSpec;
    } catch (err) {
      if (err instanceof ProvisioningValidationError) throw new ProvisioningValidationError('preset', err.issues.map((x) => ({ ...x, path: `/presets/${i}${x.path}` })));
      throw err;
    }
    return { ...spec, id: `dry-run-${i}`, revision: 0, createdAt: at, updatedAt: at };
  });
}

export function registerDeviceProvisioningRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  const svc = () => ctx.service;
  const dryRun = async (id: string, events: string[] | undefined, presets?: Preset[]) => {
    const codes = events ? events.map((e) => TRIGGER_EVENTS[e as keyof typeof TRIGGER_EVENTS]) : null;
    const report = await svc().dryRun(id, { events: codes, presets });
    if (!report) throw provisioningError('DEVICE_NOT_FOUND', { id });
    return report;
  };

  api.get<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof DryRunQuery> }>(
    '/devices/:id/provisioning/dry-run',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['presets'],
        summary: 'What the presets would change on a device',
        description: 'Computed from what the ACS knows; values it does not know are listed under changes.read (the device would be asked first).',
        params: DeviceParams,
        querystring: DryRunQuery,
        response: { 200: DryRunSchema, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => dryRun(request.params.id, request.query.event),
  );

  api.post<{ Params: Static<typeof DeviceParams>; Body: Static<typeof DryRunBody> }>(
    '/devices/:id/provisioning/dry-run',
    {
      config: { access: 'operator', auditAction: 'provisioning.dry-run' },
      schema: {
        tags: ['presets'],
        summary: 'Dry run with given events and/or unsaved presets',
        params: DeviceParams,
        body: DryRunBody,
        response: { 200: DryRunSchema, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => dryRun(request.params.id, request.body.events, request.body.presets ? transientPresets(request.body.presets) : undefined),
  );

  api.get<{ Params: Static<typeof DeviceParams> }>(
    '/devices/:id/provisioning',
    {
      config: { access: 'viewer' },
      schema: { tags: ['presets'], summary: "The planner's memory of a device", params: DeviceParams, response: { 200: MemorySchema, ...provisioningErrorResponses(401, 403, 404) } },
    },
    async (request) => {
      if (!(await ctx.store.getDevice(request.params.id))) throw provisioningError('DEVICE_NOT_FOUND', { id: request.params.id });
      return { entries: await svc().deviceMemory(request.params.id) };
    },
  );

  api.delete<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof ForgetQuery> }>(
    '/devices/:id/provisioning/refusals',
    {
      config: { access: 'operator', auditAction: 'provisioning.retry' },
      schema: {
        tags: ['presets'],
        summary: 'Forget refused values so the next session tries them again',
        params: DeviceParams,
        querystring: ForgetQuery,
        response: { 200: Type.Object({ forgotten: Type.Integer() }, { description: 'How many refusals were forgotten' }), ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      if (!(await ctx.store.getDevice(request.params.id))) throw provisioningError('DEVICE_NOT_FOUND', { id: request.params.id });
      const p = svc().provisioning;
      let forgotten = await p.deleteDeviceMemory(request.params.id, ['refused'], request.query.name);
      if (request.query.name === undefined) {
        // Refused downloads too (kept as download memory with state "refused").
        for (const e of await p.getDeviceMemory(request.params.id, ['firmware', 'config-file'])) {
          if (e.detail?.state === 'refused') forgotten += await p.deleteDeviceMemory(request.params.id, [e.kind], e.name);
        }
      }
      return { forgotten };
    },
  );

  api.post<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof DownloadQuery>; Body: Static<typeof DownloadBody> }>(
    '/devices/:id/download',
    {
      config: { access: 'operator', auditAction: 'task.create' },
      schema: {
        tags: ['files'],
        summary: 'Queue a Download of a library file',
        description: 'Creates a `download` task whose URL, FileType, FileSize, TargetFileName and credentials come from the file record.',
        params: DeviceParams,
        querystring: DownloadQuery,
        body: DownloadBody,
        response: {
          201: Type.Object({ task: TaskSchema, connectionRequest: Type.Optional(ConnectionRequestResultSchema) }, { description: 'The task queued' }),
          ...provisioningErrorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const { fileId, commandKey, delaySeconds } = request.body;
      const file = await svc().provisioning.getFile(fileId);
      if (!file) throw provisioningError('INVALID_FILE_REFERENCE', { reason: `no file has the id "${fileId}"` });
      if (!(await ctx.store.getDevice(request.params.id))) throw provisioningError('DEVICE_NOT_FOUND', { id: request.params.id });
      const payload = downloadPayload(file, svc().fileBaseUrl, commandKey ?? '');
      if (commandKey === undefined) delete payload.commandKey;
      if (delaySeconds !== undefined) payload.delaySeconds = delaySeconds;
      const result = await ctx.acs.enqueueTask(request.params.id, payload, { connectionRequest: request.query.connectionRequest });
      request.auditNote = { target: request.params.id, detail: { fileId } };
      return reply.code(201).send({ ...result, task: taskView(result.task, false) });
    },
  );

  api.get<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof HistoryQuery> }>(
    '/devices/:id/history',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['history'],
        summary: 'Values the device reported, newest first',
        description: 'Recorded from Informs: every value of an Inform with 4 VALUE CHANGE, and changed values of other Informs. Filter one parameter with ?name=.',
        params: DeviceParams,
        querystring: HistoryQuery,
        response: { 200: Type.Object({ entries: Type.Array(HistorySchema), nextCursor: NextCursor }, { description: 'A page of history' }), ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      if (!(await ctx.store.getDevice(request.params.id))) throw provisioningError('DEVICE_NOT_FOUND', { id: request.params.id });
      const q = request.query;
      const page = await svc().provisioning.listHistory({
        deviceId: request.params.id,
        name: q.name,
        since: q.since ? toUtcTimestamp(q.since, 'since') : undefined,
        limit: q.limit,
        cursor: q.cursor,
      });
      return { entries: page.items.map(({ deviceId: _d, ...rest }) => rest), nextCursor: page.nextCursor };
    },
  );
}
