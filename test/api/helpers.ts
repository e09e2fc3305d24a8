/**
 * Test harness of the REST API: a real SQLite store in a temp dir, a fake `AcsControl` (a device
 * that runs its queued tasks when it gets a connection request, or stays silent), one token per
 * role, and a small `call()` wrapper around `app.inject()`.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { AcsControl, AcsEventMap, EnqueueOptions, EnqueueResult } from '../../src/acs/app.ts';
import type { ConnectionRequestResult } from '../../src/acs/connection-request.ts';
import { validateTaskPayload } from '../../src/acs/tasks/schema.ts';
import { buildApi, hashToken, type BuildApiOptions } from '../../src/api/index.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { FINAL_TASK_STATUSES, type ApiRole, type JsonObject, type JsonValue, type ParameterWrite, type Store, type Task } from '../../src/store/types.ts';

/** How the fake device reacts to a connection request. */
export type FakeDeviceMode =
  /** Runs every queued task of the device (status done, result from `resultFor`) shortly after. */
  | 'answers'
  /** Never opens a session: tasks stay pending. */
  | 'silent';

/** Delay between a connection request and the fake device's session, in ms. */
const FAKE_SESSION_DELAY_MS = 20;

/** A stand-in for the ACS core: same contract, backed by the same store, no CWMP. */
export class FakeAcs implements AcsControl {
  readonly events = new EventEmitter<AcsEventMap>();
  readonly cwmpUrl = 'http://127.0.0.1:7547/';
  mode: FakeDeviceMode = 'answers';
  connectionRequestResult: ConnectionRequestResult = { status: 'ok', transport: 'http', httpStatus: 200, detail: 'the CPE accepted the request' };
  readonly inSession = new Set<string>();
  readonly connectionRequests: string[] = [];
  /** Waits that ended because the caller aborted them (client gone). */
  abortedWaits = 0;
  /** Waits begun. */
  waitsStarted = 0;
  resultFor: (task: Task) => JsonValue = (task) => ({ echo: task.type });
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Sessions under way, awaited by `stop` so that none touches a closed store. */
  private readonly sessions = new Set<Promise<void>>();

  constructor(readonly store: Store) {}

  async enqueueTask(deviceId: string, payload: unknown, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const valid = validateTaskPayload(payload);
    const task = await this.store.createTask({
      deviceId,
      payload: valid as unknown as JsonObject & { type: string },
      maxAttempts: options.maxAttempts,
      expiresAt: options.expiresAt,
      connectionRequest: options.connectionRequest ?? false,
    });
    this.events.emit('task', task);
    if (!options.connectionRequest) return { task };
    return { task, connectionRequest: await this.connectionRequest(deviceId) };
  }

  async cancelTask(taskId: string): Promise<Task | null> {
    const task = await this.store.cancelTask(taskId);
    if (task) this.events.emit('task', task);
    return task;
  }

  async waitForTask(taskId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<Task | null> {
    this.waitsStarted++;
    const current = await this.store.getTask(taskId);
    if (!current || FINAL_TASK_STATUSES.includes(current.status)) return current;
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.events.off('task', onTask);
        options.signal?.removeEventListener('abort', onAbort);
        void this.store.getTask(taskId).then(resolve);
      };
      const onTask = (task: Task) => {
        if (task.id === taskId && FINAL_TASK_STATUSES.includes(task.status)) finish();
      };
      const onAbort = () => {
        this.abortedWaits++;
        finish();
      };
      const timer = setTimeout(finish, options.timeoutMs);
      this.events.on('task', onTask);
      options.signal?.addEventListener('abort', onAbort);
      if (options.signal?.aborted) onAbort();
    });
  }

  async connectionRequest(deviceId: string): Promise<ConnectionRequestResult> {
    this.connectionRequests.push(deviceId);
    if (this.mode === 'answers' && this.connectionRequestResult.status === 'ok') {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const session = this.runSession(deviceId).finally(() => this.sessions.delete(session));
        this.sessions.add(session);
      }, FAKE_SESSION_DELAY_MS);
      this.timers.add(timer);
    }
    return this.connectionRequestResult;
  }

  /** Completes every queued task of the device, as a session would. */
  async runSession(deviceId: string): Promise<void> {
    for (const task of await this.store.tasksToRun(deviceId)) {
      const at = new Date().toISOString();
      await this.store.updateTasks([{ id: task.id, status: 'done', result: this.resultFor(task), attempts: task.attempts + 1, startedAt: at, finishedAt: at }]);
      const done = await this.store.getTask(task.id);
      if (done) this.events.emit('task', done);
    }
  }

  activeSessions(): number {
    return this.inSession.size;
  }

  isInSession(deviceId: string): boolean {
    return this.inSession.has(deviceId);
  }

  /** Cancels the sessions not yet begun and waits for those under way. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.sessions]);
  }
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  /** Raw payload (wins over body), e.g. malformed JSON. */
  payload?: string;
  headers?: Record<string, string>;
}

