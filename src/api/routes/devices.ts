/**
 * Device routes: search, detail, pre-registration, credentials, deletion, parameters, tags and
 * sessions (with their Inform events).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { makeDeviceId, StoreError, type Device, type DevicePatch, type DeviceQuery, type DeviceSortField } from '../../store/types.ts';
import { authorize } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { parseParameterFilter } from '../device-filter.ts';
import { apiError } from '../errors.ts';
import { deviceView, parameterView } from '../secrets.ts';
import {
  CredentialsInput,
  CursorQuery,
  DeviceIdParam,
  DeviceSchema,
  errorResponses,
  LimitQuery,
  NextCursor,
  ParameterSchema,
  SessionSchema,
  TagParam,
  described,
} from '../schemas.ts';
import { IncludeSecretsQuery, toUtcTimestamp, TimestampQuery } from './common.ts';

const SORT_FIELDS: DeviceSortField[] = ['id', 'lastContact', 'firstContact', 'productClass', 'softwareVersion', 'serialNumber'];

const IdParams = Type.Object({ id: DeviceIdParam });
const TagParams = Type.Object({ id: DeviceIdParam, tag: TagParam });

const DeviceListQuery = Type.Object(
  {
    id: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 1000, description: 'exact device ids (repeat the key)' })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'case-insensitive substring of the id' })),
    oui: Type.Optional(Type.String({ maxLength: 6 })),
    manufacturer: Type.Optional(Type.String({ maxLength: 256 })),
    productClass: Type.Optional(Type.String({ maxLength: 256 })),
    softwareVersion: Type.Optional(Type.String({ maxLength: 256 })),
    tag: Type.Optional(Type.Array(TagParam, { maxItems: 32, description: 'devices carrying every listed tag (repeat the key)' })),
    where: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), {
        maxItems: 16,
        description:
          'parameter value conditions, all must hold: "<name> <op> <value>", op one of eq, ne, prefix, lt, gt, lte, gte; ' +
          'numeric comparison when the value is a number, text when it is quoted ("10")',
      }),
    ),
    lastContactAfter: Type.Optional(TimestampQuery),
    lastContactBefore: Type.Optional(TimestampQuery),
    sort: Type.Union(SORT_FIELDS.map((f) => Type.Literal(f)), { default: 'id' }),
    order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' }),
    limit: LimitQuery,
    offset: Type.Integer({ minimum: 0, default: 0 }),
    cursor: Type.Optional(CursorQuery),
    count: Type.Boolean({
      default: true,
      description: 'false: leave out `total` (a filtered first page over a large fleet then costs only the page)',
    }),
  },
  { additionalProperties: false },
);
type DeviceListQueryT = Static<typeof DeviceListQuery>;

const DevicePage = Type.Object({
  devices: Type.Array(DeviceSchema),
  total: Type.Optional(Type.Integer({ description: 'devices matching the filters, all pages together (absent with count=false)' })),
  limit: Type.Integer(),
  offset: Type.Integer(),
  nextCursor: NextCursor,
});

const NewDeviceBody = Type.Object(
  {
    oui: Type.String({ pattern: '^[0-9A-F]{6}$', description: '6 upper-case hex digits' }),
    productClass: Type.String({ minLength: 1, maxLength: 64 }),
    serialNumber: Type.String({ minLength: 1, maxLength: 64 }),
    manufacturer: Type.String({ maxLength: 64, default: '' }),
    tags: Type.Optional(Type.Array(TagParam, { maxItems: 64 })),
    credentials: Type.Optional(CredentialsInput),
  },
  { additionalProperties: false },
);

const PatchDeviceBody = Type.Object(
  {
    tags: Type.Optional(Type.Array(TagParam, { maxItems: 64, description: 'replaces every tag' })),
    credentials: Type.Optional(CredentialsInput),
  },
  { additionalProperties: false, minProperties: 1 },
);

const ParametersQuery = Type.Object(
  {
    prefix: Type.Optional(Type.String({ maxLength: 256, description: 'only names starting with this, e.g. "Device.ManagementServer."' })),
    includeSecrets: IncludeSecretsQuery,
  },
  { additionalProperties: false },
);

const DetailQuery = Type.Object({ includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });

const EventsQuery = Type.Object({ limit: LimitQuery, cursor: Type.Optional(CursorQuery) }, { additionalProperties: false });

/**
 * Reads a device or fails with DEVICE_NOT_FOUND.
 * @throws ApiError DEVICE_NOT_FOUND
 */
