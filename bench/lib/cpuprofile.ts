/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time, and
 * self time per source file (node_modules packages folded into one line each).
 *
 * Run: node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> [--top=N]
 *      node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> --callers=<function> [--depth=N]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
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
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
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
    const key = `${cf.functionName || '(anonymous)'} ${loc}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
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
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const chains = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName !== functionName) continue;
    total += us;
    const names: string[] = [];
    for (let p = parent.get(id), k = 0; p !== undefined && k < depth; p = parent.get(p), k++) {
      const cf = byId.get(p)!.callFrame;
      names.push(`${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`);
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
  return summariseProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top);
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
  if (callersArg) {
    const depthArg = process.argv.find((a) => a.startsWith('--depth='));
    const lines = callersOf(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, callersArg.slice(10), depthArg ? Number(depthArg.slice(8)) : 2);
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
