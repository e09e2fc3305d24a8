/**
 * The UserStore contract on SQLite: each store a file of its own; a sibling is a second connection
 * to the same file (workers of one host).
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTRACT_THROTTLE, loginThrottleContract, userStoreContract } from './contract.ts';
import { LoginThrottle } from './throttle.ts';
import { openSqliteUserStore } from './sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-users-contract-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
let last = '';

userStoreContract('sqlite', {
  async open() {
    last = join(dir, `users-${++n}.sqlite`);
    return openSqliteUserStore({ file: last });
  },
  async openSibling() {
    return openSqliteUserStore({ file: last });
  },
});

loginThrottleContract('memory', {
  async open() {
    return new LoginThrottle(CONTRACT_THROTTLE);
  },
});
