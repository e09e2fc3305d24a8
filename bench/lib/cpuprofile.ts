/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time, and
 * self time per source file (node_modules packages folded into one line each); who calls a
 * function; and where the time went by part of the code base (`timeByPart`: each sample charged to
 * the innermost frame that belongs to a named part, so time in better-sqlite3 or node:net counts for
 * the repository code that called it, GC apart, idle left out; the storm benchmark prints it per
 * device for the ACS and the load with `--cpu-prof`).
 *
 * Run: node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> [--top=N]
 *      node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> --callers=<function> [--depth=N]
 *      node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> --parts=acs|load [--per=N]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber?: number; columnNumber?: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime?: number;
  endTime?: number;
}

/** Parent node id of every node that has one. */
function parentsOf(profile: CpuProfile): Map<number, number> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return parent;
}

/** Self time (µs) per node id. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  return selfUs;
}

/** Reads a .cpuprofile file. Throws when it cannot be read or parsed. */
function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

export interface ProfileLine {
  name: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Time in (idle) and (program)/(garbage collector) pseudo-frames. */
  idleMs: number;
  gcMs: number;
  functions: ProfileLine[];
  files: ProfileLine[];
}

const ROOT_DIR = new URL('../../', import.meta.url).href;

/** A short location: path inside the repository, or `pkg:<name>` for node_modules. */
function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `pkg:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith(ROOT_DIR)) return url.slice(ROOT_DIR.length);
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

/** Self time per function and per file, largest first (`top` lines each). */
export function summariseProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = selfTimes(profile);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gc += us;
    const loc = shortUrl(cf.url);
    const key = `${cf.functionName || '(anonymous)'} ${loc}${cf.url ? `:${(cf.lineNumber ?? 0) + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    file.set(loc, (file.get(loc) ?? 0) + us);
  }
  const busy = total - idle;
  const lines = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, percent: Math.round((us / busy) * 1000) / 10 }));
  return { totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000), gcMs: Math.round(gc / 1000), functions: lines(fn), files: lines(file) };
}

/**
 * Who calls a function: the self time of every frame named `functionName`, attributed to the chain
 * of its `depth` nearest callers. Returns the chains, largest first.
 */
export function callersOf(profile: CpuProfile, functionName: string, depth = 2, top = 15): ProfileLine[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = parentsOf(profile);
  const selfUs = selfTimes(profile);
  const chains = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName !== functionName) continue;
    total += us;
    const names: string[] = [];
    for (let p = parent.get(id), k = 0; p !== undefined && k < depth; p = parent.get(p), k++) {
      const cf = byId.get(p)!.callFrame;
      names.push(`${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${(cf.lineNumber ?? 0) + 1}`);
    }
    const key = names.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + us);
  }
  return [...chains.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, percent: Math.round((us / total) * 1000) / 10 }));
}

/** Reads and summarises a .cpuprofile file. Throws when it cannot be read or parsed. */
export function summariseProfileFile(path: string, top = 25): ProfileSummary {
  return summariseProfile(readProfile(path), top);
}

/** A part of the code: the files whose URL contains one of `paths`. */
export interface CodePart {
  name: string;
  paths: string[];
}

/** The ACS's parts, most specific first. */
export const ACS_PARTS: readonly CodePart[] = [
  { name: 'SQLite store (core: devices, parameters, tasks, sessions; group commit)', paths: ['/src/store/sqlite/'] },
  { name: 'provisioning store (SQLite: presets, variables, device memory)', paths: ['/src/store/provisioning/'] },
  { name: 'provisioning (service, planner, templates)', paths: ['/src/provisioning/'] },
  { name: 'session engine + task handlers', paths: ['/src/acs/session/', '/src/acs/tasks/'] },
  { name: 'CWMP HTTP server', paths: ['/src/acs/http/'] },
  { name: 'CWMP codec (XML parse/build)', paths: ['/src/cwmp/'] },
  { name: 'other ACS code', paths: ['/src/'] },
];

/** The load process's parts. */
export const LOAD_PARTS: readonly CodePart[] = [
  { name: 'CPE RPC handler + data model', paths: ['/src/cpe/', '/src/datamodel/'] },
  { name: 'CWMP codec (XML parse/build)', paths: ['/src/cwmp/'] },
  { name: 'load client (sockets, session loop)', paths: ['/bench/'] },
  { name: 'other code', paths: ['/src/'] },
];

/** Time with no repository frame on the stack (HTTP parsing, socket callbacks, timers). */
export const RUNTIME_PART = 'Node runtime (no repository frame: HTTP parser, sockets, timers)';
export const GC_PART = 'garbage collector';

/** CPU time of one part. */
export interface PartTime {
  part: string;
  ms: number;
  percent: number;
}

/**
 * Charges a profile's busy time to `parts` (see the module comment).
 * @returns one line per part with time (largest first), GC and the runtime included; percent of busy time.
 */
export function timeByPart(profile: CpuProfile, parts: readonly CodePart[]): PartTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = parentsOf(profile);
  const partOfNode = new Map<number, string>();
  const partOf = (id: number): string => {
    const known = partOfNode.get(id);
    if (known !== undefined) return known;
    const url = byId.get(id)!.callFrame.url;
    const own = parts.find((p) => p.paths.some((path) => url.includes(path)))?.name;
    const up = parent.get(id);
    const part = own ?? (up === undefined ? RUNTIME_PART : partOf(up));
    partOfNode.set(id, part);
    return part;
  };
  const us = new Map<string, number>();
  let busy = 0;
  for (const [id, dt] of selfTimes(profile)) {
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)') continue;
    busy += dt;
    const part = name === '(garbage collector)' ? GC_PART : name === '(program)' ? RUNTIME_PART : partOf(id);
    us.set(part, (us.get(part) ?? 0) + dt);
  }
  return [...us.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([part, t]) => ({ part, ms: Math.round(t / 100) / 10, percent: busy > 0 ? Math.round((t / busy) * 1000) / 10 : 0 }));
}

/** Reads a .cpuprofile and charges it to `parts`. Throws when the file cannot be read or parsed. */
export function timeByPartFile(path: string, parts: readonly CodePart[]): PartTime[] {
  return timeByPart(readProfile(path), parts);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // `... | head` closes the pipe early: that is not an error
  process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> [--top=N]');
    process.exit(2);
  }
  const topArg = process.argv.find((a) => a.startsWith('--top='));
  const callersArg = process.argv.find((a) => a.startsWith('--callers='));
  const partsArg = process.argv.find((a) => a.startsWith('--parts='));
  if (partsArg) {
    const perArg = process.argv.find((a) => a.startsWith('--per='));
    const per = perArg ? Number(perArg.slice(6)) : 0;
    for (const l of timeByPartFile(file, partsArg.slice(8) === 'load' ? LOAD_PARTS : ACS_PARTS)) {
      console.log(`${l.percent.toFixed(1).padStart(5)}%  ${l.ms.toFixed(0).padStart(7)} ms${per > 0 ? `  ${(l.ms / per).toFixed(3)} ms each` : ''}  ${l.part}`);
    }
    process.exit(0);
  }
  if (callersArg) {
    const depthArg = process.argv.find((a) => a.startsWith('--depth='));
    const lines = callersOf(readProfile(file), callersArg.slice(10), depthArg ? Number(depthArg.slice(8)) : 2);
    for (const l of lines) console.log(`${l.percent.toFixed(1).padStart(5)}%  ${String(l.selfMs).padStart(8)} ms  ${l.name}`);
    process.exit(0);
  }
  const s = summariseProfileFile(file, topArg ? Number(topArg.slice(6)) : 25);
  console.log(`total ${s.totalMs} ms, idle ${s.idleMs} ms, busy ${s.totalMs - s.idleMs} ms (GC ${s.gcMs} ms); percentages are of busy time`);
  console.log('\nself time by function:');
  for (const l of s.functions) console.log(`${l.percent.toFixed(1).padStart(5)}%  ${String(l.selfMs).padStart(8)} ms  ${l.name}`);
  console.log('\nself time by file:');
  for (const l of s.files) console.log(`${l.percent.toFixed(1).padStart(5)}%  ${String(l.selfMs).padStart(8)} ms  ${l.name}`);
}
