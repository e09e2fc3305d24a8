/**
 * The users part of the REST API: console login/logout (`/api/session`) and user administration
 * (`/api/users`, admin only).
 *
 * A login issues an ordinary API token (in the core store, with the user's role), so every REST
 * route accepts it through the API's own authentication; a `console_sessions` row gives it an idle
 * expiry (moved forward while the session is used) and an absolute one. Expiry is enforced twice:
 * a hook on every `/api/` request refuses an expired session's token at once (SESSION_EXPIRED) and
 * revokes it, and a periodic sweep revokes the tokens of sessions nobody uses any more.
 *
 * Routes live in their own encapsulated Fastify context (own error handler and validator), so
 * registering them on the API's instance changes nothing for the API's routes.
 */
import { randomBytes } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteAccess } from '../api/auth.ts';
import { authenticate, authorize, generateToken, hashToken, type Principal } from '../api/auth.ts';
import '../api/context.ts';
import { ApiError, apiError } from '../api/errors.ts';
import { registerJsonBodyParser } from '../api/json-body.ts';
import { typeboxValidatorCompiler } from '../api/validation.ts';
import { StoreError, type ApiRole, type JsonObject, type Store } from '../store/types.ts';
import { ConsoleError, CONSOLE_ERRORS, type ConsoleErrorCode } from './errors.ts';
import { decoyPasswordHash, hashPassword, passwordProblem, PASSWORD_MAX_LENGTH, SCRYPT_PARAMS, verifyPassword } from './password.ts';
import { DEFAULT_THROTTLE, LoginThrottle, type LoginThrottleBackend, type ThrottleOptions } from './throttle.ts';
import { USERNAME_MAX_LENGTH, USERNAME_PATTERN, type ConsoleSession, type SessionEndReason, type User, type UserStore } from './types.ts';

/** Default idle lifetime of a console session: it expires after this long without a request. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;
/** Default absolute lifetime: a session ends this long after the login, used or not. */
export const DEFAULT_SESSION_MAX_MS = 12 * 60 * 60_000;
/** How often expired sessions' tokens are revoked by the sweep. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** Ended sessions are kept this long (to answer SESSION_EXPIRED rather than INVALID_TOKEN), then pruned. */
const ENDED_SESSION_RETENTION_MS = 7 * 24 * 60 * 60_000;
/** Random hex characters in a console token's name (names must be unique). */
const TOKEN_NAME_SUFFIX_BYTES = 3;

export interface UsersPluginOptions {
  /** The core store: tokens (issued at login) and the audit log. */
  store: Store;
  users: UserStore;
  /** The clock (tests pin it). */
  now?: () => Date;
  sessionIdleMs?: number;
  sessionMaxMs?: number;
  /** 0 disables the periodic sweep (tests call `sweep()` themselves). */
  sweepIntervalMs?: number;
  /** scrypt cost for new hashes (tests lower it). */
  scryptParams?: { N: number; r: number; p: number };
  throttle?: ThrottleOptions;
  /** Where failed logins are counted (default: in memory with `throttle`); several ACS instances share one. */
  throttleBackend?: LoginThrottleBackend;
}

/** What `registerUsers` returns: the sweep, for tests and shutdown. */
export interface UsersPlugin {
  /** Ends expired sessions and revokes their tokens; resolves how many ended. */
  sweep(): Promise<number>;
}

const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')], {
  description: 'viewer: read only; operator: also tasks, tags, faults; admin: everything',
});
const Timestamp = Type.String({ description: 'ISO 8601 UTC timestamp' });
const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

const UserSchema = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    role: RoleSchema,
    disabled: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    lastLoginAt: Nullable(Timestamp),
  },
  { title: 'User' },
);

const Username = Type.String({ minLength: 1, maxLength: USERNAME_MAX_LENGTH, pattern: USERNAME_PATTERN, description: 'lower-case letters, digits, . _ @ -' });
const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });

