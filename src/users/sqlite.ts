/**
 * SQLite implementation of `UserStore` (better-sqlite3 12).
 *
 * It opens its own connection to the core store's database file (the core `SqliteStore` keeps its
 * handle private), in WAL mode with a busy timeout, as the provisioning store does. Its tables are
 * prefixed `console_` and migrated through their own version table, so the core schema never sees
 * them. Tests pass `file: ':memory:'`.
 */
import Database from 'better-sqlite3';
import { openWalDatabase } from '../store/sqlite/wal.ts';
import { newId } from './ids.ts';
import { join } from 'node:path';
import { StoreError, type IsoTimestamp } from '../store/types.ts';
import type {
  ConsoleSession,
  NewConsoleSession,
  NewUser,
  SessionEndReason,
  User,
  UserPatch,
  UserRole,
  UserStore,
  UserWithSecret,
} from './types.ts';

/** The core store's file name (src/store/sqlite/index.ts), so both connections open the same file. */
const SQLITE_FILE_NAME = 'switchboard.sqlite';

export interface SqliteUserStoreOptions {
  /** Data directory (the file is `switchboard.sqlite`, shared with the core store). */
  dataDir?: string;
  /** Exact file path (wins over dataDir); `:memory:` for tests. */
  file?: string;
  /** Clock in ms (tests fake it). */
  now?: () => number;
}

interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** Never edit a shipped migration: add one. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'console users and login sessions',
    sql: `
      CREATE TABLE console_users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_login_at TEXT
      ) STRICT;

      CREATE TABLE console_sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        token_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        absolute_expires_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT
      ) STRICT;
      CREATE INDEX console_sessions_user ON console_sessions (user_id, ended_at);
      -- the expiry sweep reads open sessions only
      CREATE INDEX console_sessions_open ON console_sessions (expires_at) WHERE ended_at IS NULL;
    `,
  },
];

/**
 * Brings the console tables to the latest version.
 * @returns the versions applied.
 * @throws Error when the database holds a newer console schema than this code.
 */
export function migrateUsers(db: Database.Database): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS console_schema_migrations (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const current = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM console_schema_migrations').get() as { v: number }).v;
  const latest = MIGRATIONS[MIGRATIONS.length - 1].version;
  if (current > latest) throw new Error(`console schema version ${current} is newer than this Switchboard (${latest}); refusing to open it`);
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO console_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.description, new Date().toISOString());
    })();
    applied.push(m.version);
  }
  return applied;
}

interface UserRow {
  id: string;
  username: string;
  role: string;
  password_hash: string;
  disabled: number;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  token_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  absolute_expires_at: string;
  ended_at: string | null;
  end_reason: string | null;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    role: row.role as UserRole,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
  };
}

function toSession(row: SessionRow): ConsoleSession {
  return {
    id: row.id,
    userId: row.user_id,
    tokenId: row.token_id,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    absoluteExpiresAt: row.absolute_expires_at,
    endedAt: row.ended_at,
    endReason: row.end_reason as SessionEndReason | null,
  };
}

/** `UserStore` on one SQLite file. Create it with `openSqliteUserStore`. */
export class SqliteUserStore implements UserStore {
  readonly name: string;
  private readonly db: Database.Database;
  private readonly clock: () => number;
  private closed = false;
  private readonly s;

