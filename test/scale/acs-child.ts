/**
 * Child process entry of the scale-out tests and bench: one full ACS instance (`startAcs`) on the
 * PostgreSQL database (or SQLite data directory) named in argv[2] (JSON `ScaleAcsConfig`), CWMP on
 * an ephemeral port of 127.0.0.1, no REST API.
 *
 * Commands: `enqueue` ({ deviceId, payload, connectionRequest }) -> task id;
 * `wait` ({ id, timeoutMs }) -> the task's status after waitForTask.
 */
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
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
}

export interface ScaleAcsInfo {
  pid: number;
  cwmpUrl: string;
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
  },
  async (): Promise<ScaleAcsInfo> => {
    acs = await startAcs({
      database: config.database,
      dataDir: config.dataDir,
      cwmpPort: 0,
      httpPort: null,
      host: '127.0.0.1',
      apiToken: 'scale-test-token',
      provisioning: false,
      nat: false,
      engine: config.lockTtlMs ? { lockTtlMs: config.lockTtlMs } : undefined,
      cluster: { namespace: config.namespace, taskPollMs: 500 },
      logger: pino({ level: config.logLevel ?? 'warn' }),
    });
    return { pid: process.pid, cwmpUrl: acs.cwmpUrl };
  },
  async () => {
    await acs?.close();
  },
);
