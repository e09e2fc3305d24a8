/**
 * storm: never-seen devices all boot at once (`0 BOOTSTRAP` + `1 BOOT`) against an ACS that must give
 * each its SIP account: ten parameters from a per-device variables table (bench/lib/sip-accounts.ts).
 * The simulated devices really apply the SetParameterValues (the CPE agent's data model and RPC
 * handler) and answer SetParameterValuesResponse.
 *
 * How the ACS knows what to set: STAND-IN until the provisioning API (presets + variables) is wired
 * into the ACS: the devices are pre-registered (never contacted) and a 10-parameter
 * setParameterValues task is queued for each through the ACS (`enqueueTask`), before the clock
 * starts. Every result says which mode ran (`mode`).
 *
 * Concurrency: a real storm is bounded by TCP (listen backlog, CPE retry back-off); the load keeps
 * `--concurrency` sessions in flight (default 300) until every device has had its session.
 *
 * Clock: from the first Inform to the last 204. Then "verified": the device holds the ten values
 * (load process), the ACS recorded the task done and stored the ten values (read from the stopped
 * ACS's database).
 *
 * Run: npm run bench -- storm [--devices=N] [--concurrency=N] [--client=lean|cpe] [--cpu-prof]
 *      (--cpu-prof: bench/results/profiles/storm-{acs,load}.cpuprofile, the storm phase only)
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SQLITE_FILE_NAME } from '../src/store/sqlite/index.ts';
import { fleetSerial } from '../src/cpe/fleet.ts';
import { loadProfile } from '../src/datamodel/model.ts';
import { BenchArgs, emitResult, machineInfo, machineLine, printTable, RESULTS_DIR } from './lib/report.ts';
import { clientArg, cpuMsPer, profiled, withCpu, mib, removeDir, runLoad, startAcsChild, startLoadChild, tempDataDir } from './lib/harness.ts';
import { STORM_MODEL } from './lib/models.ts';
import { sipAccountValues } from './lib/sip-accounts.ts';
import { round } from './lib/stats.ts';

const DEFAULTS = { devices: 20_000, concurrency: 300 } as const;
const TARGET_DEVICES_PER_SEC = 1000;
const STAND_IN_MODE = 'stand-in: pre-registered devices + one queued setParameterValues task each (no presets API yet)';

/** Devices whose ten SIP values are stored in the ACS database (read after the ACS stopped). */
function storedMatches(dataDir: string, count: number): number {
  const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
  try {
    const p = loadProfile(STORM_MODEL);
    const get = db.prepare<[string, string], { value: string | null }>('SELECT value FROM parameters WHERE device_id = ? AND name = ?');
    let matching = 0;
    for (let i = 0; i < count; i++) {
      const serial = fleetSerial(1, i);
      const id = `${p.oui}-${p.productClass}-${serial}`;
      if (sipAccountValues(serial).every((v) => get.get(id, v.name)?.value === v.value)) matching++;
    }
    return matching;
  } finally {
    db.close();
  }
}

/** Benchmark entry point (see file comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const client = clientArg(args.value('client'));
  const machine = machineInfo();
  const devices = args.number('devices', DEFAULTS.devices);
  const concurrency = args.number('concurrency', DEFAULTS.concurrency);
  const profile = args.flag('cpu-prof');
  console.log(`storm: ${devices} never-seen devices boot at once, ${concurrency} sessions in flight, 10 parameters each`);
  console.log(machineLine(machine));
  console.log(`mode: ${STAND_IN_MODE}`);

  const dataDir = tempDataDir('storm');
  const profileDir = profile ? join(RESULTS_DIR, 'profiles') : null;
  let profiles: Record<string, string> = {};
  const deviceSet = { count: devices, models: [STORM_MODEL] };
  const acs = await startAcsChild({ dataDir });
  const load = await startLoadChild(deviceSet, true);
  let storm;
  let cpu: Record<string, number>;
  let cpeSide;
  let tasks: Record<string, number>;
  let acsRssMiB: number;
  try {
    const setup = await acs.call<{ queued: number; ms: number }>('queueSipAccountTasks', { count: devices, model: STORM_MODEL });
    console.log(`setup (not timed): ${setup.queued} tasks queued in ${setup.ms} ms`);
    ({ value: storm, cpuSeconds: cpu } = await withCpu({ acs, load }, async () => {
      const r = await profiled(profileDir, 'storm', { acs, load }, () => runLoad(load, { url: acs.info.cwmpUrl, devices: deviceSet, event: 'bootstrap', concurrency, plan: { kind: 'each-once' }, client }));
      profiles = r.profiles;
      return r.value;
    }));
    acsRssMiB = mib(await acs.rss());
    cpeSide = await load.call<{ devices: number; matching: number; examples: string[] }>('verifySipAccounts');
    tasks = await acs.call<Record<string, number>>('taskCounts');
  } finally {
    await load.stop();
    await acs.stop();
  }
  let stored: number;
  try {
    stored = storedMatches(dataDir, devices);
  } finally {
    removeDir(dataDir);
  }

  const seconds = storm.elapsedMs / 1000;
  const devicesPerSec = round(storm.ok / seconds, 1);
  const allVerified = storm.ok === devices && cpeSide.matching === devices && tasks.done === devices && stored === devices;
  printTable('boot storm', ['devices', 'seconds', 'devices/s', 'p50 ms', 'p99 ms', 'failed', 'CPE holds values', 'tasks done', 'ACS stored values', 'ACS CPU ms/device', 'load CPU ms/device'], [
    [devices, round(seconds, 2), devicesPerSec, storm.latencyMs.p50, storm.latencyMs.p99, storm.failed, cpeSide.matching, tasks.done, stored, cpuMsPer(cpu.acs, devices), cpuMsPer(cpu.load, devices)],
  ]);
  console.log(`\nall provisioned and verified: ${allVerified}; target >= ${TARGET_DEVICES_PER_SEC} devices/s; ACS RSS ${acsRssMiB} MiB`);
  if (storm.failed) console.log('failures:', storm.failures);
  if (cpeSide.examples.length) console.log('CPE mismatches:', cpeSide.examples);

  emitResult('storm', {
    bench: 'storm',
    mode: STAND_IN_MODE,
    devices,
    concurrency,
    client,
    seconds: round(seconds, 2),
    devicesPerSec,
    targetDevicesPerSec: TARGET_DEVICES_PER_SEC,
    meetsTarget: allVerified && devicesPerSec >= TARGET_DEVICES_PER_SEC,
    allVerified,
    p50Ms: storm.latencyMs.p50,
    p99Ms: storm.latencyMs.p99,
    failed: storm.failed,
    failures: storm.failures,
    verified: { cpeHoldsValues: cpeSide.matching, tasks, acsStoredValues: stored },
    parametersPerDevice: sipAccountValues(fleetSerial(1, 0)).length,
    acsRssMiB,
    acsCpuMsPerDevice: cpuMsPer(cpu.acs, devices),
    loadCpuMsPerDevice: cpuMsPer(cpu.load, devices),
    cpuProfiles: profiles,
    machine,
    at: new Date().toISOString(),
  });
}
