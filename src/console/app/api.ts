/**
 * The console's only way to the server: the REST API with the bearer token of the login.
 *
 * Every failure becomes an `ApiFailure` whose `message` is the API's readable sentence (`{ code,
 * message }` answers) or one written here for network problems, so pages can show it as is.
 */

export interface SessionInfo {
  token: string;
  username: string;
  role: Role;
  expiresAt: string;
}

export type Role = 'admin' | 'operator' | 'viewer';

const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** True when `role` is at least `needed`. */
export function roleAtLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[needed];
}

/** A failed API call with the server's code and sentence. */
export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Returns a sentence for any thrown value (ApiFailure, network error, bug). */
export function describeError(err: unknown): string {
  if (err instanceof ApiFailure) return err.message;
  if (err instanceof Error) return `Something went wrong: ${err.message}`;
  return 'Something went wrong.';
}

const STORAGE_KEY = 'switchboard.session';

/** Tokens live in sessionStorage: per tab, gone when the tab closes. */
export function loadSession(): SessionInfo | null {
  try {
    const text = sessionStorage.getItem(STORAGE_KEY);
    return text ? (JSON.parse(text) as SessionInfo) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: SessionInfo | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
}

type QueryValue = string | number | boolean | undefined | null | (string | number)[];
export type Query = Record<string, QueryValue>;

/** Builds `?a=1&b=x&b=y` (arrays repeat the key, empty values are left out). */
export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Codes after which the token is no good any more: back to the login page. */
const SESSION_GONE = new Set(['SESSION_EXPIRED', 'INVALID_TOKEN', 'UNAUTHORIZED']);

let onSessionGone: (message: string) => void = () => undefined;

/** Sets what happens when the server says the token is gone (the app shows the login page). */
export function setSessionGoneHandler(handler: (message: string) => void): void {
  onSessionGone = handler;
}

export interface CallOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Raw request body (file uploads), sent with its own content type. */
  raw?: { data: Blob | ArrayBuffer; contentType: string };
  /** Also return the HTTP status (e.g. 200 vs 202 of task creation). */
  withStatus?: boolean;
}

export interface WithStatus<T> {
  status: number;
  data: T;
}

/**
 * Calls the API.
 * @returns the parsed JSON answer (undefined for 204).
 * @throws ApiFailure with the server's sentence, or a network sentence (status 0).
 */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const session = loadSession();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (session) headers.authorization = `Bearer ${session.token}`;
  let body: BodyInit | undefined;
  if (options.raw) {
    headers['content-type'] = options.raw.contentType;
    body = options.raw.data;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let res: Response;
  try {
    res = await fetch(`${path}${queryString(options.query)}`, { method, headers, body, signal: options.signal });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiFailure(0, 'NETWORK', 'The server could not be reached; check the connection and try again.');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const problem = json as { code?: unknown; message?: unknown; details?: unknown } | undefined;
    const failure =
      problem && typeof problem.code === 'string' && typeof problem.message === 'string'
        ? new ApiFailure(res.status, problem.code, problem.message, problem.details)
        : new ApiFailure(res.status, `HTTP_${res.status}`, `The server answered ${res.status} ${res.statusText || ''}`.trim() + '.');
    if (res.status === 401 && session && SESSION_GONE.has(failure.code) && path !== '/api/session') onSessionGone(failure.message);
    throw failure;
  }
  return (options.withStatus ? { status: res.status, data: json } : json) as T;
}

export const get = <T>(path: string, query?: Query, signal?: AbortSignal) => call<T>('GET', path, { query, signal });
export const post = <T>(path: string, body?: unknown, query?: Query) => call<T>('POST', path, { body, query });
export const patch = <T>(path: string, body: unknown) => call<T>('PATCH', path, { body });
export const put = <T>(path: string, body?: unknown) => call<T>('PUT', path, { body });
export const del = <T>(path: string, query?: Query) => call<T>('DELETE', path, { query });

/** `encodeURIComponent` for path segments (device ids contain dashes and may contain more). */
export const seg = (value: string) => encodeURIComponent(value);

/** True when the failure says the route does not exist on this server (a part not installed). */
export function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiFailure && err.status === 404 && err.code === 'ROUTE_NOT_FOUND';
}
