/**
 * Errors of the console's own API routes (login, users, live events, overview). They have the same
 * shape as the REST API's (`{ code, message, details? }`, codes in UPPER_SNAKE) so that a client
 * handles both alike; the codes below are the ones the API's registry (src/api/errors.ts) does not
 * have. Routes also answer the API's own codes (UNAUTHORIZED, FORBIDDEN, VALIDATION_FAILED...)
 * through `ApiError`.
 */

export interface ConsoleErrorDefinition {
  status: number;
  /** `{name}` is replaced by the argument `name`. */
  message: string;
  description: string;
}

export const CONSOLE_ERRORS = {
  INVALID_CREDENTIALS: {
    status: 401,
    message: 'The username or the password is wrong.',
    description: 'A login with an unknown user, a wrong password or a disabled user (the answer does not say which).',
  },
  TOO_MANY_ATTEMPTS: {
    status: 429,
    message: 'Too many failed logins; try again in {seconds} seconds.',
    description: 'Repeated failed logins for one username or from one address.',
  },
  SESSION_EXPIRED: {
    status: 401,
    message: 'Your console session has expired; log in again.',
    description: 'The bearer token came from a console login whose session expired (idle or absolute limit).',
  },
  NOT_A_CONSOLE_SESSION: {
    status: 400,
    message: 'This request needs a token from a console login, not an API token.',
    description: 'Session routes called with a plain API token.',
  },
  USER_NOT_FOUND: {
    status: 404,
    message: 'No user has the id "{id}".',
    description: 'The user id is unknown.',
  },
  USERNAME_TAKEN: {
    status: 409,
    message: 'A user named "{username}" already exists.',
    description: 'Creating a user with a name in use (names compare case-insensitively).',
  },
  LAST_ADMIN_USER: {
    status: 409,
    message: 'The user "{username}" is the last active admin; make another user admin first.',
    description: 'Deleting, disabling or demoting the only enabled admin user would lock administrators out.',
  },
  WEAK_PASSWORD: {
    status: 400,
    message: 'The password is not acceptable: {reason}.',
    description: 'A new password is too short, too long, or equal to the username.',
  },
  WRONG_PASSWORD: {
    status: 400,
    message: 'The current password is wrong.',
    description: 'Changing one\'s own password with a wrong current password.',
  },
  TOO_MANY_STREAMS: {
    status: 503,
    message: 'Too many live event streams are open ({limit}); close another console tab and try again.',
    description: 'The server caps concurrent event streams.',
  },
} as const satisfies Record<string, ConsoleErrorDefinition>;

export type ConsoleErrorCode = keyof typeof CONSOLE_ERRORS;

/** A typed console error, answered as `{ code, message }` with its status. */
export class ConsoleError extends Error {
  readonly code: ConsoleErrorCode;
  readonly statusCode: number;
  readonly headers: Record<string, string>;

  constructor(code: ConsoleErrorCode, args: Record<string, string | number> = {}, headers: Record<string, string> = {}) {
    super(CONSOLE_ERRORS[code].message.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(args, name) ? String(args[name]) : whole)));
    this.name = 'ConsoleError';
    this.code = code;
    this.statusCode = CONSOLE_ERRORS[code].status;
    this.headers = headers;
  }

  toBody(): { code: ConsoleErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}
