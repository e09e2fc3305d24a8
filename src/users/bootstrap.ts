/**
 * The first console user: when no user exists, an `admin` user is created with the password from
 * SWITCHBOARD_ADMIN_PASSWORD, or with a generated one written to `<data-dir>/admin-password`
 * (mode 0600, like the bootstrap API token), so that a fresh install can be logged into.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePassword, hashPassword, passwordProblem, SCRYPT_PARAMS } from './password.ts';
import { StoreError } from '../store/types.ts';
import type { User, UserStore } from './types.ts';

/** The name of the file holding a generated first admin password. */
export const ADMIN_PASSWORD_FILE = 'admin-password';
/** The environment variable that sets the first admin's password. */
export const ADMIN_PASSWORD_ENV = 'SWITCHBOARD_ADMIN_PASSWORD';
export const FIRST_ADMIN_USERNAME = 'admin';

export interface FirstAdminOptions {
  /** Where a generated password is written; null = do not write (tests, `:memory:` stores). */
  dataDir: string | null;
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  scryptParams?: { N: number; r: number; p: number };
}

/** What `ensureFirstAdmin` did. */
export type FirstAdminResult =
  | { created: false }
  | { created: true; user: User; passwordSource: 'env'; passwordFile: null }
  | { created: true; user: User; passwordSource: 'generated'; passwordFile: string | null; password: string };

/**
 * Creates the first admin user when there is no user at all.
 * @returns what was done (the generated password too, so a caller without a data dir can show it).
 * @throws Error when SWITCHBOARD_ADMIN_PASSWORD is set but too weak, or the file cannot be written.
 */
export async function ensureFirstAdmin(users: UserStore, options: FirstAdminOptions): Promise<FirstAdminResult> {
  if ((await users.listUsers()).length > 0) return { created: false };
  const env = options.env ?? process.env;
  const given = env[ADMIN_PASSWORD_ENV];
  const params = options.scryptParams ?? SCRYPT_PARAMS;
  if (given !== undefined && given !== '') {
    const problem = passwordProblem(given, FIRST_ADMIN_USERNAME);
    if (problem) throw new Error(`${ADMIN_PASSWORD_ENV} is not acceptable: ${problem}`);
    const user = await createOrLose(users, await hashPassword(given, params));
    return user ? { created: true, user, passwordSource: 'env', passwordFile: null } : { created: false };
  }
  const password = generatePassword();
  // The user first, the file after: an instance that lost a start-up race must not overwrite the
  // winner's file with a password that was never stored.
  const user = await createOrLose(users, await hashPassword(password, params));
  if (!user) return { created: false };
  let passwordFile: string | null = null;
  if (options.dataDir !== null) {
    passwordFile = join(options.dataDir, ADMIN_PASSWORD_FILE);
    try {
      mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
      // writeFileSync keeps the mode of an existing file: force it.
      chmodSync(passwordFile, 0o600);
    } catch (err) {
      // Nobody could ever learn this password: take the user back so that the next start retries.
      await users.deleteUser(user.id);
      throw err;
    }
  }
  return { created: true, user, passwordSource: 'generated', passwordFile, password };
}

/**
 * Creates the first admin, or resolves null when another instance sharing the database created a
 * user named admin first (several ACS processes starting together on an empty database).
 */
async function createOrLose(users: UserStore, passwordHash: string): Promise<User | null> {
  try {
    return await users.createUser({ username: FIRST_ADMIN_USERNAME, role: 'admin', passwordHash });
  } catch (err) {
    if (err instanceof StoreError && err.code === 'conflict') return null;
    throw err;
  }
}
