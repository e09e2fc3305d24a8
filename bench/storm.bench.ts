/**
 * storm: never-seen devices all boot at once (`0 BOOTSTRAP` + `1 BOOT`) against an ACS that must give
 * each its SIP account: ten parameters, from a per-device variables table (bench/lib/sip-accounts.ts).
 * The simulated devices really apply what the ACS sets (the CPE agent's data model and RPC
 * handler) and answer every RPC.
 *
 * How the ACS knows what to set (`mode` in the result):
 * - `presets` (default): the provisioning API (src/provisioning, routes under /api): the variables
 *   table imported as CSV (`POST /api/variables/import`, keyed by serial number), one preset for the
 *   storm's model whose ten values are templates over those variables (the password marked
 *   secret), and five presets for other models that must not apply; the devices are unknown to the
 *   ACS until their BOOTSTRAP Inform. The ACS has never seen them, so the planner writes the ten
 *   values in one SetParameterValues without reading them first (a known device is read first and
 *   only what differs is written) and verifies them (GetParameterValues) in the same session: two
 *   RPCs, two stored tasks per device.
 * - `stand-in` (`--stand-in`): the devices are pre-registered and a 10-parameter
 *   setParameterValues task is queued for each through the ACS (`enqueueTask`) - what this
 *   benchmark did before the presets API existed; kept for comparison.
 * Set-up is not timed.
 *
 * Concurrency: a real storm is bounded by TCP (listen backlog, CPE retry back-off); the load keeps
 * `--concurrency` sessions in flight (default 300) until every device has had its session.
 *
 * Clock: from the first Inform to the last 204. Then "verified": every device holds the ten values
 * (load process); the ACS stored the ten values (read from the stopped ACS's database) and
 * recorded every task done (none failed, none left pending).
 *
 * Run: npm run bench -- storm [--devices=N] [--concurrency=N] [--client=lean|cpe] [--stand-in] [--cpu-prof]
 *      [--acs-node-options="--opt ..."|none] (default: the options `npm start` gives the ACS, SWITCHBOARD_NODE_OPTIONS)
 *      [--cwmp-thread=on|off] (default on, as `npm start` on SQLite: the ACS's CWMP listeners on their own thread)
 *      (--cpu-prof: bench/results/profiles/storm-{acs,load}.cpuprofile, the storm phase only, and a table of
 *      each child's CPU per device by part of the code: bench/lib/cpuprofile.ts timeByPart)
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { DEFAULT_CACHE_MIB, SQLITE_FILE_NAME } from '../src/store/sqlite/index.ts';
import { fleetSerial } from '../src/cpe/fleet.ts';
import { loadProfile } from '../src/datamodel/model.ts';
import { BenchArgs, emitResult, machineInfo, machineLine, printTable, RESULTS_DIR } from './lib/report.ts';
import { acsNodeOptionsArg, clientArg, cwmpThreadArg, cwmpThreadLine, cpuMsPer, profiled, withCpu, mib, removeDir, runLoad, startAcsChild, startLoadChild, tempDataDir } from './lib/harness.ts';
import { STORM_MODEL } from './lib/models.ts';
import { SIP_DOMAIN, sipAccountRow, sipAccountValues } from './lib/sip-accounts.ts';
import { ApiClient } from './lib/api-client.ts';
import { randomBytes } from 'node:crypto';
import { round } from './lib/stats.ts';
import { ACS_PARTS, LOAD_PARTS, timeByPartFile } from './lib/cpuprofile.ts';
import { makeDeviceId } from '../src/store/types.ts';

const DEFAULTS = { devices: 20_000, concurrency: 300 } as const;
const TARGET_DEVICES_PER_SEC = 1000;
const MODES = {
  presets: 'presets: variables table (CSV) + presets through the provisioning API; devices unknown until they inform',
  'stand-in': 'stand-in: pre-registered devices + one queued setParameterValues task each',
} as const;
type Mode = keyof typeof MODES;
/** Other models' presets the ACS holds (they must not apply to the storm's devices). */
const OTHER_MODELS = ['GXP2110', 'GXP2140', 'GXP2170', 'GXW4004', 'GXV3140'];
const PRESET_WEIGHT = 10;

