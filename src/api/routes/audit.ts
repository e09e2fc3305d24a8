/**
 * The audit log route (admin only).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { AuditEntrySchema, CursorQuery, errorResponses, LimitQuery, NextCursor, described } from '../schemas.ts';
import { TimestampQuery, toUtcTimestamp } from './common.ts';

const AuditQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'token name' })),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'device, task or token id' })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'e.g. task.create' })),
    since: Type.Optional(TimestampQuery),
    until: Type.Optional(TimestampQuery),
    limit: LimitQuery,
    cursor: Type.Optional(CursorQuery),
  },
  { additionalProperties: false },
);

export function registerAuditRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get<{ Querystring: Static<typeof AuditQuery> }>(
    '/audit',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'Audit log, newest first: every write through the API and every read of secrets',
        querystring: AuditQuery,
        response: { 200: described(Type.Object({ entries: Type.Array(AuditEntrySchema), nextCursor: NextCursor }), 'a page of audit entries'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await ctx.store.listAudit({
        actor: q.actor,
        target: q.target,
        action: q.action,
        since: q.since === undefined ? undefined : toUtcTimestamp(q.since, 'since'),
        until: q.until === undefined ? undefined : toUtcTimestamp(q.until, 'until'),
        limit: q.limit,
        cursor: q.cursor,
      });
      return { entries: page.entries, nextCursor: page.nextCursor };
    },
  );
}
