/**
 * Test harness of the console's server side: a real SQLite store in a temp dir, the REST API
 * (`buildApi`) with the console attached, and a minimal stand-in for the ACS core whose events the
 * tests emit themselves.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { AcsControl, AcsEventMap, EnqueueOptions, EnqueueResult } from '../../src/acs/app.ts';
import type { ConnectionRequestResult } from '../../src/acs/connection-request.ts';
import { validateTaskPayload } from '../../src/acs/tasks/schema.ts';
import { buildApi, hashToken } from '../../src/api/index.ts';
import { attachConsole, type AttachedConsole, type ConsoleOptions } from '../../src/console/server/index.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { ApiRole, JsonObject, Store, Task } from '../../src/store/types.ts';

/** Cheap scrypt for tests (the production cost is ~100 ms per hash). */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };
export const ADMIN_PASSWORD = 'correct horse battery';

export class StubAcs implements AcsControl {
  readonly events = new EventEmitter<AcsEventMap>();
  readonly cwmpUrl = 'http://127.0.0.1:7547/';
  readonly connectionRequests: string[] = [];
  crResult: ConnectionRequestResult = { status: 'ok', transport: 'http', httpStatus: 200, detail: 'the CPE accepted the request' };
  constructor(readonly store: Store) {}
  async enqueueTask(deviceId: string, payload: unknown, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const valid = validateTaskPayload(payload);
    const task = await this.store.createTask({ deviceId, payload: valid as unknown as JsonObject & { type: string }, connectionRequest: options.connectionRequest ?? false });
    this.events.emit('task', task);
    return options.connectionRequest ? { task, connectionRequest: await this.connectionRequest(deviceId) } : { task };
  }
  async cancelTask(taskId: string): Promise<Task | null> {
    return this.store.cancelTask(taskId);
  }
  async waitForTask(taskId: string): Promise<Task | null> {
    return this.store.getTask(taskId);
  }
  async connectionRequest(deviceId: string): Promise<ConnectionRequestResult> {
    this.connectionRequests.push(deviceId);
    return this.crResult;
  }
  activeSessions(): number {
    return 0;
  }
  isInSession(): boolean {
    return false;
  }
}

export interface Harness {
  app: FastifyInstance;
  store: Store;
  acs: StubAcs;
  console: AttachedConsole;
  dataDir: string;
  /** The bootstrap admin API token (not a console session). */
  adminToken: string;
  call(method: string, url: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  login(username: string, password: string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** Builds the API with the console attached, in a fresh temp data dir. */
export async function setup(options: Partial<ConsoleOptions> = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-console-'));
  const store = await openSqliteStore({ dataDir });
  const adminToken = 'sb_test-admin-token';
  await store.createApiToken({ name: 'bootstrap', role: 'admin' as ApiRole, hash: hashToken(adminToken) });
  const acs = new StubAcs(store);
  const app = await buildApi({ store, acs });
  const attached = await attachConsole(app, {
    store,
    acs,
    dataDir,
    scryptParams: TEST_SCRYPT,
    env: { SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD },
    ...options,
  });
  await app.ready();
  const call: Harness['call'] = (method, url, o = {}) => {
    const token = o.token === undefined ? adminToken : o.token;
    const headers: Record<string, string> = { ...o.headers };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    return app.inject({ method: method as 'GET', url, headers, ...(o.body === undefined ? {} : { payload: o.body as object }) });
  };
  return {
    app,
    store,
    acs,
    console: attached,
    dataDir,
    adminToken,
    call,
    login: (username, password) => call('POST', '/api/session', { token: null, body: { username, password } }),
    async close() {
      await app.close();
      await attached.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
