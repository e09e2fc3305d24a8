/**
 * Where a process's CPU went, by part of the code base: each profiler sample (self time) is charged
 * to the innermost frame that belongs to a named part (so time in better-sqlite3 or node:net counts
 * for the repository code that called it), GC separately, idle left out. The storm benchmark prints
 * it per device for the ACS and the load with `--cpu-prof`, to explain where a boot storm's time goes.
 *
 * Run: node --import tsx bench/lib/storm-profile.ts <file.cpuprofile> [acs|load] [--per=N]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

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

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

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
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
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
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)') continue;
    const dt = profile.timeDeltas[i] ?? 0;
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
  return timeByPart(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, parts);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, kind = 'acs'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const perArg = process.argv.find((a) => a.startsWith('--per='));
  if (!file) {
    console.error('usage: node --import tsx bench/lib/storm-profile.ts <file.cpuprofile> [acs|load] [--per=N]');
    process.exit(2);
  }
  const per = perArg ? Number(perArg.slice(6)) : 0;
  for (const l of timeByPartFile(file, kind === 'load' ? LOAD_PARTS : ACS_PARTS)) {
    console.log(`${l.percent.toFixed(1).padStart(5)}%  ${l.ms.toFixed(0).padStart(7)} ms${per > 0 ? `  ${(l.ms / per).toFixed(3)} ms each` : ''}  ${l.part}`);
  }
}
