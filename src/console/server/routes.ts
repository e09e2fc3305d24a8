/**
 * REST routes the console needs beyond the core API: the fleet overview (aggregates the store
 * cannot answer page by page) and "connection request now" for one device.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AcsControl } from '../../acs/app.ts';
import { apiError } from '../../api/errors.ts';
import type { Store } from '../../store/types.ts';
import { consoleErrorResponses, principalOf } from '../../users/plugin.ts';
import type { FleetStatsSource, OnlineRule } from './stats.ts';

/** Longest window of the informs chart. */
export const MAX_OVERVIEW_HOURS = 24;

const OverviewQuery = Type.Object(
  { hours: Type.Integer({ minimum: 1, maximum: MAX_OVERVIEW_HOURS, default: 3, description: 'window of the informs-per-minute series' }) },
  { additionalProperties: false },
);

const Counts = {
  total: Type.Integer(),
  online: Type.Integer(),
  offline: Type.Integer(),
  never: Type.Integer({ description: 'pre-registered, never contacted the ACS' }),
};

const OverviewSchema = Type.Object({
  generatedAt: Type.String(),
  onlineRule: Type.Object({
    defaultIntervalSeconds: Type.Number(),
    onlineFactor: Type.Number(),
    graceSeconds: Type.Number(),
    description: Type.String(),
  }),
  activeSessions: Type.Integer(),
  devices: Type.Object(Counts),
  models: Type.Array(
    Type.Object({
      productClass: Type.String(),
      ...Counts,
      firmware: Type.Array(Type.Object({ softwareVersion: Type.Union([Type.String(), Type.Null()]), count: Type.Integer() })),
    }),
  ),
  informs: Type.Object({
    since: Type.String(),
    until: Type.String(),
    buckets: Type.Array(Type.Object({ at: Type.String(), informs: Type.Integer(), failed: Type.Integer() })),
  }),
  computeMs: Type.Integer({ description: 'time spent computing the fleet numbers (cached for a few seconds)' }),
});

const DeviceParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 512, description: 'device id, URL-encoded' }) });

const ConnectionRequestAnswer = Type.Object({
  deviceId: Type.String(),
  status: Type.String({ description: 'ok, auth-failed, unreachable, busy, no-address or error' }),
  transport: Type.String(),
  httpStatus: Type.Optional(Type.Integer()),
  detail: Type.String(),
  deduplicated: Type.Optional(Type.Boolean({ description: 'nothing was sent: another request for this device (on any ACS instance) was in flight; its outcome is given' })),
});

export interface ConsoleRoutesOptions {
  store: Store;
  acs: AcsControl;
  stats: FleetStatsSource;
  rule: OnlineRule;
}

/** Describes the online rule in one sentence (shown in the overview). */
export function describeRule(rule: OnlineRule): string {
  return `A device is online when its last contact is within ${rule.onlineFactor} periodic inform intervals plus ${rule.graceSeconds} s ` +
    `(its own PeriodicInformInterval when known, else ${rule.defaultIntervalSeconds} s).`;
}

export function registerConsoleRoutes(scope: FastifyInstance, options: ConsoleRoutesOptions): void {
  const { store, acs, stats, rule } = options;

  scope.get<{ Querystring: Static<typeof OverviewQuery> }>(
    '/api/overview',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['console'],
        summary: 'Fleet overview: devices online/offline, by model and firmware, informs per minute',
        querystring: OverviewQuery,
        response: { 200: { ...OverviewSchema, description: 'the overview' }, ...consoleErrorResponses({ 400: ['VALIDATION_FAILED'], 401: ['UNAUTHORIZED', 'INVALID_TOKEN', 'SESSION_EXPIRED'] }) },
      },
    },
    async (request) => {
      const [fleet, informs] = await Promise.all([stats.fleet(), stats.informs(request.query.hours)]);
      return {
        generatedAt: new Date().toISOString(),
        onlineRule: { ...rule, description: describeRule(rule) },
        activeSessions: acs.activeSessions(),
        devices: fleet.devices,
        models: fleet.models,
        informs,
        computeMs: fleet.computeMs,
      };
    },
  );

  scope.post<{ Params: Static<typeof DeviceParams> }>(
    '/api/console/devices/:id/connection-request',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['console'],
        summary: 'Ask the device to open a session now (no task queued)',
        params: DeviceParams,
        response: {
          200: { ...ConnectionRequestAnswer, description: 'the connection request result' },
          ...consoleErrorResponses({ 401: ['UNAUTHORIZED', 'INVALID_TOKEN', 'SESSION_EXPIRED'], 403: ['FORBIDDEN'], 404: ['DEVICE_NOT_FOUND'] }),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!(await store.getDevice(id))) throw apiError('DEVICE_NOT_FOUND', { id });
      const result = await acs.connectionRequest(id);
      const principal = principalOf(request);
      await store
        .appendAudit({
          actor: principal.name,
          action: 'device.connection-request',
          target: id,
          detail: { status: result.status, transport: result.transport, tokenId: principal.tokenId, role: principal.role },
        })
        .catch((err: unknown) => request.log.error({ err }, 'could not record the audit entry'));
      return { deviceId: id, ...result };
    },
  );
}
