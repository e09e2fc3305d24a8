/**
 * Live updates for the console: `GET /api/events/stream` as server-sent events, fed by the ACS's
 * event emitter (`acs.events`).
 *
 * With `?device=<id>` the stream carries that device's events one by one: `task` (the task, secrets
 * redacted as in the API), `session` (started/ended notices) and `device` (its inventory changed).
 * Without it, a fleet-wide stream would carry thousands of events per second in a boot storm, so it
 * carries one `activity` summary every `activityIntervalMs` instead (sessions started/ended, tasks
 * finished, sessions active).
 *
 * With several ACS instances (a shared PostgreSQL store), the `feed` (cluster-feed.ts) adds what the
 * other instances saw: the watched device's sessions and inventory changes, and their session
 * counts in the activity summaries.
 *
 * Browsers' EventSource cannot send an Authorization header, so the console reads the stream with
 * fetch(); any SSE client that can set headers works. The number of open streams is capped, and
 * every stream is ended when the server closes (otherwise `close()` would wait for them forever).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { AcsControl, SessionNotice } from '../../acs/app.ts';
import { taskView } from '../../api/secrets.ts';
import { FINAL_TASK_STATUSES, type Store, type Task } from '../../store/types.ts';
import { hashToken } from '../../api/auth.ts';
import { ConsoleError } from '../../users/errors.ts';
import { consoleErrorResponses } from '../../users/plugin.ts';
import type { ClusterFeed, RemoteActivity } from './cluster-feed.ts';

export const DEFAULT_MAX_STREAMS = 200;
/** A comment line this often keeps proxies and the browser from timing the stream out. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_ACTIVITY_INTERVAL_MS = 2_000;
/** Another instance's active sessions count until it missed this many of its activity reports. */
const REMOTE_ACTIVITY_INTERVALS = 3;
/** What the browser waits before reconnecting a dropped stream. */
const RETRY_MS = 3000;

export interface EventStreamOptions {
  acs: AcsControl;
  /** To re-check the caller's token at each heartbeat: a stream ends when its token is revoked (logout, expiry). */
  store: Store;
  maxStreams?: number;
  heartbeatMs?: number;
  activityIntervalMs?: number;
  /** Several ACS instances: the other instances' events (null/absent: this instance only). */
  feed?: ClusterFeed | null;
}

const StreamQuery = Type.Object(
  { device: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'only this device\'s events; without it, activity summaries' })) },
  { additionalProperties: false },
);

