/**
 * Password hashing with scrypt (node:crypto), stored as `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`
 * so the cost can be raised later without breaking stored hashes (verification reads the
 * parameters from the hash itself).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters: N=2^15, r=8, p=1 (about 32 MiB and ~50-100 ms per hash). */
export const SCRYPT_PARAMS = { N: 32768, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_BYTES = 16;
/** scrypt needs 128*N*r bytes; Node's default maxmem (32 MiB) is just short of N=2^15, r=8. */
const MAX_MEMORY_FACTOR = 2;

/** Shortest and longest accepted passwords (long ones only cost hashing time, so they are capped). */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function options(N: number, r: number, p: number): ScryptOptions {
  return { N, r, p, maxmem: MAX_MEMORY_FACTOR * 128 * N * r };
}

/**
 * Hashes a password with a fresh random salt.
 * @returns the encoded hash.
 * @throws Error only when scrypt itself fails (out of memory).
 */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(password, salt, KEY_LENGTH, options(params.N, params.r, params.p));
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/**
 * Checks a password against an encoded hash in constant time (for a given hash).
 * @returns true when it matches; false for a wrong password or a malformed hash.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (expected.length === 0) return false;
  const actual = await scryptAsync(password, salt, expected.length, options(N, r, p));
  return timingSafeEqual(actual, expected);
}

/** A hash of a random password, checked when the username is unknown so that timing does not tell. */
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(SALT_BYTES).toString('hex'));
  return decoyHash;
}

/**
 * Says what is wrong with a new password, or null when it is acceptable.
 * @returns a sentence fragment such as "it is shorter than 8 characters".
 */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH) return `it is shorter than ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH) return `it is longer than ${PASSWORD_MAX_LENGTH} characters`;
  if (username !== undefined && password.toLowerCase() === username.toLowerCase()) return 'it is the same as the username';
  return null;
}

/** A random password for a generated first admin (24 base64url characters, 144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
