/**
 * Console users and their login sessions.
 *
 * A user has a role (the API's roles: viewer < operator < admin) and a scrypt password hash. Logging
 * in creates a console session: an ordinary API token (stored by the core store, so the REST API's
 * own authentication accepts it) with the user's role, plus a session row here that gives the token
 * an expiry. The users plugin revokes the token when the session ends (logout, idle or absolute
 * expiry, user disabled/deleted/demoted).
 *
 * Like the core `Store`, `UserStore` is async and names no SQL dialect; the SQLite implementation
 * keeps its tables (prefixed `console_`) in the core database file under its own version table.
 */
import type { ApiRole, IsoTimestamp } from '../store/types.ts';

export type UserRole = ApiRole;

/** A user as the API shows it (never the password hash). */
export interface User {
  id: string;
  /** Unique, lower-case: letters, digits, `.`, `_`, `@`, `-`. */
  username: string;
  role: UserRole;
  /** A disabled user cannot log in; their sessions were ended when they were disabled. */
  disabled: boolean;
  createdAt: IsoTimestamp;
  updatedAt: IsoTimestamp;
  lastLoginAt: IsoTimestamp | null;
}

/** A user with the stored password hash, for the login check only. */
export interface UserWithSecret extends User {
  /** `scrypt$N$r$p$salt$hash` (see password.ts). */
  passwordHash: string;
}

export interface NewUser {
  username: string;
  role: UserRole;
  passwordHash: string;
  createdAt?: IsoTimestamp;
}

/** A change to a user; `undefined` keeps the stored value. */
export interface UserPatch {
  role?: UserRole;
  passwordHash?: string;
  disabled?: boolean;
  lastLoginAt?: IsoTimestamp;
}

/** Why a console session ended. */
export type SessionEndReason = 'logout' | 'expired' | 'user-changed' | 'user-deleted' | 'password-changed';

/** One login: the API token it issued and when it expires. */
export interface ConsoleSession {
  id: string;
  userId: string;
  /** Id of the API token in the core store. */
  tokenId: string;
  /** Lower-case hex SHA-256 of the token (as the core store keeps it). */
  tokenHash: string;
  createdAt: IsoTimestamp;
  /** Idle expiry: moved forward while the session is used, never past `absoluteExpiresAt`. */
  expiresAt: IsoTimestamp;
  absoluteExpiresAt: IsoTimestamp;
  endedAt: IsoTimestamp | null;
  endReason: SessionEndReason | null;
}

export type NewConsoleSession = Omit<ConsoleSession, 'id' | 'endedAt' | 'endReason'>;

/**
 * Storage of users and console sessions. Expected failures reject with `StoreError`
 * (`conflict` for a taken username, `unavailable` once closed).
 */
export interface UserStore {
  createUser(input: NewUser): Promise<User>;
  getUser(id: string): Promise<User | null>;
  /** The user with this (case-insensitive) name, with the hash, or null. */
  findUserForLogin(username: string): Promise<UserWithSecret | null>;
  /** Every user, by username. */
  listUsers(): Promise<User[]>;
  /** Resolves the changed user, or null when unknown. */
  updateUser(id: string, patch: UserPatch): Promise<User | null>;
  /** False when unknown. */
  deleteUser(id: string): Promise<boolean>;
  /** Users with the admin role that are not disabled. */
  countActiveAdmins(): Promise<number>;

  createSession(input: NewConsoleSession): Promise<ConsoleSession>;
  /** The session (ended or not) that issued the token with this hash, or null. */
  findSessionByTokenHash(hash: string): Promise<ConsoleSession | null>;
  /** Moves the idle expiry of an open session. */
  extendSession(id: string, expiresAt: IsoTimestamp): Promise<void>;
  /** Ends an open session; resolves it, or null when unknown or already ended. */
  endSession(id: string, reason: SessionEndReason, at: IsoTimestamp): Promise<ConsoleSession | null>;
  /** Open sessions whose idle or absolute expiry is before `now`. */
  listExpiredSessions(now: IsoTimestamp): Promise<ConsoleSession[]>;
  /** Open sessions of a user. */
  listOpenSessions(userId: string): Promise<ConsoleSession[]>;
  /** Deletes ended sessions that ended before `before`; resolves how many went. */
  pruneSessions(before: IsoTimestamp): Promise<number>;

  close(): Promise<void>;
}

/** Usernames: lower-case letters, digits and `._@-`, starting with a letter or digit. */
export const USERNAME_PATTERN = '^[a-z0-9][a-z0-9._@-]*$';
/** Longest username: token names (`console.<username>.<6 hex>`) stay within the API's 64. */
export const USERNAME_MAX_LENGTH = 48;