export async function requireDevice(ctx: ApiContext, id: string): Promise<Device> {
  const device = await ctx.store.getDevice(id);
  if (!device) throw apiError('DEVICE_NOT_FOUND', { id });
  return device;
}

/**
 * Checks `?includeSecrets=true`: only admins may ask, and the read is audited.
 * @returns whether secrets are to be shown.
 * @throws ApiError FORBIDDEN for a non-admin asking.
 */
export function secretsRequested(request: FastifyRequest, asked: boolean, target: string): boolean {
  if (!asked) return false;
  const principal = request.principal!;
  authorize(principal, 'admin', 'read secrets (includeSecrets=true)');
  request.auditNote = { action: 'secrets.read', target };
  return true;
}

function sortedUnique(tags: string[]): string[] {
  return [...new Set(tags)].sort();
}

export function registerDeviceRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get<{ Querystring: DeviceListQueryT }>(
    '/devices',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['devices'],
        summary: 'List and search devices',
        description:
          'Filters combine with AND. Pagination: offset/limit, or the opaque nextCursor (faster on deep pages). `total` counts every match (count=false skips it).',
        querystring: DeviceListQuery,
        response: { 200: described(DevicePage, 'a page of devices'), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const q = request.query;
      const query: DeviceQuery = {
        ids: q.id,
        idContains: q.q,
        oui: q.oui,
        manufacturer: q.manufacturer,
        productClass: q.productClass,
        softwareVersion: q.softwareVersion,
        tags: q.tag,
        parameters: q.where?.map(parseParameterFilter),
        lastContactAfter: q.lastContactAfter === undefined ? undefined : toUtcTimestamp(q.lastContactAfter, 'lastContactAfter'),
        lastContactBefore: q.lastContactBefore === undefined ? undefined : toUtcTimestamp(q.lastContactBefore, 'lastContactBefore'),
        sort: { field: q.sort, direction: q.order },
        limit: q.limit,
        offset: q.offset,
        cursor: q.cursor,
        count: q.count,
      };
      const page = await ctx.store.queryDevices(query);
      return {
        devices: page.devices.map((d) => deviceView(d, false)),
        ...(q.count ? { total: page.total ?? (await ctx.store.countDevices(query)) } : {}),
        limit: q.limit,
        offset: q.cursor === undefined ? q.offset : 0,
        nextCursor: page.nextCursor,
      };
    },
  );

  api.post<{ Body: Static<typeof NewDeviceBody> }>(
    '/devices',
    {
      config: { access: 'operator', auditAction: 'device.create' },
      schema: {
        tags: ['devices'],
        summary: 'Pre-register a device (credentials need the admin role)',
        body: NewDeviceBody,
        response: { 201: described(DeviceSchema, 'the created device'), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.credentials) authorize(request.principal!, 'admin', 'set device credentials');
      const id = makeDeviceId(body);
      request.auditNote = { target: id };
      try {
        const device = await ctx.store.createDevice({ ...body, tags: body.tags && sortedUnique(body.tags) });
        return reply.code(201).header('location', `/api/devices/${encodeURIComponent(id)}`).send(deviceView(device, false));
      } catch (err) {
        if (err instanceof StoreError && err.code === 'conflict') throw apiError('DEVICE_EXISTS', { id });
        throw err;
      }
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DetailQuery> }>(
    '/devices/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['devices'],
        summary: 'One device; passwords only with includeSecrets=true (admin, audited)',
        params: IdParams,
        querystring: DetailQuery,
        response: { 200: described(DeviceSchema, 'the device'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const withSecrets = secretsRequested(request, request.query.includeSecrets, id);
      return deviceView(await requireDevice(ctx, id), withSecrets);
    },
  );

  api.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof PatchDeviceBody> }>(
    '/devices/:id',
    {
      config: { access: 'operator', auditAction: 'device.update' },
      schema: {
        tags: ['devices'],
        summary: 'Replace tags and/or set credentials (credentials need the admin role)',
        params: IdParams,
        body: PatchDeviceBody,
        response: { 200: described(DeviceSchema, 'the changed device'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const body = request.body;
      if (body.credentials) authorize(request.principal!, 'admin', 'set device credentials');
      const patch: DevicePatch = { tags: body.tags && sortedUnique(body.tags), credentials: body.credentials };
      const device = await ctx.store.updateDevice(id, patch);
      if (!device) throw apiError('DEVICE_NOT_FOUND', { id });
      return deviceView(device, false);
    },
  );

  api.delete<{ Params: Static<typeof IdParams> }>(
    '/devices/:id',
    {
      config: { access: 'admin', auditAction: 'device.delete' },
      schema: {
        tags: ['devices'],
        summary: 'Delete a device with its parameters, tasks, faults and sessions',
        params: IdParams,
        response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (ctx.acs.isInSession(id)) throw apiError('DEVICE_IN_SESSION', { id });
      if (!(await ctx.store.deleteDevice(id))) throw apiError('DEVICE_NOT_FOUND', { id });
      return reply.code(204).send();
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof ParametersQuery> }>(
    '/devices/:id/parameters',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['devices'],
        summary: "The device's parameter tree as last seen; secret values hidden unless includeSecrets=true (admin, audited)",
        params: IdParams,
        querystring: ParametersQuery,
        response: {
          200: described(Type.Object({ deviceId: Type.String(), parameters: Type.Array(ParameterSchema) }), 'the parameters, sorted by name'),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const withSecrets = secretsRequested(request, request.query.includeSecrets, id);
      await requireDevice(ctx, id);
      const parameters = await ctx.store.getParameters(id, request.query.prefix ? { prefix: request.query.prefix } : undefined);
      return { deviceId: id, parameters: parameters.map((p) => parameterView(p, withSecrets)) };
    },
  );

  const TagsAnswer = Type.Object({ deviceId: Type.String(), tags: Type.Array(Type.String()) });

  api.put<{ Params: Static<typeof TagParams> }>(
    '/devices/:id/tags/:tag',
    {
      config: { access: 'operator', auditAction: 'device.tag.add' },
      schema: {
        tags: ['devices'],
        summary: 'Add a tag (idempotent)',
        params: TagParams,
        response: { 200: described(TagsAnswer, 'the device\'s tags after the change'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id, tag } = request.params;
      request.auditNote = { detail: { tag } };
      const device = await requireDevice(ctx, id);
      if (device.tags.includes(tag)) return { deviceId: id, tags: device.tags };
      const updated = await ctx.store.updateDevice(id, { tags: sortedUnique([...device.tags, tag]) });
      if (!updated) throw apiError('DEVICE_NOT_FOUND', { id });
      return { deviceId: id, tags: updated.tags };
    },
  );

  api.delete<{ Params: Static<typeof TagParams> }>(
    '/devices/:id/tags/:tag',
    {
      config: { access: 'operator', auditAction: 'device.tag.remove' },
      schema: {
        tags: ['devices'],
        summary: 'Remove a tag',
        params: TagParams,
        response: { 200: described(TagsAnswer, 'the device\'s tags after the change'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id, tag } = request.params;
      request.auditNote = { detail: { tag } };
      const device = await requireDevice(ctx, id);
      if (!device.tags.includes(tag)) throw apiError('TAG_NOT_FOUND', { id, tag });
      const updated = await ctx.store.updateDevice(id, { tags: device.tags.filter((t) => t !== tag) });
      if (!updated) throw apiError('DEVICE_NOT_FOUND', { id });
      return { deviceId: id, tags: updated.tags };
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof EventsQuery> }>(
    '/devices/:id/events',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['devices'],
        summary: "The device's CWMP sessions with their Inform events, newest first",
        params: IdParams,
        querystring: EventsQuery,
        response: {
          200: described(Type.Object({ deviceId: Type.String(), sessions: Type.Array(SessionSchema), nextCursor: NextCursor }), 'a page of sessions'),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      await requireDevice(ctx, id);
      const page = await ctx.store.listSessions({ deviceId: id, limit: request.query.limit, cursor: request.query.cursor });
      return { deviceId: id, sessions: page.sessions, nextCursor: page.nextCursor };
    },
  );
}
