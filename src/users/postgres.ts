/**
 * PostgreSQL implementation of `UserStore`, for several ACS instances sharing one database
 * (issue #8): a user created through one instance logs in through any other, and a console
 * session (its expiry, its end) is seen by all of them.
 *
 * The tables (`console_users`, `console_sessions`, versions in `console_schema_migrations`) sit in
 * the core store's schema, migrated under an advisory lock (src/store/postgres/part-migrations.ts) so that
 * instances starting together on an empty database do not race. Same semantics as sqlite.ts:
 * usernames are unique case-insensitively (a unique index on lower(username)), a taken name is a
 * `conflict`, timestamps go in and out as ISO strings.
 */
import pg from 'pg';
import { newId } from './ids.ts';
import { StoreError, type IsoTimestamp } from '../store/types.ts';
import { migratePart, type PartMigration } from '../store/postgres/part-migrations.ts';
import { createSchemaIfMissing } from '../store/postgres/sql.ts';
import type { ConsoleSession, NewConsoleSession, NewUser, SessionEndReason, User, UserPatch, UserRole, UserStore, UserWithSecret } from './types.ts';
import type { LoginThrottleBackend, ThrottleOptions } from './throttle.ts';

const POOL_SIZE = 3;
/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]*$/;

/** Never edit a shipped migration: add one. */
const MIGRATIONS: readonly PartMigration[] = [
  {
    version: 1,
    description: 'console users and login sessions',
    sql: `
      CREATE TABLE {schema}.console_users (
        id text PRIMARY KEY,
        username text NOT NULL,
        role text NOT NULL,
        password_hash text NOT NULL,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        last_login_at timestamptz
      );
      -- names compare case-insensitively (as COLLATE NOCASE in SQLite); they are stored lower-case
      CREATE UNIQUE INDEX console_users_username ON {schema}.console_users (lower(username));

      CREATE TABLE {schema}.console_sessions (
        id text PRIMARY KEY,
        user_id text NOT NULL,
        token_id text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        absolute_expires_at timestamptz NOT NULL,
        ended_at timestamptz,
        end_reason text
      );
      CREATE INDEX console_sessions_user ON {schema}.console_sessions (user_id, ended_at);
      -- the expiry sweep reads open sessions only
      CREATE INDEX console_sessions_open ON {schema}.console_sessions (expires_at) WHERE ended_at IS NULL;
    `,
  },
  {
    version: 2,
    description: 'failed-login throttle shared by the ACS instances',
    sql: `
      -- times in ms since the epoch, as the caller's clock gives them (LoginThrottle semantics)
      CREATE TABLE {schema}.console_login_throttle (
        key text PRIMARY KEY,
        failures integer NOT NULL,
        first_at bigint NOT NULL,
        blocked_until bigint NOT NULL
      );
    `,
  },
];

/** Stale throttle rows deleted per failure at most (keeps the table bounded under a key-cycling attack). */
const THROTTLE_PRUNE_BATCH = 100;

export interface PostgresUserStoreOptions {
  /** A pool to use (not closed by `close()`): the cluster link's. Else `url` opens one. */
  pool?: pg.Pool;
  url?: string;
  /** Schema of the tables (default `public`; the core store's schema in an ACS). */
  schema?: string;
  /** Create the schema when missing (tests). */
  createSchema?: boolean;
  /** Clock in ms for updated_at stamps (tests fake it). */
  now?: () => number;
}

interface UserRow {
  id: string;
  username: string;
  role: string;
  password_hash: string;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  token_id: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date;
  absolute_expires_at: Date;
  ended_at: Date | null;
  end_reason: string | null;
}

const iso = (d: Date): IsoTimestamp => d.toISOString();
const isoOrNull = (d: Date | null): IsoTimestamp | null => (d === null ? null : d.toISOString());

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    role: row.role as UserRole,
    disabled: row.disabled,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    lastLoginAt: isoOrNull(row.last_login_at),
  };
}

function toSession(row: SessionRow): ConsoleSession {
  return {
    id: row.id,
    userId: row.user_id,
    tokenId: row.token_id,
    tokenHash: row.token_hash,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    absoluteExpiresAt: iso(row.absolute_expires_at),
    endedAt: isoOrNull(row.ended_at),
    endReason: row.end_reason as SessionEndReason | null,
  };
}

/** `UserStore` on PostgreSQL. Create it with `openPostgresUserStore`. */
export class PostgresUserStore implements UserStore {
  readonly name: string;
  private readonly pool: pg.Pool;
  private readonly ownPool: boolean;
  private readonly users: string;
  private readonly sessions: string;
  private readonly clock: () => number;
  private closed = false;