/** Formats one SSE message (data is JSON on one line, so no line splitting is needed). */
export function sseMessage(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Registers the stream route in a console context (authentication already set up there). */
export function registerEventStream(scope: FastifyInstance, options: EventStreamOptions): void {
  const { acs } = options;
  const maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const activityMs = options.activityIntervalMs ?? DEFAULT_ACTIVITY_INTERVAL_MS;
  const open = new Set<ServerResponse>();

  // preClose: before the server stops accepting and waits for its connections to end.
  scope.addHook('preClose', async () => {
    for (const res of open) res.end();
    open.clear();
  });

  scope.get<{ Querystring: Static<typeof StreamQuery> }>(
    '/api/events/stream',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['console'],
        summary: 'Live events (text/event-stream): one device\'s tasks, sessions and changes, or fleet activity summaries',
        querystring: StreamQuery,
        response: {
          200: Type.String({ description: 'an endless text/event-stream; events task, session, device (with ?device) or activity (without)' }),
          ...consoleErrorResponses({ 401: ['UNAUTHORIZED', 'INVALID_TOKEN', 'SESSION_EXPIRED'], 503: ['TOO_MANY_STREAMS'] }),
        },
      },
    },
    async (request, reply) => {
      if (open.size >= maxStreams) throw new ConsoleError('TOO_MANY_STREAMS', { limit: maxStreams });
      const device = request.query.device;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
      });
      res.write(`retry: ${RETRY_MS}\n\n`);
      open.add(res);
      let seq = 0;
      const send = (event: string, data: unknown) => {
        if (!res.writableEnded) res.write(sseMessage(event, data, ++seq));
      };
      send('hello', { device: device ?? null, at: new Date().toISOString() });

      const cleanups: (() => void)[] = [];
      if (device !== undefined) {
        const onTask = (task: Task) => {
          if (task.deviceId === device) send('task', taskView(task, false));
        };
        const onSession = (notice: SessionNotice) => {
          if (notice.deviceId === device) send('session', notice);
        };
        const onDevice = (id: string) => {
          if (id === device) send('device', { deviceId: id });
        };
        acs.events.on('task', onTask);
        acs.events.on('session', onSession);
        acs.events.on('device', onDevice);
        // tasks come through the task relay already; sessions and inventory changes elsewhere through the feed
        const unwatch = options.feed?.watchDevice(device, (e) => (e.kind === 'session' ? onSession(e.notice) : onDevice(e.deviceId)));
        cleanups.push(() => {
          acs.events.off('task', onTask);
          acs.events.off('session', onSession);
          acs.events.off('device', onDevice);
          unwatch?.();
        });
      } else {
        const counts = { sessionsStarted: 0, sessionsEnded: 0, tasksFinished: 0, tasksFailed: 0 };
        const onSession = (notice: SessionNotice) => {
          if (notice.phase === 'started') counts.sessionsStarted++;
          else counts.sessionsEnded++;
        };
        const onTask = (task: Task) => {
          if (FINAL_TASK_STATUSES.includes(task.status)) counts.tasksFinished++;
          if (task.status === 'failed') counts.tasksFailed++;
        };
        acs.events.on('session', onSession);
        acs.events.on('task', onTask);
        // other instances: their sessions counted in, their latest active sessions added (forgotten when they stop reporting)
        const remoteActive = new Map<string, { activeSessions: number; at: number }>();
        const onRemote = (a: RemoteActivity) => {
          counts.sessionsStarted += a.sessionsStarted;
          counts.sessionsEnded += a.sessionsEnded;
          remoteActive.set(a.origin, { activeSessions: a.activeSessions, at: Date.now() });
        };
        const unwatch = options.feed?.watchActivity(onRemote);
        const activeElsewhere = () => {
          let n = 0;
          for (const [origin, r] of remoteActive) {
            if (Date.now() - r.at > REMOTE_ACTIVITY_INTERVALS * activityMs) remoteActive.delete(origin);
            else n += r.activeSessions;
          }
          return n;
        };
        const timer = setInterval(() => {
          send('activity', { ...counts, activeSessions: acs.activeSessions() + activeElsewhere(), intervalMs: activityMs, at: new Date().toISOString() });
          counts.sessionsStarted = counts.sessionsEnded = counts.tasksFinished = counts.tasksFailed = 0;
        }, activityMs);
        cleanups.push(() => {
          clearInterval(timer);
          acs.events.off('session', onSession);
          acs.events.off('task', onTask);
          unwatch?.();
        });
      }
      const bearer = /^Bearer +([^\s]+) *$/i.exec(String(request.headers.authorization ?? ''));
      const tokenHash = bearer ? hashToken(bearer[1]) : null;
      const heartbeat = setInterval(() => {
        if (res.writableEnded) return;
        res.write(': keep-alive\n\n');
        if (tokenHash === null) return;
        options.store.findApiTokenByHash(tokenHash).then(
          (token) => {
            if (token && token.revokedAt === null) return;
            send('end', { reason: 'the token of this stream was revoked (logout or session expiry)' });
            res.end();
          },
          () => undefined,
        );
      }, heartbeatMs);
      cleanups.push(() => clearInterval(heartbeat));
      res.on('close', () => {
        open.delete(res);
        for (const c of cleanups) c();
      });
    },
  );
}