  constructor(db: Database.Database, name: string, clock: () => number) {
    this.db = db;
    this.name = name;
    this.clock = clock;
    this.s = {
      insertUser: db.prepare(
        'INSERT INTO console_users (id, username, role, password_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)',
      ),
      userById: db.prepare<[string], UserRow>('SELECT * FROM console_users WHERE id = ?'),
      userByName: db.prepare<[string], UserRow>('SELECT * FROM console_users WHERE username = ?'),
      listUsers: db.prepare<[], UserRow>('SELECT * FROM console_users ORDER BY username'),
      deleteUser: db.prepare('DELETE FROM console_users WHERE id = ?'),
      countAdmins: db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM console_users WHERE role = 'admin' AND disabled = 0"),
      insertSession: db.prepare(
        'INSERT INTO console_sessions (id, user_id, token_id, token_hash, created_at, expires_at, absolute_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      sessionById: db.prepare<[string], SessionRow>('SELECT * FROM console_sessions WHERE id = ?'),
      sessionByHash: db.prepare<[string], SessionRow>('SELECT * FROM console_sessions WHERE token_hash = ?'),
      extendSession: db.prepare('UPDATE console_sessions SET expires_at = ? WHERE id = ? AND ended_at IS NULL'),
      endSession: db.prepare('UPDATE console_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL'),
      expired: db.prepare<[string, string], SessionRow>(
        'SELECT * FROM console_sessions WHERE ended_at IS NULL AND (expires_at < ? OR absolute_expires_at < ?) ORDER BY expires_at',
      ),
      openOfUser: db.prepare<[string], SessionRow>('SELECT * FROM console_sessions WHERE user_id = ? AND ended_at IS NULL ORDER BY created_at'),
      prune: db.prepare('DELETE FROM console_sessions WHERE ended_at IS NOT NULL AND ended_at < ?'),
    };
  }

  private now(): IsoTimestamp {
    return new Date(this.clock()).toISOString();
  }

  /** Runs a synchronous body, mapping SQLite failures to StoreError. */
  private run<T>(body: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'the user store is closed'));
    try {
      return Promise.resolve(body());
    } catch (err) {
      if (err instanceof StoreError) return Promise.reject(err);
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_CONSTRAINT')) return Promise.reject(new StoreError('conflict', (err as Error).message));
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return Promise.reject(new StoreError('unavailable', 'the database is busy'));
      return Promise.reject(err);
    }
  }

  createUser(input: NewUser): Promise<User> {
    return this.run(() => {
      const at = input.createdAt ?? this.now();
      const username = input.username.toLowerCase();
      if (this.s.userByName.get(username)) throw new StoreError('conflict', `a user named "${username}" exists`);
      const id = newId('usr');
      this.s.insertUser.run(id, username, input.role, input.passwordHash, at, at);
      return toUser(this.s.userById.get(id)!);
    });
  }

  getUser(id: string): Promise<User | null> {
    return this.run(() => {
      const row = this.s.userById.get(id);
      return row ? toUser(row) : null;
    });
  }

  findUserForLogin(username: string): Promise<UserWithSecret | null> {
    return this.run(() => {
      const row = this.s.userByName.get(username.toLowerCase());
      return row ? { ...toUser(row), passwordHash: row.password_hash } : null;
    });
  }

  listUsers(): Promise<User[]> {
    return this.run(() => this.s.listUsers.all().map(toUser));
  }

  updateUser(id: string, patch: UserPatch): Promise<User | null> {
    return this.run(() => {
      const sets: string[] = [];
      const params: (string | number)[] = [];
      const set = (column: string, value: string | number) => {
        sets.push(`${column} = ?`);
        params.push(value);
      };
      if (patch.role !== undefined) set('role', patch.role);
      if (patch.passwordHash !== undefined) set('password_hash', patch.passwordHash);
      if (patch.disabled !== undefined) set('disabled', patch.disabled ? 1 : 0);
      if (patch.lastLoginAt !== undefined) set('last_login_at', patch.lastLoginAt);
      // A login stamp is not an edit of the user.
      if (patch.role !== undefined || patch.passwordHash !== undefined || patch.disabled !== undefined) set('updated_at', this.now());
      if (sets.length > 0) this.db.prepare(`UPDATE console_users SET ${sets.join(', ')} WHERE id = ?`).run(...params, id);
      const row = this.s.userById.get(id);
      return row ? toUser(row) : null;
    });
  }

  deleteUser(id: string): Promise<boolean> {
    return this.run(() => this.s.deleteUser.run(id).changes > 0);
  }

  countActiveAdmins(): Promise<number> {
    return this.run(() => this.s.countAdmins.get()!.n);
  }

  createSession(input: NewConsoleSession): Promise<ConsoleSession> {
    return this.run(() => {
      const id = newId('ses');
      this.s.insertSession.run(id, input.userId, input.tokenId, input.tokenHash, input.createdAt, input.expiresAt, input.absoluteExpiresAt);
      return toSession(this.s.sessionById.get(id)!);
    });
  }

  findSessionByTokenHash(hash: string): Promise<ConsoleSession | null> {
    return this.run(() => {
      const row = this.s.sessionByHash.get(hash);
      return row ? toSession(row) : null;
    });
  }

  extendSession(id: string, expiresAt: IsoTimestamp): Promise<void> {
    return this.run(() => {
      this.s.extendSession.run(expiresAt, id);
    });
  }

  endSession(id: string, reason: SessionEndReason, at: IsoTimestamp): Promise<ConsoleSession | null> {
    return this.run(() => {
      if (this.s.endSession.run(at, reason, id).changes === 0) return null;
      return toSession(this.s.sessionById.get(id)!);
    });
  }

  listExpiredSessions(now: IsoTimestamp): Promise<ConsoleSession[]> {
    return this.run(() => this.s.expired.all(now, now).map(toSession));
  }

  listOpenSessions(userId: string): Promise<ConsoleSession[]> {
    return this.run(() => this.s.openOfUser.all(userId).map(toSession));
  }

  pruneSessions(before: IsoTimestamp): Promise<number> {
    return this.run(() => this.s.prune.run(before).changes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/**
 * Opens (and migrates) the user tables in the core database file.
 * @throws Error when the file cannot be opened or holds a newer console schema.
 */
export function openSqliteUserStore(options: SqliteUserStoreOptions = {}): SqliteUserStore {
  const file = options.file ?? join(options.dataDir ?? './data', SQLITE_FILE_NAME);
  const db = openWalDatabase(file);
  try {
    migrateUsers(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteUserStore(db, `sqlite:${file}`, options.now ?? Date.now);
}