  constructor(pool: pg.Pool, ownPool: boolean, schema: string, clock: () => number) {
    this.pool = pool;
    this.ownPool = ownPool;
    this.users = `"${schema}".console_users`;
    this.sessions = `"${schema}".console_sessions`;
    this.clock = clock;
    this.name = `postgres:${schema}`;
  }

  /** One statement; failures become StoreError (`conflict` for a unique violation, `unavailable`). */
  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new StoreError('unavailable', 'the user store is closed');
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === UNIQUE_VIOLATION) throw new StoreError('conflict', (err as Error).message);
      if (code === undefined || code.startsWith('E') || code.startsWith('08') || code.startsWith('57P')) throw new StoreError('unavailable', `user store: ${(err as Error).message}`);
      throw err;
    }
  }

  async createUser(input: NewUser): Promise<User> {
    const at = input.createdAt ?? new Date(this.clock()).toISOString();
    const username = input.username.toLowerCase();
    // ON CONFLICT: concurrent creators of one name (instances creating the first admin together)
    // get a clean `conflict`, never a half-created user.
    const { rows } = await this.q<UserRow>(
      `INSERT INTO ${this.users} (id, username, role, password_hash, disabled, created_at, updated_at)
       VALUES ($1, $2, $3, $4, false, $5, $5) ON CONFLICT DO NOTHING RETURNING *`,
      [newId('usr'), username, input.role, input.passwordHash, at],
    );
    if (rows.length === 0) throw new StoreError('conflict', `a user named "${username}" exists`);
    return toUser(rows[0]);
  }

  async getUser(id: string): Promise<User | null> {
    const { rows } = await this.q<UserRow>(`SELECT * FROM ${this.users} WHERE id = $1`, [id]);
    return rows.length > 0 ? toUser(rows[0]) : null;
  }

  async findUserForLogin(username: string): Promise<UserWithSecret | null> {
    const { rows } = await this.q<UserRow>(`SELECT * FROM ${this.users} WHERE lower(username) = $1`, [username.toLowerCase()]);
    return rows.length > 0 ? { ...toUser(rows[0]), passwordHash: rows[0].password_hash } : null;
  }

  async listUsers(): Promise<User[]> {
    // COLLATE "C": by code point, as SQLite orders.
    const { rows } = await this.q<UserRow>(`SELECT * FROM ${this.users} ORDER BY username COLLATE "C"`);
    return rows.map(toUser);
  }

  async updateUser(id: string, patch: UserPatch): Promise<User | null> {
    const sets: string[] = [];
    const values: unknown[] = [id];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (patch.role !== undefined) set('role', patch.role);
    if (patch.passwordHash !== undefined) set('password_hash', patch.passwordHash);
    if (patch.disabled !== undefined) set('disabled', patch.disabled);
    if (patch.lastLoginAt !== undefined) set('last_login_at', patch.lastLoginAt);
    // A login stamp is not an edit of the user.
    if (patch.role !== undefined || patch.passwordHash !== undefined || patch.disabled !== undefined) set('updated_at', new Date(this.clock()).toISOString());
    if (sets.length === 0) return this.getUser(id);
    const { rows } = await this.q<UserRow>(`UPDATE ${this.users} SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values);
    return rows.length > 0 ? toUser(rows[0]) : null;
  }

  async deleteUser(id: string): Promise<boolean> {
    return ((await this.q(`DELETE FROM ${this.users} WHERE id = $1`, [id])).rowCount ?? 0) > 0;
  }

  async countActiveAdmins(): Promise<number> {
    const { rows } = await this.q<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${this.users} WHERE role = 'admin' AND NOT disabled`);
    return rows[0].n;
  }

  async createSession(input: NewConsoleSession): Promise<ConsoleSession> {
    const { rows } = await this.q<SessionRow>(
      `INSERT INTO ${this.sessions} (id, user_id, token_id, token_hash, created_at, expires_at, absolute_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [newId('ses'), input.userId, input.tokenId, input.tokenHash, input.createdAt, input.expiresAt, input.absoluteExpiresAt],
    );
    return toSession(rows[0]);
  }

  async findSessionByTokenHash(hash: string): Promise<ConsoleSession | null> {
    const { rows } = await this.q<SessionRow>(`SELECT * FROM ${this.sessions} WHERE token_hash = $1`, [hash]);
    return rows.length > 0 ? toSession(rows[0]) : null;
  }

  async extendSession(id: string, expiresAt: IsoTimestamp): Promise<void> {
    await this.q(`UPDATE ${this.sessions} SET expires_at = $2 WHERE id = $1 AND ended_at IS NULL`, [id, expiresAt]);
  }

  async endSession(id: string, reason: SessionEndReason, at: IsoTimestamp): Promise<ConsoleSession | null> {
    // Only the first ender wins (two instances sweeping the same expired session).
    const { rows } = await this.q<SessionRow>(`UPDATE ${this.sessions} SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL RETURNING *`, [id, at, reason]);
    return rows.length > 0 ? toSession(rows[0]) : null;
  }

  async listExpiredSessions(now: IsoTimestamp): Promise<ConsoleSession[]> {
    const { rows } = await this.q<SessionRow>(
      `SELECT * FROM ${this.sessions} WHERE ended_at IS NULL AND (expires_at < $1 OR absolute_expires_at < $1) ORDER BY expires_at`,
      [now],
    );
    return rows.map(toSession);
  }

  async listOpenSessions(userId: string): Promise<ConsoleSession[]> {
    const { rows } = await this.q<SessionRow>(`SELECT * FROM ${this.sessions} WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at`, [userId]);
    return rows.map(toSession);
  }

  async pruneSessions(before: IsoTimestamp): Promise<number> {
    return (await this.q(`DELETE FROM ${this.sessions} WHERE ended_at IS NOT NULL AND ended_at < $1`, [before])).rowCount ?? 0;
  }

  /**
   * The failed-login throttle in this database, shared by every instance using it.
   * @returns a `LoginThrottleBackend` for `registerUsers`.
   */
  loginThrottle(options: ThrottleOptions): LoginThrottleBackend {
    const table = this.users.replace(/console_users$/, 'console_login_throttle');
    return {
      retryAfterMs: async (key, now) => {
        const { rows } = await this.q<{ blocked_until: string }>(`SELECT blocked_until FROM ${table} WHERE key = $1`, [key]);
        return rows.length > 0 ? Math.max(0, Number(rows[0].blocked_until) - now) : 0;
      },
      fail: async (key, now) => {
        // One statement, so that concurrent failures of a key on several instances all count: a
        // failure outside the window starts a new one, and the failure that reaches maxFailures
        // blocks the key and starts counting again (as LoginThrottle does).
        const counted = `(CASE WHEN $2::bigint - t.first_at > $3::bigint THEN 1 ELSE t.failures + 1 END)`;
        await this.q(
          `INSERT INTO ${table} AS t (key, failures, first_at, blocked_until)
           VALUES ($1, CASE WHEN 1 >= $4::int THEN 0 ELSE 1 END, $2::bigint, CASE WHEN 1 >= $4::int THEN $2::bigint + $5::bigint ELSE 0 END)
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN ${counted} >= $4::int THEN 0 ELSE ${counted} END,
             first_at = CASE WHEN ${counted} >= $4::int OR $2::bigint - t.first_at > $3::bigint THEN $2::bigint ELSE t.first_at END,
             blocked_until = CASE WHEN ${counted} >= $4::int THEN $2::bigint + $5::bigint ELSE t.blocked_until END`,
          [key, now, options.windowMs, options.maxFailures, options.blockMs],
        );
        await this.q(`DELETE FROM ${table} WHERE key IN (SELECT key FROM ${table} WHERE blocked_until < $1 AND first_at < $1::bigint - $2::bigint LIMIT ${THROTTLE_PRUNE_BATCH})`, [
          now,
          options.windowMs,
        ]);
      },
      succeed: async (key) => {
        await this.q(`DELETE FROM ${table} WHERE key = $1`, [key]);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownPool) await this.pool.end();
  }
}

/**
 * Opens (and migrates, once across instances) the console tables on PostgreSQL.
 * @returns the store.
 * @throws StoreError `unavailable` when the database cannot be reached; Error for a bad schema name,
 *   a missing schema, or a database holding a newer console schema.
 */
export async function openPostgresUserStore(options: PostgresUserStoreOptions): Promise<PostgresUserStore> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_PATTERN.test(schema)) throw new Error(`bad schema name ${JSON.stringify(schema)}`);
  if (!options.pool && !options.url) throw new Error('openPostgresUserStore needs a pool or a url');
  const pool = options.pool ?? new pg.Pool({ connectionString: options.url, max: POOL_SIZE, application_name: 'switchboard-users' });
  const own = options.pool === undefined;
  if (own) pool.on('error', () => undefined);
  try {
    if (options.createSchema) await createSchemaIfMissing(pool, schema);
    await migratePart(pool, schema, 'console', MIGRATIONS);
  } catch (err) {
    if (own) await pool.end().catch(() => undefined);
    const code = (err as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code?.startsWith('08')) throw new StoreError('unavailable', `user store: ${(err as Error).message}`);
    throw err;
  }
  return new PostgresUserStore(pool, own, schema, options.now ?? Date.now);
}
