/**
 * Task routes: queue a task on a device (optionally kicking it with a connection request and
 * waiting for the result), list a device's tasks or all tasks, read one, cancel one.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TaskPayloadSchema } from '../../acs/tasks/schema.ts';
import { FINAL_TASK_STATUSES, StoreError, type Task, type TaskQuery, type TaskStatus } from '../../store/types.ts';
import type { ApiContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { taskView } from '../secrets.ts';
import {
  ConnectionRequestResultSchema,
  CursorQuery,
  DeviceIdParam,
  errorResponses,
  LimitQuery,
  NextCursor,
  TaskSchema,
  TaskStatusSchema,
  described,
} from '../schemas.ts';
import { IncludeSecretsQuery, TimestampQuery, toUtcTimestamp } from './common.ts';
import { requireDevice, secretsRequested } from './devices.ts';

/** Largest `maxAttempts` a caller may ask for. */
const MAX_ATTEMPTS_LIMIT = 10;

/** Connection request outcomes after which the device may open a session soon. */
const CR_MAY_BRING_DEVICE: ReadonlySet<string> = new Set(['ok', 'busy']);

const DeviceParams = Type.Object({ id: DeviceIdParam });
const TaskParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

function createQuery(maxWaitMs: number) {
  return Type.Object(
    {
      connectionRequest: Type.Boolean({ default: false, description: 'ask the device to open a session now' }),
      wait: Type.Integer({
        minimum: 0,
        maximum: maxWaitMs,
        default: 0,
        description: 'ms to wait for the task to finish: 200 with the finished task, else 202 with the pending one',
      }),
      maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ATTEMPTS_LIMIT })),
      expiresAt: Type.Optional(TimestampQuery),
    },
    { additionalProperties: false },
  );
}
type CreateQueryT = Static<ReturnType<typeof createQuery>>;

const TaskAnswer = Type.Object({
  task: TaskSchema,
  connectionRequest: Type.Optional(ConnectionRequestResultSchema),
});

const StatusList = Type.Array(TaskStatusSchema, { maxItems: 5, description: 'repeat the key for several statuses' });

const DeviceTasksQuery = Type.Object(
  {
    status: Type.Optional(StatusList),
    type: Type.Optional(Type.String({ maxLength: 64 })),
    order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'desc', description: 'by creation time' }),
    limit: LimitQuery,
    cursor: Type.Optional(CursorQuery),
    includeSecrets: IncludeSecretsQuery,
  },
  { additionalProperties: false },
);

const AllTasksQuery = Type.Object(
  {
    deviceId: Type.Optional(DeviceIdParam),
    status: Type.Optional(StatusList),
    type: Type.Optional(Type.String({ maxLength: 64 })),
    order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'desc', description: 'by creation time' }),
    limit: LimitQuery,
    cursor: Type.Optional(CursorQuery),
  },
  { additionalProperties: false },
);

const TaskPage = Type.Object({ tasks: Type.Array(TaskSchema), nextCursor: NextCursor });

const OneTaskQuery = Type.Object({ includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });

function isFinal(status: TaskStatus): boolean {
  return FINAL_TASK_STATUSES.includes(status);
}

/**
 * Waits for a task to finish, giving up when the client goes away (no point holding the wait open).
 * @returns the latest known state of the task.
 */
async function waitForTask(ctx: ApiContext, task: Task, waitMs: number, reply: FastifyReply): Promise<Task> {
  if (waitMs <= 0 || isFinal(task.status)) return task;
  const abort = new AbortController();
  const onClose = () => abort.abort();
  reply.raw.once('close', onClose);
  // the client may have gone before the listener was attached (its 'close' already happened)
  const socket = reply.raw.socket;
  if (!socket || socket.destroyed) abort.abort();
  try {
    return (await ctx.acs.waitForTask(task.id, { timeoutMs: waitMs, signal: abort.signal })) ?? task;
  } finally {
    reply.raw.off('close', onClose);
  }
}

async function requireTask(ctx: ApiContext, id: string): Promise<Task> {
  const task = await ctx.store.getTask(id);
  if (!task) throw apiError('TASK_NOT_FOUND', { id });
  return task;
}

function listAnswer(tasks: Task[], nextCursor: string | null, withSecrets: boolean) {
  return { tasks: tasks.map((t) => taskView(t, withSecrets)), nextCursor };
}

