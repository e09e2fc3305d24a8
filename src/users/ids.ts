import { randomBytes } from 'node:crypto';

const ID_BYTES = 8;

/** A new user or session id: `<prefix>_<16 hex digits>` (both user stores use it). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(ID_BYTES).toString('hex')}`;
}
