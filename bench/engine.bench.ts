/**
 * engine: periodic sessions (Inform with the device's forced parameters, empty POST, 204) driven
 * straight into the ACS's `SessionEngine` in this process: SQLite store and provisioning as
 * `startAcs` wires them, no HTTP, no load process. Why: on the shared 2-core machine the sessions
 * bench moves by +-50% between two runs of the same tree (its ceiling and the ACS share the cores
 * with everyone else), while this one measures only the ACS's own work per session, and its second
 * figure does not depend on the machine at all:
 *
 * - CPU microseconds per session (process CPU time / sessions), per round, after a first round that
 *   stores every device's parameters (the steady state of a fleet);
 * - SQLite statements executed per session, by statement (counted in one extra round with the
 *   better-sqlite3 statement methods wrapped): a deterministic measure of the storage work.
 *
 * Run: npm run bench -- engine [--devices=N] [--rounds=N] [--concurrency=N]
 *      (the Informs are built by the codec per session, as the CPE agent does, which is counted in
 *      the CPU figure: about 15% of it)
 */
import type Database from 'better-sqlite3';
import pino from 'pino';
import { SessionEngine } from '../src/acs/session/engine.ts';
import { fleetSerial } from '../src/cpe/fleet.ts';
import { buildEnvelope } from '../src/cwmp/index.ts';
import { formatDateTime } from '../src/cwmp/values.ts';
import { DeviceModel, loadProfile } from '../src/datamodel/model.ts';
import { openProvisioning } from '../src/provisioning/runtime.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import { removeDir, tempDataDir } from './lib/harness.ts';
import { SESSION_MODELS } from './lib/models.ts';
import { BenchArgs, emitResult, machineInfo, machineLine, printTable } from './lib/report.ts';
import { round } from './lib/stats.ts';

const DEFAULTS = { devices: 5_000, rounds: 3, concurrency: 50 } as const;
const US_PER_S = 1e6;
const REMOTE = '127.0.0.1';
/** Statements listed in the output (the rest are summed in the total). */
const TOP_STATEMENTS = 15;
const STATEMENT_TEXT_CHARS = 90;
const STATEMENT_METHODS = ['run', 'get', 'all', 'iterate'] as const;

/** Counts statement executions by SQL text while `on`. */
class StatementCounter {
  on = false;
  readonly counts = new Map<string, number>();

  /** Wraps the statement methods of `db`'s Statement class (process-wide: this process runs only this bench). */
  install(db: Database.Database): void {
    const proto = Object.getPrototypeOf(db.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>;
    const count = (source: string): void => {
      if (!this.on) return;
      const key = source.replace(/\s+/g, ' ').trim().slice(0, STATEMENT_TEXT_CHARS);
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    };
    for (const m of STATEMENT_METHODS) {
      const original = proto[m];
      proto[m] = function (this: { source: string }, ...args: unknown[]) {
        count(this.source);
        return original.apply(this, args);
      };
    }
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}

/** Benchmark entry point (see file comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const devices = args.number('devices', DEFAULTS.devices);
  const rounds = args.number('rounds', DEFAULTS.rounds);
  const concurrency = args.number('concurrency', DEFAULTS.concurrency);
  const machine = machineInfo();
  console.log(`engine: ${devices} devices, ${concurrency} sessions in flight, ${rounds} measured rounds (+1 first round, +1 counting round)`);
  console.log(machineLine(machine));

  const dataDir = tempDataDir('engine');
  const logger = pino({ level: 'warn' });
  const store = openSqliteStore({ dataDir });
  const provisioning = openProvisioning({ store, dataDir, logger });
  const engine = new SessionEngine({ store, hooks: provisioning.service, logger });
  const counter = new StatementCounter();
  counter.install(store.connection);
  const perRound: { round: string; cpuUsPerSession: number; wallUsPerSession: number }[] = [];
  try {
    const profiles = SESSION_MODELS.map((m) => loadProfile(m));
    const fleet = Array.from({ length: devices }, (_, i) => {
      const profile = profiles[i % profiles.length];
      const model = DeviceModel.create(profile, { serialNumber: fleetSerial(1, i) });
      model.setLocal(`${profile.root}.ManagementServer.ConnectionRequestURL`, `http://${REMOTE}:7548/${i}`);
      model.setLocal(`${profile.root}.LAN.IPAddress`, REMOTE);
      return { profile, model };
    });
    for (const { profile, model } of fleet) {
      await store.createDevice({ manufacturer: profile.manufacturer, oui: profile.oui, productClass: profile.productClass, serialNumber: model.deviceId().serialNumber });
    }
    let seq = 0;
    const session = async (i: number): Promise<void> => {
      const { model } = fleet[i];
      const xml = buildEnvelope(
        {
          header: { id: `e${++seq}` },
          body: { method: 'Inform', deviceId: model.deviceId(), event: [{ eventCode: '2 PERIODIC', commandKey: '' }], maxEnvelopes: 1, currentTime: formatDateTime(new Date()), retryCount: 0, parameterList: model.informParameters() },
        },
        { version: '1.2' },
      );
      const inform = await engine.exchange(null, { body: Buffer.from(xml, 'utf8'), contentType: 'text/xml; charset="utf-8"', remoteAddress: REMOTE });
      if (inform.status !== 200 || !inform.session) throw new Error(`the Inform of device ${i} got HTTP ${inform.status}`);
      const end = await engine.exchange(inform.session, { body: Buffer.alloc(0), remoteAddress: REMOTE });
      if (end.status !== 204) throw new Error(`the empty POST of device ${i} got HTTP ${end.status}`);
    };
    const oneRound = async (): Promise<{ cpuUs: number; wallUs: number }> => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < devices) await session(next++);
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      return { cpuUs: (cpu.user + cpu.system) / devices, wallUs: ((performance.now() - t0) * (US_PER_S / 1000)) / devices };
    };
    for (let r = 0; r <= rounds; r++) {
      const { cpuUs, wallUs } = await oneRound();
      perRound.push({ round: r === 0 ? 'first (stores every parameter)' : `steady ${r}`, cpuUsPerSession: round(cpuUs, 1), wallUsPerSession: round(wallUs, 1) });
    }
    counter.on = true;
    await oneRound();
    counter.on = false;
  } finally {
    await provisioning.close();
    await store.close();
    removeDir(dataDir);
  }

  printTable('periodic sessions into the engine (no HTTP)', ['round', 'CPU us/session', 'wall us/session'], perRound.map((r) => [r.round, r.cpuUsPerSession, r.wallUsPerSession]));
  const statementsPerSession = round(counter.total() / devices, 2);
  const byStatement = [...counter.counts.entries()].sort((a, b) => b[1] - a[1]).map(([sql, n]) => ({ sql, perSession: round(n / devices, 2) }));
  printTable(`SQLite statements per session: ${statementsPerSession}`, ['per session', 'statement'], byStatement.slice(0, TOP_STATEMENTS).map((s) => [s.perSession, s.sql]));
  const steady = perRound.slice(1).map((r) => r.cpuUsPerSession);
  emitResult('engine', {
    bench: 'engine',
    devices,
    concurrency,
    rounds: perRound,
    minSteadyCpuUsPerSession: Math.min(...steady),
    statementsPerSession,
    statements: byStatement,
    machine,
    at: new Date().toISOString(),
  });
}