export function registerTaskRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.post<{ Params: Static<typeof DeviceParams>; Querystring: CreateQueryT; Body: unknown }>(
    '/devices/:id/tasks',
    {
      config: { access: 'operator', auditAction: 'task.create' },
      schema: {
        tags: ['tasks'],
        summary: 'Queue a task; optionally send a connection request and wait for the result',
        description:
          'The task runs at the device\'s next session. With connectionRequest=true the ACS asks the device to open one now ' +
          '(the answer includes the connection request result). With wait=<ms> the answer comes when the task finished ' +
          '(200) or when the wait is over (202, task still pending or running); when the connection request failed ' +
          '(unreachable, auth-failed, no-address, error) the answer is an immediate 202 carrying that result.',
        params: DeviceParams,
        querystring: createQuery(ctx.maxWaitMs),
        body: TaskPayloadSchema,
        response: {
          200: described(TaskAnswer, 'the task finished (done, failed or cancelled) within the wait'),
          202: described(TaskAnswer, 'the task is queued (pending) or running'),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request: FastifyRequest<{ Params: Static<typeof DeviceParams>; Querystring: CreateQueryT; Body: unknown }>, reply) => {
      const { id } = request.params;
      const q = request.query;
      await requireDevice(ctx, id);
      let enqueued;
      try {
        enqueued = await ctx.acs.enqueueTask(id, request.body, {
          connectionRequest: q.connectionRequest,
          maxAttempts: q.maxAttempts,
          expiresAt: q.expiresAt === undefined ? undefined : toUtcTimestamp(q.expiresAt, 'expiresAt'),
        });
      } catch (err) {
        // The device may have been deleted between the check and the insert.
        if (err instanceof StoreError && err.code === 'not_found') throw apiError('DEVICE_NOT_FOUND', { id });
        throw err;
      }
      request.auditNote = {
        target: id,
        detail: {
          taskId: enqueued.task.id,
          ...(enqueued.connectionRequest ? { connectionRequest: enqueued.connectionRequest.status } : {}),
        },
      };
      // A device that could not be reached will not come within the wait (short of a periodic
      // Inform): answer now. `busy` means it is in a session already, which may run the task.
      const crFailed = enqueued.connectionRequest !== undefined && !CR_MAY_BRING_DEVICE.has(enqueued.connectionRequest.status);
      const task = crFailed ? enqueued.task : await waitForTask(ctx, enqueued.task, q.wait, reply);
      const answer = {
        task: taskView(task, false),
        ...(enqueued.connectionRequest ? { connectionRequest: enqueued.connectionRequest } : {}),
      };
      return reply
        .code(isFinal(task.status) ? 200 : 202)
        .header('location', `/api/tasks/${encodeURIComponent(task.id)}`)
        .send(answer);
    },
  );

  api.get<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof DeviceTasksQuery> }>(
    '/devices/:id/tasks',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['tasks'],
        summary: "The device's tasks, newest first by default",
        params: DeviceParams,
        querystring: DeviceTasksQuery,
        response: { 200: described(TaskPage, 'a page of tasks'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      const withSecrets = secretsRequested(request, q.includeSecrets, id);
      await requireDevice(ctx, id);
      const query: TaskQuery = { deviceId: id, status: q.status as TaskStatus[] | undefined, type: q.type, order: q.order, limit: q.limit, cursor: q.cursor };
      const page = await ctx.store.listTasks(query);
      return listAnswer(page.tasks, page.nextCursor, withSecrets);
    },
  );

  api.get<{ Querystring: Static<typeof AllTasksQuery> }>(
    '/tasks',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['tasks'],
        summary: 'Tasks of every device, newest first by default',
        querystring: AllTasksQuery,
        response: { 200: described(TaskPage, 'a page of tasks'), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await ctx.store.listTasks({ deviceId: q.deviceId, status: q.status as TaskStatus[] | undefined, type: q.type, order: q.order, limit: q.limit, cursor: q.cursor });
      return listAnswer(page.tasks, page.nextCursor, false);
    },
  );

  api.get<{ Params: Static<typeof TaskParams>; Querystring: Static<typeof OneTaskQuery> }>(
    '/tasks/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['tasks'],
        summary: 'One task with its status and result',
        params: TaskParams,
        querystring: OneTaskQuery,
        response: { 200: described(TaskSchema, 'the task'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const withSecrets = secretsRequested(request, request.query.includeSecrets, id);
      return taskView(await requireTask(ctx, id), withSecrets);
    },
  );

  api.delete<{ Params: Static<typeof TaskParams> }>(
    '/tasks/:id',
    {
      config: { access: 'operator', auditAction: 'task.cancel' },
      schema: {
        tags: ['tasks'],
        summary: 'Cancel a pending or running task (idempotent for a cancelled task)',
        params: TaskParams,
        response: { 200: described(TaskSchema, 'the cancelled task'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const before = await requireTask(ctx, id);
      if (before.status === 'cancelled') return taskView(before, false);
      if (isFinal(before.status)) throw apiError('TASK_ALREADY_FINISHED', { id, status: before.status });
      const after = await ctx.acs.cancelTask(id);
      if (!after) throw apiError('TASK_NOT_FOUND', { id });
      // The task may have finished between the read and the cancel.
      if (after.status !== 'cancelled') throw apiError('TASK_ALREADY_FINISHED', { id, status: after.status });
      return taskView(after, false);
    },
  );
}