export interface Harness {
  app: FastifyInstance;
  store: Store;
  acs: FakeAcs;
  /** Bearer secrets by role. */
  tokens: Record<ApiRole, string>;
  /** Token ids by role. */
  tokenIds: Record<ApiRole, string>;
  call(method: string, url: string, options?: CallOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** Creates a token directly in the store (as the ACS core does for the bootstrap token). */
export async function makeToken(store: Store, name: string, role: ApiRole): Promise<{ id: string; secret: string }> {
  const secret = `sb_test_${name}_${Math.random().toString(36).slice(2)}`;
  const token = await store.createApiToken({ name, role, hash: hashToken(secret) });
  return { id: token.id, secret };
}

/** Builds the API over a fresh SQLite store in a temp dir with one token per role. */
export async function setup(options: Partial<BuildApiOptions> = {}, acsFactory?: (store: Store) => AcsControl): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-api-'));
  const store = openSqliteStore({ dataDir: dir });
  const fake = new FakeAcs(store);
  const acs = acsFactory ? acsFactory(store) : fake;
  const admin = await makeToken(store, 'admin', 'admin');
  const operator = await makeToken(store, 'operator', 'operator');
  const viewer = await makeToken(store, 'viewer', 'viewer');
  const app = await buildApi({ store, acs, ...options });
  const tokens = { admin: admin.secret, operator: operator.secret, viewer: viewer.secret };
  return {
    app,
    store,
    acs: fake,
    tokens,
    tokenIds: { admin: admin.id, operator: operator.id, viewer: viewer.id },
    call: (method, url, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? tokens.admin : o.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const hasBody = o.payload !== undefined || o.body !== undefined;
      if (hasBody && !headers['content-type']) headers['content-type'] = 'application/json';
      return app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(o.payload !== undefined ? { payload: o.payload } : o.body !== undefined ? { payload: JSON.stringify(o.body) } : {}),
      });
    },
    close: async () => {
      await fake.stop();
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Inserts (or updates) a device as a session would, with optional parameters. */
export async function seedDevice(
  store: Store,
  device: { oui?: string; productClass: string; serialNumber: string; softwareVersion?: string; lastContact?: string; manufacturer?: string },
  parameters: Record<string, string> = {},
): Promise<string> {
  const oui = device.oui ?? '000B82';
  const id = `${oui}-${device.productClass}-${device.serialNumber}`;
  const at = device.lastContact ?? '2025-01-01T00:00:00.000Z';
  const writes: ParameterWrite[] = Object.entries(parameters).map(([name, value]) => ({ name, value, type: 'string', writable: true }));
  await store.commitSession({
    at,
    device: {
      id,
      oui,
      productClass: device.productClass,
      serialNumber: device.serialNumber,
      manufacturer: device.manufacturer ?? 'Grandstream',
      lastContact: at,
      softwareVersion: device.softwareVersion ?? null,
    },
    parameters: writes,
  });
  return id;
}

/** Path segment for a device id. */
export function enc(id: string): string {
  return encodeURIComponent(id);
}
