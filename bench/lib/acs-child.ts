/**
 * Child process entry running the real ACS (`startAcs`) on SQLite in a data directory, CWMP and
 * (optionally) the REST API on ephemeral ports of 127.0.0.1. Logs at `warn` so that logging does
 * not dominate the figures (the shipped default is `info`; sessions log at `debug`).
 *
 * argv[2]: JSON `AcsChildConfig`. Commands:
 * - `registerDevices` ({ count, serialBase?, models }) pre-registers devices through the store;
 * - `queueSipAccountTasks` ({ count, serialBase?, model }) pre-registers devices and queues for
 *   each a 10-parameter setParameterValues task (the storm's stand-in for presets);
 * - `taskCounts` -> tasks per status; `deviceCount` -> number of devices;
 * - `warmCache` reads every session record and parameter through the store's connection, which fills
 *   SQLite's page cache as a long-running ACS has it -> pages the database has.
 */
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { fleetSerial } from '../../src/cpe/fleet.ts';
import { makeDeviceId, StoreError, type TaskStatus } from '../../src/store/types.ts';
import type { SqliteStore } from '../../src/store/sqlite/index.ts';
import { serveChild } from './child.ts';
import { sipAccountValues } from './sip-accounts.ts';

export interface AcsChildConfig {
  dataDir: string;
  /** Start the REST API too (inventory, presets). */
  api?: boolean;
  apiToken?: string;
  logLevel?: string;
  /** SQLite page cache bound (MiB); default the ACS's. */
  sqliteCacheMiB?: number;
  /** CWMP listeners on their own thread (default the ACS's: true). */
  cwmpThread?: boolean;
}

export interface AcsChildInfo {
  pid: number;
  cwmpUrl: string;
  apiUrl: string | null;
  startMs: number;
  /** The Node options the child runs with (what the benchmark asked for, as node received it). */
  execArgv: string[];
}

interface DeviceRange {
  count: number;
  serialBase?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as AcsChildConfig;
let acs: Acs | null = null;

function running(): Acs {
  if (!acs) throw new Error('ACS not started');
  return acs;
}

/** Pre-registers devices (ignores those that exist). Returns how many were created. */
async function register(range: DeviceRange, models: string[]): Promise<number> {
  const store = running().store;
  const profiles = models.map((m) => loadProfile(m));
  let created = 0;
  for (let i = 0; i < range.count; i++) {
    const p = profiles[i % profiles.length];
    try {
      await store.createDevice({ manufacturer: p.manufacturer, oui: p.oui, productClass: p.productClass, serialNumber: fleetSerial(range.serialBase ?? 1, i) });
      created++;
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'conflict')) throw err;
    }
  }
  return created;
}

serveChild(
  {
    registerDevices: async (arg) => {
      const a = arg as DeviceRange & { models: string[] };
      const t0 = performance.now();
      const created = await register(a, a.models);
      return { created, ms: Math.round(performance.now() - t0) };
    },
    queueSipAccountTasks: async (arg) => {
      const a = arg as DeviceRange & { model: string };
      const t0 = performance.now();
      await register(a, [a.model]);
      const p = loadProfile(a.model);
      for (let i = 0; i < a.count; i++) {
        const serial = fleetSerial(a.serialBase ?? 1, i);
        const parameters = sipAccountValues(serial).map((v) => ({ name: v.name, value: v.value, type: v.type }));
        await running().enqueueTask(makeDeviceId({ ...p, serialNumber: serial }), { type: 'setParameterValues', parameters, parameterKey: 'storm' });
      }
      return { queued: a.count, ms: Math.round(performance.now() - t0) };
    },
    taskCounts: async () => {
      const counts: Record<string, number> = {};
      const statuses: TaskStatus[] = ['pending', 'running', 'done', 'failed', 'cancelled'];
      for (const s of statuses) {
        let n = 0;
        let cursor: string | undefined;
        do {
          const page = await running().store.listTasks({ status: [s], limit: 1000, cursor });
          n += page.tasks.length;
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        counts[s] = n;
      }
      return counts;
    },
    deviceCount: () => running().store.countDevices({}),
    warmCache: () => {
      const db = (running().store as SqliteStore).connection;
      db.prepare("SELECT sum(length(events)) + sum(length(coalesce(remote_address, ''))) AS n FROM sessions").get();
      db.prepare("SELECT sum(length(coalesce(value, ''))) AS n FROM parameters").get();
      return db.pragma('page_count', { simple: true });
    },
  },
  async (): Promise<AcsChildInfo> => {
    const t0 = performance.now();
    acs = await startAcs({
      dataDir: config.dataDir,
      cwmpPort: 0,
      httpPort: config.api ? 0 : null,
      host: '127.0.0.1',
      apiToken: config.apiToken,
      sqliteCacheMiB: config.sqliteCacheMiB,
      cwmpThread: config.cwmpThread,
      logger: pino({ level: config.logLevel ?? 'warn' }),
    });
    return { pid: process.pid, cwmpUrl: acs.cwmpUrl, apiUrl: acs.apiUrl, startMs: Math.round(performance.now() - t0), execArgv: process.execArgv };
  },
  async () => {
    await acs?.close();
  },
);
