/**
 * Fault routes: list faults recorded by the ACS (filter by device, task, code, time) and delete one.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { FaultQuery, FaultRecord, Store } from '../../store/types.ts';
import type { ApiContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { CursorQuery, DeviceIdParam, errorResponses, FaultSchema, LimitQuery, NextCursor, described } from '../schemas.ts';
import { TimestampQuery, toUtcTimestamp } from './common.ts';

/**
 * The store filters faults by device and task only; code and time are filtered here. A page that
 * has to skip many non-matching faults stops after this many and hands back a cursor, so a
 * selective filter over a large log cannot hold the request for long.
 */
const MAX_SCANNED_PER_REQUEST = 5000;

const FaultsQuery = Type.Object(
  {
    deviceId: Type.Optional(DeviceIdParam),
    taskId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    code: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32, description: 'e.g. 9005 or session_timeout; repeat the key for several' })),
    since: Type.Optional(TimestampQuery),
    until: Type.Optional(TimestampQuery),
    limit: LimitQuery,
    cursor: Type.Optional(CursorQuery),
  },
  { additionalProperties: false },
);

const FaultParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

/** What a filtered scan of the (newest first) fault log returns. */
export interface FaultScan {
  faults: FaultRecord[];
  nextCursor: string | null;
}

/**
 * Reads faults newest first, keeping those accepted by `accept`, until `limit` are found, the log
 * is older than `since`, or the scan budget is spent. Each store page asks for exactly the number
 * still missing, so every page is consumed whole and its `nextCursor` resumes exactly after it.
 * @returns the faults found and the cursor of the next page (null at the end).
 */
export async function scanFaults(
  store: Store,
  base: Omit<FaultQuery, 'limit' | 'cursor'>,
  filter: { accept: (fault: FaultRecord) => boolean; since?: string },
  limit: number,
  cursor: string | undefined,
  maxScanned = MAX_SCANNED_PER_REQUEST,
): Promise<FaultScan> {
  const found: FaultRecord[] = [];
  let next: string | undefined = cursor;
  let scanned = 0;
  while (found.length < limit) {
    const page = await store.listFaults({ ...base, limit: limit - found.length, cursor: next });
    scanned += page.faults.length;
    for (const fault of page.faults) {
      if (filter.since !== undefined && fault.at < filter.since) return { faults: found, nextCursor: null };
      if (filter.accept(fault)) found.push(fault);
    }
    if (page.nextCursor === null) return { faults: found, nextCursor: null };
    next = page.nextCursor;
    if (scanned >= maxScanned) break;
  }
  return { faults: found, nextCursor: next ?? null };
}

export function registerFaultRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get<{ Querystring: Static<typeof FaultsQuery> }>(
    '/faults',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['faults'],
        summary: 'Faults, newest first; filter by device, task, code and time',
        description: 'A page may hold fewer than `limit` faults while nextCursor is not null (the scan budget per request was spent); keep following nextCursor.',
        querystring: FaultsQuery,
        response: { 200: described(Type.Object({ faults: Type.Array(FaultSchema), nextCursor: NextCursor }), 'a page of faults'), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const q = request.query;
      const since = q.since === undefined ? undefined : toUtcTimestamp(q.since, 'since');
      const until = q.until === undefined ? undefined : toUtcTimestamp(q.until, 'until');
      const codes = q.code === undefined ? undefined : new Set(q.code);
      const accept = (f: FaultRecord) => (codes === undefined || codes.has(f.code)) && (until === undefined || f.at <= until);
      return scanFaults(ctx.store, { deviceId: q.deviceId, taskId: q.taskId }, { accept, since }, q.limit, q.cursor);
    },
  );

  api.delete<{ Params: Static<typeof FaultParams> }>(
    '/faults/:id',
    {
      config: { access: 'operator', auditAction: 'fault.delete' },
      schema: {
        tags: ['faults'],
        summary: 'Delete (acknowledge) one fault',
        params: FaultParams,
        response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if ((await ctx.store.deleteFaults({ ids: [id] })) === 0) throw apiError('FAULT_NOT_FOUND', { id });
      return reply.code(204).send();
    },
  );
}
