/**
 * Console users: storage, password hashing, first admin and the `/api/session` + `/api/users` routes.
 */
export * from './types.ts';
export { openSqliteUserStore, SqliteUserStore, type SqliteUserStoreOptions } from './sqlite.ts';
export { hashPassword, verifyPassword, passwordProblem, SCRYPT_PARAMS } from './password.ts';
export { ensureFirstAdmin, ADMIN_PASSWORD_ENV, ADMIN_PASSWORD_FILE, FIRST_ADMIN_USERNAME, type FirstAdminResult } from './bootstrap.ts';
export { registerUsers, prepareConsoleContext, principalOf, sendConsoleError, type UsersPlugin, type UsersPluginOptions } from './plugin.ts';
export { ConsoleError, CONSOLE_ERRORS, type ConsoleErrorCode } from './errors.ts';
