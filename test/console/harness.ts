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
  /** `http://127.0.0.1:<port>` when started with `listen: true`. */
  url: string;
  /** The bootstrap admin API token (not a console session). */
  adminToken: string;
  call(method: string, url: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  login(username: string, password: string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** Builds the API with the console attached, in a fresh temp data dir. */
export async function setup(options: Partial<ConsoleOptions> & { listen?: boolean } = {}): Promise<Harness> {
  const { listen, ...consoleOptions } = options;
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
    ...consoleOptions,
  });
  await app.ready();
  const url = listen ? await app.listen({ port: 0, host: '127.0.0.1' }) : '';
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
    url,
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

const MODELS = ['GXP2140', 'GXP2170', 'HT502', 'GXW4008'];
const VERSIONS = ['1.0.11.6', '1.0.11.10', '1.0.9.135'];

/** Id of seeded device `i` (OUI 000B82, serial 000B82 + 6 hex digits). */
export function seededId(i: number): string {
  return `000B82-${MODELS[i % MODELS.length]}-000B82${(0x100 + i).toString(16).toUpperCase().padStart(6, '0')}`;
}

/**
 * Writes `count` devices the way sessions would: identity, a small parameter tree (SIP line,
 * periodic inform), one session record each; device i was last seen `i` minutes before `now`
 * (so the first ones are online and the last ones offline with a 300 s interval).
 */
export async function seedDevices(store: Store, count: number, now = Date.now()): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const model = MODELS[i % MODELS.length];
    const serial = `000B82${(0x100 + i).toString(16).toUpperCase().padStart(6, '0')}`;
    const id = seededId(i);
    // Half a minute off the minute, so that "online" does not flip while a test runs.
    const at = new Date(now - i * 60_000 - 30_000).toISOString();
    const line = 'Device.Services.VoiceService.1.VoiceProfile.1.';
    await store.commitSession({
      at,
      device: {
        id,
        manufacturer: 'Grandstream',
        oui: '000B82',
        productClass: model,
        serialNumber: serial,
        lastContact: at,
        lastBoot: at,
        softwareVersion: VERSIONS[i % VERSIONS.length],
        hardwareVersion: 'V2.1A',
        sourceAddress: `10.0.0.${(i % 250) + 1}`,
        connectionRequestUrl: `http://10.0.0.${(i % 250) + 1}:7547/${serial.toLowerCase()}`,
        cwmpVersion: '1.2',
      },
      parameters: [
        { name: 'Device.', writable: false },
        { name: 'Device.DeviceInfo.', writable: false },
        { name: 'Device.DeviceInfo.SoftwareVersion', value: VERSIONS[i % VERSIONS.length], type: 'string', writable: false },
        { name: 'Device.DeviceInfo.ModelName', value: model, type: 'string', writable: false },
        { name: 'Device.ManagementServer.', writable: false },
        { name: 'Device.ManagementServer.PeriodicInformInterval', value: '300', type: 'unsignedInt', writable: true },
        { name: 'Device.ManagementServer.PeriodicInformEnable', value: '1', type: 'boolean', writable: true },
        { name: `${line}SIP.ProxyServer`, value: 'sip.example.net', type: 'string', writable: true },
        { name: `${line}Line.1.SIP.AuthUserName`, value: String(1000 + i), type: 'string', writable: true },
        { name: `${line}Line.1.DirectoryNumber`, value: String(1000 + i), type: 'string', writable: true },
      ],
      session: {
        deviceId: id,
        startedAt: at,
        endedAt: at,
        events: [{ eventCode: i % 2 ? '2 PERIODIC' : '1 BOOT', commandKey: '' }],
        remoteAddress: `10.0.0.${(i % 250) + 1}`,
        cwmpVersion: '1.2',
        outcome: 'completed',
        rpcCount: 1,
        detail: null,
      },
    });
    ids.push(id);
  }
  return ids;
}
