/**
 * Child process entry of the scale-out tests and bench: one full ACS instance (`startAcs`) on the
 * PostgreSQL database (or SQLite data directory) named in argv[2] (JSON `ScaleAcsConfig`), CWMP on
 * an ephemeral port of 127.0.0.1; the REST API and console (`api: true`) and NAT (`nat`) on demand.
 *
 * Commands: `enqueue` ({ deviceId, payload, connectionRequest }) -> task id;
 * `wait` ({ id, timeoutMs }) -> the task's status after waitForTask;
 * `cr` ({ deviceId }) -> the connection request result; `nat` -> the relay's and gate's counters.
 */
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import type { NatOptions } from '../../src/acs/nat/index.ts';
import { serveChild } from '../../bench/lib/child.ts';

export interface ScaleAcsConfig {
  /** PostgreSQL URL; absent = SQLite in dataDir. */
  database?: string;
  dataDir: string;
  /** LISTEN/NOTIFY namespace of this run. */
  namespace?: string;
  /** Session lock ttl (ms): short in tests so that a killed instance's locks expire quickly. */
  lockTtlMs?: number;
  logLevel?: string;
  /** Serve the REST API and console on an ephemeral port (default false). */
  api?: boolean;
  /** NAT traversal (STUN on 127.0.0.1:0 in tests); default off. */
  nat?: NatOptions;
  /** Default connection request credentials. */
  connectionRequest?: { username: string; password: string };
}

export interface ScaleAcsInfo {
  pid: number;
  cwmpUrl: string;
  apiUrl: string | null;
  /** The STUN server's port, when NAT is on. */
  stunPort: number | null;
  /** Whether its CWMP listener runs on a thread of its own. */
  cwmpThread: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ScaleAcsConfig;
let acs: Acs | null = null;

function running(): Acs {
  if (!acs) throw new Error('ACS not started');
  return acs;
}

serveChild(
  {
    enqueue: async (arg) => {
      const a = arg as { deviceId: string; payload: unknown; connectionRequest?: boolean };
      const r = await running().enqueueTask(a.deviceId, a.payload, { connectionRequest: a.connectionRequest ?? false, maxAttempts: 10 });
      return { id: r.task.id, connectionRequest: r.connectionRequest?.status ?? null };
    },
    wait: async (arg) => {
      const a = arg as { id: string; timeoutMs: number };
      const t = await running().waitForTask(a.id, { timeoutMs: a.timeoutMs });
      return t?.status ?? null;
    },
    cr: async (arg) => {
      const a = arg as { deviceId: string };
      return running().connectionRequest(a.deviceId);
    },
    nat: async () => {
      const nat = running().nat;
      return { relay: nat?.relay?.stats ?? null, gate: nat?.gate.stats ?? null };
    },
  },
  async (): Promise<ScaleAcsInfo> => {
    acs = await startAcs({
      database: config.database,
      dataDir: config.dataDir,
      cwmpPort: 0,
      httpPort: config.api ? 0 : null,
      host: '127.0.0.1',
      apiToken: 'scale-test-token',
      provisioning: false,
      nat: config.nat ?? false,
      connectionRequest: config.connectionRequest,
      engine: config.lockTtlMs ? { lockTtlMs: config.lockTtlMs } : undefined,
      cluster: { namespace: config.namespace, taskPollMs: 500 },
      logger: pino({ level: config.logLevel ?? 'warn' }),
    });
    return { pid: process.pid, cwmpUrl: acs.cwmpUrl, apiUrl: acs.apiUrl, stunPort: acs.nat?.stun?.address().port ?? null, cwmpThread: acs.cwmpThread };
  },
  async () => {
    await acs?.close();
  },
);