const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 256 }), password: Password },
  { additionalProperties: false },
);
const SessionAnswer = Type.Object({
  token: Type.String({ description: 'use as "Authorization: Bearer <token>"; revoked at logout or expiry' }),
  expiresAt: Timestamp,
  idleSeconds: Type.Integer({ description: 'the session expires after this long without a request' }),
  user: UserSchema,
});
const CurrentSession = Type.Object({
  user: Type.Union([UserSchema, Type.Null()], { description: 'null when the token is a plain API token' }),
  tokenName: Type.String(),
  role: RoleSchema,
  expiresAt: Type.Union([Timestamp, Type.Null()]),
});
const PasswordChangeBody = Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false });
const NewUserBody = Type.Object({ username: Username, role: RoleSchema, password: Password }, { additionalProperties: false });
const PatchUserBody = Type.Object(
  { role: Type.Optional(RoleSchema), password: Type.Optional(Password), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
const UserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const ConsoleErrorSchema = Type.Object(
  { code: Type.String(), message: Type.String({ description: 'a readable sentence' }), details: Type.Optional(Type.Unknown()) },
  { title: 'ConsoleError' },
);

/** Error response entries naming the codes a status may carry (API codes and console codes). */
export function consoleErrorResponses(entries: Record<number, string[]>): Record<number, typeof ConsoleErrorSchema> {
  return Object.fromEntries(
    Object.entries(entries).map(([status, codes]) => [status, { ...ConsoleErrorSchema, description: `Error; code one of ${codes.join(', ')}` }]),
  );
}

const principals = new WeakMap<FastifyRequest, Principal>();

/**
 * The caller of a request authenticated by the console plugins' hook.
 * @throws Error when called on a public route (a bug).
 */
export function principalOf(request: FastifyRequest): Principal {
  const p = principals.get(request);
  if (!p) throw new Error('no principal on a public route');
  return p;
}

/**
 * Makes an encapsulated context behave like the API's: bearer authentication and role check per
 * `config.access` (default admin), the API's validator and JSON parser, and `{ code, message }`
 * errors. Used by every console route module.
 */
export function prepareConsoleContext(app: FastifyInstance, store: Store, now: () => Date): void {
  app.setValidatorCompiler(typeboxValidatorCompiler);
  registerJsonBodyParser(app);
  app.addHook('onRequest', async (request) => {
    const access: RouteAccess = request.routeOptions.config.access ?? 'admin';
    if (access === 'public') return;
    const principal = await authenticate(store, request, now);
    authorize(principal, access, `${request.method} ${request.routeOptions.url ?? request.url}`);
    principals.set(request, principal);
  });
  app.setErrorHandler((error: FastifyError | Error, request, reply) => sendConsoleError(error, request, reply));
}

/** Answers any error thrown by a console route as `{ code, message }`. */
export function sendConsoleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ConsoleError) return reply.code(error.statusCode).headers(error.headers).type('application/json').send(error.toBody());
  if (error instanceof ApiError) return reply.code(error.statusCode).type('application/json').send(error.toBody());
  const code = (error as FastifyError).code;
  let mapped: ApiError | undefined;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') mapped = apiError('UNSUPPORTED_MEDIA_TYPE', { contentType: String(request.headers['content-type'] ?? '') });
  else if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') mapped = apiError('PAYLOAD_TOO_LARGE', { limit: request.routeOptions.bodyLimit ?? 0 });
  else if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') mapped = apiError('MALFORMED_JSON', { reason: 'the body is empty' });
  else if (error instanceof StoreError && error.code === 'unavailable') mapped = apiError('STORE_UNAVAILABLE');
  else if (error instanceof StoreError && error.code === 'conflict') mapped = apiError('CONFLICT', { reason: error.message });
  else {
    const status = (error as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) mapped = apiError('BAD_REQUEST', { reason: error.message.replace(/\.$/, '') });
  }
  if (!mapped) {
    request.log.error({ err: error }, 'unexpected error in a console route');
    mapped = apiError('INTERNAL_ERROR', { requestId: request.id });
  }
  return reply.code(mapped.statusCode).type('application/json').send(mapped.toBody());
}

