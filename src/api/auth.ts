/**
 * Bearer-token authentication and role checks of the REST API.
 *
 * Tokens are random strings shown once at creation; the store keeps only their SHA-256 hash, so a
 * stolen database does not yield usable tokens. Every route declares the lowest role it needs in
 * `config.access` (`public` for the OpenAPI document and the health check); the check runs in the
 * `onRequest` hook, before the body is read, so an anonymous client cannot make the server parse
 * large bodies.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiRole, ApiToken, Store } from '../store/types.ts';
import { apiError } from './errors.ts';

/** Who made a request: the token that authenticated it. */
export interface Principal {
  tokenId: string;
  /** Token names are unique, so the name alone identifies the actor in the audit log. */
  name: string;
  role: ApiRole;
}

/** The lowest role a route needs, or `public` for routes open to anyone. */
export type RouteAccess = 'public' | ApiRole;

const ROLE_RANK: Record<ApiRole, number> = { viewer: 1, operator: 2, admin: 3 };

/** Prefix of generated tokens: makes them recognisable in leak scanners and logs. */
export const TOKEN_PREFIX = 'sb_';
/** Random bytes per token (256 bits). */
const TOKEN_BYTES = 32;
/** `lastUsedAt` is written at most this often per token, so reads do not turn into writes. */
const TOUCH_INTERVAL_MS = 60_000;

/** Returns the lower-case hex SHA-256 of a token: the only form in which tokens are stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Returns a new random token (`sb_` + 43 base64url characters). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Returns true when `role` is at least `needed`. */
export function roleAllows(role: ApiRole, needed: ApiRole): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[needed];
}

/**
 * Reads the bearer token of a request and finds its stored token.
 * @returns the principal.
 * @throws ApiError UNAUTHORIZED (no/odd header) or INVALID_TOKEN (unknown or revoked token).
 */
export async function authenticate(store: Store, request: FastifyRequest, now: () => Date): Promise<Principal> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer +([^\s]+) *$/i.exec(header) : null;
  if (!match) throw apiError('UNAUTHORIZED');
  const token = await store.findApiTokenByHash(hashToken(match[1]));
  if (!token || token.revokedAt !== null) throw apiError('INVALID_TOKEN');
  await touchIfStale(store, token, now());
  return { tokenId: token.id, name: token.name, role: token.role };
}

async function touchIfStale(store: Store, token: ApiToken, now: Date): Promise<void> {
  const last = token.lastUsedAt === null ? 0 : Date.parse(token.lastUsedAt);
  if (now.getTime() - last >= TOUCH_INTERVAL_MS) await store.touchApiToken(token.id, now.toISOString());
}

/**
 * Checks the principal's role against the route's access level.
 * @throws ApiError FORBIDDEN naming the role, the action and the role needed.
 */
export function authorize(principal: Principal, needed: ApiRole, action: string): void {
  if (!roleAllows(principal.role, needed)) {
    throw apiError('FORBIDDEN', { role: principal.role, action, needed });
  }
}
