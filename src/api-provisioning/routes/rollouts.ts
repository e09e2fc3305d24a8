/**
 * Rollout routes: create (the target is resolved to a device list at once), progress, per-device
 * states, pause, resume, cancel.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import '../../api/context.ts';
import { CursorQuery, LimitQuery, NextCursor } from '../../api/schemas.ts';
import { RolloutInputSchema, validateRolloutInput } from '../../provisioning/schemas.ts';
import type { RolloutDeviceState, RolloutSpec, RolloutState } from '../../store/provisioning/types.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';
import { RolloutDeviceSchema, RolloutProgressSchema } from '../views.ts';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const NoQuery = Type.Object({}, { additionalProperties: false });
const RolloutStateSchema = Type.Union(['running', 'paused', 'stopped', 'cancelled', 'completed'].map((s) => Type.Literal(s)));
const DeviceStateSchema = Type.Union(['pending', 'downloading', 'succeeded', 'failed', 'skipped'].map((s) => Type.Literal(s)));
const ListQuery = Type.Object({ state: Type.Optional(Type.Array(RolloutStateSchema, { maxItems: 5 })), limit: LimitQuery, cursor: Type.Optional(CursorQuery) }, { additionalProperties: false });
const DevicesQuery = Type.Object({ state: Type.Optional(Type.Array(DeviceStateSchema, { maxItems: 5 })), limit: LimitQuery, cursor: Type.Optional(CursorQuery) }, { additionalProperties: false });

const MAX_REASON = 512;

/** The optional `{ reason }` body of the actions. @throws VALIDATION_FAILED for anything else. */
function reasonOf(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  const r = (body as { reason?: unknown }).reason;
  const extra = typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).filter((k) => k !== 'reason') : ['(body)'];
  if (extra.length > 0 || (r !== undefined && (typeof r !== 'string' || r.length > MAX_REASON))) {
    throw provisioningError('VALIDATION_FAILED', { part: 'body', issues: `expected { "reason": string of at most ${MAX_REASON} characters }` });
  }
  return r as string | undefined;
}

export function registerRolloutRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  const svc = () => ctx.service;
  const progress = async (id: string) => {
    const p = await svc().rollouts.progress(id);
    if (!p) throw provisioningError('ROLLOUT_NOT_FOUND', { id });
    return p;
  };

  api.post<{ Body: unknown }>(
    '/rollouts',
    {
      config: { access: 'operator', auditAction: 'rollout.create' },
      schema: {
        tags: ['rollouts'],
        summary: 'Start a firmware rollout',
        description:
          'Stages are cumulative (a count or a percentage of the eligible devices); a stage opens when the previous one has no pending or downloading device. The rollout stops when failures reach the threshold.',
        body: RolloutInputSchema,
        response: { 201: { ...RolloutProgressSchema, description: 'The rollout created, with its progress' }, ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const input = validateRolloutInput(request.body);
      const rollout = await svc().rollouts.create(input as RolloutSpec);
      request.auditNote = { target: rollout.id };
      // A rollout's first devices should not wait for the next tick.
      void svc().rollouts.tick();
      return reply.code(201).send(await progress(rollout.id));
    },
  );

  api.get<{ Querystring: Static<typeof ListQuery> }>(
    '/rollouts',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['rollouts'],
        summary: 'List rollouts with their progress',
        querystring: ListQuery,
        response: { 200: Type.Object({ rollouts: Type.Array(RolloutProgressSchema), nextCursor: NextCursor }, { description: 'Newest first' }), ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const page = await svc().provisioning.listRollouts({ states: request.query.state as RolloutState[] | undefined, limit: request.query.limit, cursor: request.query.cursor });
      const rollouts = [];
      for (const r of page.items) rollouts.push(await progress(r.id));
      return { rollouts, nextCursor: page.nextCursor };
    },
  );

  api.get<{ Params: Static<typeof IdParams> }>(
    '/rollouts/:id',
    {
      config: { access: 'viewer' },
      schema: { tags: ['rollouts'], summary: 'Read a rollout and its progress', params: IdParams, querystring: NoQuery, response: { 200: { ...RolloutProgressSchema, description: 'The rollout' }, ...provisioningErrorResponses(401, 403, 404) } },
    },
    async (request) => progress(request.params.id),
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DevicesQuery> }>(
    '/rollouts/:id/devices',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['rollouts'],
        summary: 'Per-device states of a rollout',
        params: IdParams,
        querystring: DevicesQuery,
        response: { 200: Type.Object({ devices: Type.Array(RolloutDeviceSchema), nextCursor: NextCursor }, { description: 'In rollout order' }), ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await progress(request.params.id);
      const page = await svc().provisioning.listRolloutDevices(request.params.id, { states: request.query.state as RolloutDeviceState[] | undefined, limit: request.query.limit, cursor: request.query.cursor });
      return { devices: page.items, nextCursor: page.nextCursor };
    },
  );

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    api.post<{ Params: Static<typeof IdParams>; Body: unknown }>(
      `/rollouts/:id/${action}`,
      {
        config: { access: 'operator', auditAction: `rollout.${action}` },
        schema: {
          tags: ['rollouts'],
          summary: action === 'pause' ? 'Pause a rollout (no new downloads)' : action === 'resume' ? 'Resume a paused rollout' : 'Cancel a rollout (devices not started are skipped)',
          description: 'Optional JSON body: { "reason": "..." }.',
          params: IdParams,
          response: { 200: { ...RolloutProgressSchema, description: 'The rollout after the change' }, ...provisioningErrorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const id = request.params.id;
        const reason = reasonOf(request.body);
        if (action === 'pause') await svc().rollouts.pause(id, reason);
        else if (action === 'resume') await svc().rollouts.resume(id);
        else await svc().rollouts.cancel(id, reason);
        return progress(id);
      },
    );
  }
}