function userView(user: User): User {
  const { id, username, role, disabled, createdAt, updatedAt, lastLoginAt } = user;
  return { id, username, role, disabled, createdAt, updatedAt, lastLoginAt };
}

function bearerHash(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer +([^\s]+) *$/i.exec(header) : null;
  return match ? hashToken(match[1]) : null;
}

/** The codes of both registries with the given status, for response documentation. */
function codesWithStatus(status: number, apiCodes: string[] = []): string[] {
  const own = (Object.keys(CONSOLE_ERRORS) as ConsoleErrorCode[]).filter((c) => CONSOLE_ERRORS[c].status === status);
  return [...apiCodes, ...own];
}

/**
 * Registers the session hook, the session and user routes and the expiry sweep on `app` (the
 * instance `buildApi` returned).
 * @returns the sweep handle.
 */
export async function registerUsers(app: FastifyInstance, options: UsersPluginOptions): Promise<UsersPlugin> {
  const { store, users } = options;
  const now = options.now ?? (() => new Date());
  const idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  const maxMs = options.sessionMaxMs ?? DEFAULT_SESSION_MAX_MS;
  const scryptParams = options.scryptParams ?? SCRYPT_PARAMS;
  const throttle: LoginThrottleBackend = options.throttleBackend ?? new LoginThrottle(options.throttle ?? DEFAULT_THROTTLE);

  /** Ends a session and revokes its token (idempotent). */
  async function endSession(session: ConsoleSession, reason: SessionEndReason): Promise<void> {
    const at = now().toISOString();
    await users.endSession(session.id, reason, at);
    await store.revokeApiToken(session.tokenId, at);
  }

  async function endSessionsOf(userId: string, reason: SessionEndReason, except?: string): Promise<number> {
    const open = await users.listOpenSessions(userId);
    for (const s of open) if (s.id !== except) await endSession(s, reason);
    return open.filter((s) => s.id !== except).length;
  }

  async function sweep(): Promise<number> {
    const at = now();
    const expired = await users.listExpiredSessions(at.toISOString());
    for (const s of expired) await endSession(s, 'expired');
    await users.pruneSessions(new Date(at.getTime() - ENDED_SESSION_RETENTION_MS).toISOString());
    return expired.length;
  }

  // Exact expiry on every API request. The API's own hook (which accepts any unrevoked token) runs
  // first in its context; this one still runs before any handler.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/')) return;
    const hash = bearerHash(request);
    if (!hash) return;
    const session = await users.findSessionByTokenHash(hash);
    if (!session) return;
    const t = now();
    const expired = session.endReason === 'expired' || (session.endedAt === null && (session.expiresAt < t.toISOString() || session.absoluteExpiresAt < t.toISOString()));
    if (expired) {
      if (session.endedAt === null) await endSession(session, 'expired');
      const err = new ConsoleError('SESSION_EXPIRED');
      return reply.code(err.statusCode).type('application/json').send(err.toBody());
    }
    if (session.endedAt !== null) return; // logged out: the revoked token gets the API's INVALID_TOKEN
    // Slide the idle expiry, writing at most once per half idle period.
    const remaining = Date.parse(session.expiresAt) - t.getTime();
    if (remaining < idleMs / 2) {
      const next = Math.min(t.getTime() + idleMs, Date.parse(session.absoluteExpiresAt));
      await users.extendSession(session.id, new Date(next).toISOString());
    }
  });

  await app.register(async (scope) => {
    prepareConsoleContext(scope, store, now);

    scope.post<{ Body: Static<typeof LoginBody> }>(
      '/api/session',
      {
        config: { access: 'public' },
        schema: {
          tags: ['console'],
          summary: 'Log in: returns a short-lived bearer token with the user\'s role',
          security: [],
          body: LoginBody,
          response: {
            201: { ...SessionAnswer, description: 'the session token (shown once)' },
            ...consoleErrorResponses({ 400: ['VALIDATION_FAILED', 'MALFORMED_JSON'], 401: codesWithStatus(401), 429: codesWithStatus(429) }),
          },
        },
      },
      async (request, reply) => {
        const { username, password } = request.body;
        const t = now();
        const userKey = `u:${username.toLowerCase()}`;
        const ipKey = `ip:${request.ip}`;
        const wait = Math.max(await throttle.retryAfterMs(userKey, t.getTime()), await throttle.retryAfterMs(ipKey, t.getTime()));
        if (wait > 0) {
          const seconds = Math.ceil(wait / 1000);
          throw new ConsoleError('TOO_MANY_ATTEMPTS', { seconds }, { 'retry-after': String(seconds) });
        }
        const user = await users.findUserForLogin(username);
        // Hash even for an unknown user, so that the answer time does not reveal which names exist.
        const ok = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
        if (!user || !ok || user.disabled) {
          await throttle.fail(userKey, t.getTime());
          await throttle.fail(ipKey, t.getTime());
          await store.appendAudit({
            actor: `user:${username.toLowerCase().slice(0, USERNAME_MAX_LENGTH)}`,
            action: 'session.login-failed',
            target: user?.id ?? null,
            detail: { remoteAddress: request.ip, reason: !user ? 'unknown user' : user.disabled ? 'disabled' : 'wrong password' },
          });
          throw new ConsoleError('INVALID_CREDENTIALS');
        }
        await throttle.succeed(userKey);
        await throttle.succeed(ipKey);
        const secret = generateToken();
        const suffix = randomBytes(TOKEN_NAME_SUFFIX_BYTES).toString('hex');
        const token = await store.createApiToken({ name: `console.${user.username}.${suffix}`, role: user.role, hash: hashToken(secret), createdAt: t.toISOString() });
        const expiresAt = new Date(t.getTime() + idleMs).toISOString();
        await users.createSession({
          userId: user.id,
          tokenId: token.id,
          tokenHash: token.hash,
          createdAt: t.toISOString(),
          expiresAt,
          absoluteExpiresAt: new Date(t.getTime() + maxMs).toISOString(),
        });
        const updated = (await users.updateUser(user.id, { lastLoginAt: t.toISOString() })) ?? user;
        await store.appendAudit({ actor: token.name, action: 'session.login', target: user.id, detail: { username: user.username, role: user.role, tokenId: token.id, remoteAddress: request.ip } });
        return reply.code(201).send({ token: secret, expiresAt, idleSeconds: Math.round(idleMs / 1000), user: userView(updated) });
      },
    );

    scope.get(
      '/api/session',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['console'],
          summary: 'Who is logged in with this token: the user (for a console token), role and expiry',
          response: { 200: { ...CurrentSession, description: 'the caller' }, ...consoleErrorResponses({ 401: codesWithStatus(401, ['UNAUTHORIZED', 'INVALID_TOKEN']) }) },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const hash = bearerHash(request)!;
        const session = await users.findSessionByTokenHash(hash);
        const user = session ? await users.getUser(session.userId) : null;
        return { user: user && userView(user), tokenName: principal.name, role: principal.role, expiresAt: session?.expiresAt ?? null };
      },
    );

    scope.delete(
      '/api/session',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['console'],
          summary: 'Log out: ends the session and revokes its token',
          response: {
            204: Type.Null({ description: 'logged out' }),
            ...consoleErrorResponses({ 400: ['NOT_A_CONSOLE_SESSION'], 401: codesWithStatus(401, ['UNAUTHORIZED', 'INVALID_TOKEN']) }),
          },
        },
      },
      async (request, reply) => {
        const session = await users.findSessionByTokenHash(bearerHash(request)!);
        if (!session) throw new ConsoleError('NOT_A_CONSOLE_SESSION');
        await endSession(session, 'logout');
        await store.appendAudit({ actor: principalOf(request).name, action: 'session.logout', target: session.userId, detail: { tokenId: session.tokenId } });
        return reply.code(204).send();
      },
    );

    scope.put<{ Body: Static<typeof PasswordChangeBody> }>(
      '/api/session/password',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['console'],
          summary: 'Change one\'s own password (ends the user\'s other sessions)',
          body: PasswordChangeBody,
          response: {
            200: { ...UserSchema, description: 'the user' },
            ...consoleErrorResponses({ 400: codesWithStatus(400, ['VALIDATION_FAILED', 'MALFORMED_JSON']), 401: codesWithStatus(401, ['UNAUTHORIZED', 'INVALID_TOKEN']) }),
          },
        },
      },
      async (request) => {
        const session = await users.findSessionByTokenHash(bearerHash(request)!);
        if (!session) throw new ConsoleError('NOT_A_CONSOLE_SESSION');
        const current = await users.getUser(session.userId);
        const withSecret = current && (await users.findUserForLogin(current.username));
        if (!withSecret) throw new ConsoleError('USER_NOT_FOUND', { id: session.userId });
        if (!(await verifyPassword(request.body.currentPassword, withSecret.passwordHash))) throw new ConsoleError('WRONG_PASSWORD');
        const problem = passwordProblem(request.body.newPassword, withSecret.username);
        if (problem) throw new ConsoleError('WEAK_PASSWORD', { reason: problem });
        const updated = await users.updateUser(withSecret.id, { passwordHash: await hashPassword(request.body.newPassword, scryptParams) });
        await endSessionsOf(withSecret.id, 'password-changed', session.id);
        await store.appendAudit({ actor: principalOf(request).name, action: 'user.password', target: withSecret.id, detail: { username: withSecret.username } });
        return userView(updated!);
      },
    );

    const adminErrors = (extra: Record<number, string[]> = {}) =>
      consoleErrorResponses({ 401: ['UNAUTHORIZED', 'INVALID_TOKEN', 'SESSION_EXPIRED'], 403: ['FORBIDDEN'], ...extra });

    scope.get(
      '/api/users',
      {
        config: { access: 'admin' },
        schema: { tags: ['users'], summary: 'Every console user', response: { 200: { ...Type.Object({ users: Type.Array(UserSchema) }), description: 'the users' }, ...adminErrors() } },
      },
      async () => ({ users: (await users.listUsers()).map(userView) }),
    );

    scope.get<{ Params: Static<typeof UserParams> }>(
      '/api/users/:id',
      {
        config: { access: 'admin' },
        schema: { tags: ['users'], summary: 'One console user', params: UserParams, response: { 200: { ...UserSchema, description: 'the user' }, ...adminErrors({ 404: ['USER_NOT_FOUND'] }) } },
      },
      async (request) => {
        const user = await users.getUser(request.params.id);
        if (!user) throw new ConsoleError('USER_NOT_FOUND', { id: request.params.id });
        return userView(user);
      },
    );

    scope.post<{ Body: Static<typeof NewUserBody> }>(
      '/api/users',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['users'],
          summary: 'Create a console user',
          body: NewUserBody,
          response: { 201: { ...UserSchema, description: 'the created user' }, ...adminErrors({ 400: ['VALIDATION_FAILED', 'WEAK_PASSWORD'], 409: ['USERNAME_TAKEN'] }) },
        },
      },
      async (request, reply) => {
        const { username, role, password } = request.body;
        const problem = passwordProblem(password, username);
        if (problem) throw new ConsoleError('WEAK_PASSWORD', { reason: problem });
        if (await users.findUserForLogin(username)) throw new ConsoleError('USERNAME_TAKEN', { username });
        let user: User;
        try {
          user = await users.createUser({ username, role, passwordHash: await hashPassword(password, scryptParams), createdAt: now().toISOString() });
        } catch (err) {
          if (err instanceof StoreError && err.code === 'conflict') throw new ConsoleError('USERNAME_TAKEN', { username });
          throw err;
        }
        await audit(request, 'user.create', user.id, { username: user.username, role });
        return reply.code(201).header('location', `/api/users/${encodeURIComponent(user.id)}`).send(userView(user));
      },
    );

    scope.patch<{ Params: Static<typeof UserParams>; Body: Static<typeof PatchUserBody> }>(
      '/api/users/:id',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['users'],
          summary: 'Change a user\'s role, password or disabled flag (ends their sessions)',
          params: UserParams,
          body: PatchUserBody,
          response: { 200: { ...UserSchema, description: 'the changed user' }, ...adminErrors({ 400: ['VALIDATION_FAILED', 'WEAK_PASSWORD'], 404: ['USER_NOT_FOUND'], 409: ['LAST_ADMIN_USER'] }) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const body = request.body;
        const user = await users.getUser(id);
        if (!user) throw new ConsoleError('USER_NOT_FOUND', { id });
        const losesAdmin = user.role === 'admin' && !user.disabled && ((body.role !== undefined && body.role !== 'admin') || body.disabled === true);
        if (losesAdmin && (await users.countActiveAdmins()) <= 1) throw new ConsoleError('LAST_ADMIN_USER', { username: user.username });
        if (body.password !== undefined) {
          const problem = passwordProblem(body.password, user.username);
          if (problem) throw new ConsoleError('WEAK_PASSWORD', { reason: problem });
        }
        const updated = await users.updateUser(id, {
          role: body.role,
          disabled: body.disabled,
          passwordHash: body.password === undefined ? undefined : await hashPassword(body.password, scryptParams),
        });
        if (!updated) throw new ConsoleError('USER_NOT_FOUND', { id });
        // Issued tokens carry the old role (or a password the admin just replaced): end them.
        const roleChanged = body.role !== undefined && body.role !== user.role;
        const ended = roleChanged || body.disabled === true || body.password !== undefined
          ? await endSessionsOf(id, body.password !== undefined ? 'password-changed' : 'user-changed')
          : 0;
        const detail: JsonObject = { username: user.username, endedSessions: ended };
        if (body.role !== undefined) detail.role = body.role;
        if (body.disabled !== undefined) detail.disabled = body.disabled;
        if (body.password !== undefined) detail.passwordChanged = true;
        await audit(request, 'user.update', id, detail);
        return userView(updated);
      },
    );

    scope.delete<{ Params: Static<typeof UserParams> }>(
      '/api/users/:id',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['users'],
          summary: 'Delete a user (ends their sessions)',
          params: UserParams,
          response: { 204: Type.Null({ description: 'deleted' }), ...adminErrors({ 404: ['USER_NOT_FOUND'], 409: ['LAST_ADMIN_USER'] }) },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const user = await users.getUser(id);
        if (!user) throw new ConsoleError('USER_NOT_FOUND', { id });
        if (user.role === 'admin' && !user.disabled && (await users.countActiveAdmins()) <= 1) throw new ConsoleError('LAST_ADMIN_USER', { username: user.username });
        const ended = await endSessionsOf(id, 'user-deleted');
        await users.deleteUser(id);
        await audit(request, 'user.delete', id, { username: user.username, endedSessions: ended });
        return reply.code(204).send();
      },
    );
  });

  async function audit(request: FastifyRequest, action: string, target: string, detail: JsonObject): Promise<void> {
    const principal = principalOf(request);
    try {
      await store.appendAudit({ actor: principal.name, action, target, detail: { ...detail, tokenId: principal.tokenId, role: principal.role } });
    } catch (err) {
      request.log.error({ err, action }, 'could not record the audit entry');
    }
  }

  const interval = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  if (interval > 0) {
    const timer = setInterval(() => {
      sweep().catch((err: unknown) => app.log.warn({ err }, 'console session sweep failed'));
    }, interval);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
  return { sweep };
}

/** Re-exported for callers that check roles the same way. */
export type { ApiRole };