/** Devices whose ten SIP values are stored in the ACS database (read after the ACS stopped). */
function storedMatches(dataDir: string, count: number): number {
  const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
  try {
    const p = loadProfile(STORM_MODEL);
    const get = db.prepare<[string, string], { value: string | null }>('SELECT value FROM parameters WHERE device_id = ? AND name = ?');
    let matching = 0;
    for (let i = 0; i < count; i++) {
      const serial = fleetSerial(1, i);
      const id = makeDeviceId({ ...p, serialNumber: serial });
      if (sipAccountValues(serial).every((v) => get.get(id, v.name)?.value === v.value)) matching++;
    }
    return matching;
  } finally {
    db.close();
  }
}

/** The variables table as CSV: one row per device, keyed by serial number. */
function variablesCsv(count: number): string {
  const lines = ['serial,extension,auth_user,auth_password,display_name'];
  for (let i = 0; i < count; i++) {
    const r = sipAccountRow(fleetSerial(1, i));
    lines.push(`${r.serial},${r.extension},${r.authUser},${r.authPassword},${r.displayName}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The preset giving a device of `model` its SIP account: the ten values of sipAccountValues as
 * templates over the variables (so that every device's row fills them in).
 */
function sipPreset(model: string): object {
  const byName = new Map(sipAccountValues(fleetSerial(1, 0)).map((v) => [v.name.split('.').slice(-2).join('.'), v.name]));
  const name = (suffix: string) => {
    const full = byName.get(suffix);
    if (!full) throw new Error(`no SIP parameter ending in ${suffix}`);
    return full;
  };
  const parameters = [
    { name: name('SIP.ProxyServer'), value: SIP_DOMAIN },
    { name: name('SIP.RegistrarServer'), value: SIP_DOMAIN },
    { name: name('SIP.OutboundProxy'), value: `proxy.${SIP_DOMAIN}` },
    { name: name('SIP.UserAgentDomain'), value: SIP_DOMAIN },
    { name: name('1.Enable'), value: 'Enabled' },
    { name: name('1.DirectoryNumber'), value: '{{ extension }}' },
    { name: name('SIP.AuthUserName'), value: '{{ auth_user }}' },
    { name: name('SIP.AuthPassword'), value: '{{ auth_password }}', secret: true },
    { name: name('SIP.URI'), value: `sip:{{ extension }}@${SIP_DOMAIN}` },
    { name: name('CallingFeatures.CallerIDName'), value: '{{ display_name }}' },
  ].map((p) => ({ ...p, type: 'string' }));
  return { name: `sip-account-${model}`, description: `SIP account of line 1 (${model}) from the variables table`, weight: PRESET_WEIGHT, precondition: { productClass: [model] }, desired: { parameters } };
}

/** Imports the variables and creates the presets through the REST API; resolves what was done. */
async function setUpPresets(apiUrl: string, token: string, devices: number): Promise<{ variables: number; presets: number; ms: number }> {
  const t0 = performance.now();
  const api = new ApiClient(apiUrl, token);
  try {
    const imported = (await api.expectOk('POST', '/api/variables/import?keyColumn=serial', { csv: variablesCsv(devices) })) as { keys: number };
    let presets = 0;
    for (const model of [STORM_MODEL, ...OTHER_MODELS]) {
      await api.expectOk('POST', '/api/presets', { json: sipPreset(model) });
      presets++;
    }
    return { variables: imported.keys, presets, ms: Math.round(performance.now() - t0) };
  } finally {
    api.close();
  }
}

/**
 * With `--cpu-prof`: prints where each child's CPU went, per device and part of the code
 * (cpuprofile.ts timeByPart). Returns the figures (ms per device by part), {} without profiles.
 */
function profileBreakdown(profiles: Record<string, string>, devices: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [child, file] of Object.entries(profiles)) {
    const lines = timeByPartFile(file, child === 'load' ? LOAD_PARTS : ACS_PARTS);
    out[child] = Object.fromEntries(lines.map((l) => [l.part, round(l.ms / devices, 3)]));
    printTable(`${child}: CPU per device by part (profile self time; GC and runtime included)`, ['part', 'ms/device', '% of busy'], lines.map((l) => [l.part, round(l.ms / devices, 3), l.percent]));
  }
  return out;
}

/** Benchmark entry point (see file comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const client = clientArg(args.value('client'));
  const machine = machineInfo();
  const devices = args.number('devices', DEFAULTS.devices);
  const concurrency = args.number('concurrency', DEFAULTS.concurrency);
  const profile = args.flag('cpu-prof');
  const mode: Mode = args.flag('stand-in') ? 'stand-in' : 'presets';
  const acsNodeOptions = acsNodeOptionsArg(args.value('acs-node-options'));
  const cacheMiB = args.number('sqlite-cache-mib', DEFAULT_CACHE_MIB);
  const cwmpThread = cwmpThreadArg(args.value('cwmp-thread'));
  console.log(`storm: ${devices} never-seen devices boot at once, ${concurrency} sessions in flight, 10 parameters each`);
  console.log(machineLine(machine));
  console.log(`mode: ${MODES[mode]}`);
  console.log(`ACS node options: ${acsNodeOptions.join(' ') || 'none'}; SQLite page cache bound ${cacheMiB} MiB; ${cwmpThreadLine(cwmpThread)}`);

  const dataDir = tempDataDir('storm');
  const profileDir = profile ? join(RESULTS_DIR, 'profiles') : null;
  let profiles: Record<string, string> = {};
  const deviceSet = { count: devices, models: [STORM_MODEL] };
  const token = `sb_${randomBytes(24).toString('base64url')}`;
  const acs = await startAcsChild({ dataDir, api: mode === 'presets', apiToken: token, sqliteCacheMiB: cacheMiB, cwmpThread }, acsNodeOptions);
  const load = await startLoadChild(deviceSet, true);
  let storm;
  let cpu: Record<string, number>;
  let cpeSide;
  let tasks: Record<string, number>;
  let acsRssMiB: number;
  try {
    if (mode === 'presets') {
      const setup = await setUpPresets(acs.info.apiUrl!, token, devices);
      console.log(`set-up (not timed): ${setup.variables} variable sets imported, ${setup.presets} presets created, ${setup.ms} ms`);
    } else {
      const setup = await acs.call<{ queued: number; ms: number }>('queueSipAccountTasks', { count: devices, model: STORM_MODEL });
      console.log(`set-up (not timed): ${setup.queued} tasks queued in ${setup.ms} ms`);
    }
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
  const tasksOk = tasks.failed === 0 && tasks.pending === 0 && tasks.running === 0 && tasks.done >= devices;
  const allVerified = storm.ok === devices && cpeSide.matching === devices && tasksOk && stored === devices;
  printTable('boot storm', ['devices', 'seconds', 'devices/s', 'p50 ms', 'p99 ms', 'failed', 'CPE holds values', 'tasks done', 'ACS stored values', 'ACS CPU ms/device', 'load CPU ms/device'], [
    [devices, round(seconds, 2), devicesPerSec, storm.latencyMs.p50, storm.latencyMs.p99, storm.failed, cpeSide.matching, tasks.done, stored, cpuMsPer(cpu.acs, devices), cpuMsPer(cpu.load, devices)],
  ]);
  console.log(`\nall provisioned and verified: ${allVerified}; target >= ${TARGET_DEVICES_PER_SEC} devices/s; ACS RSS ${acsRssMiB} MiB`);
  const byPart = profileBreakdown(profiles, devices);
  if (storm.failed) console.log('failures:', storm.failures);
  if (cpeSide.examples.length) console.log('CPE mismatches:', cpeSide.examples);

  emitResult('storm', {
    bench: 'storm',
    mode,
    modeDetail: MODES[mode],
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
    acsNodeOptions,
    acsExecArgv: acs.info.execArgv,
    sqliteCacheMiB: cacheMiB,
    cwmpThread,
    acsCpuMsPerDevice: cpuMsPer(cpu.acs, devices),
    loadCpuMsPerDevice: cpuMsPer(cpu.load, devices),
    cpuProfiles: profiles,
    cpuMsPerDeviceByPart: byPart,
    machine,
    at: new Date().toISOString(),
  });
}
