/**
 * Output of the benchmarks: the machine description, human-readable tables, the result file
 * bench/results/<name>.json and the final JSON line (the LAST line a benchmark prints), and the
 * small command-line parser every benchmark uses.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, freemem, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * Where results go: bench/results/ (gitignored), or `SWITCHBOARD_BENCH_RESULTS` (the smoke test
 * points it to a temporary directory so that tiny runs never overwrite real figures).
 */
export const RESULTS_DIR = process.env.SWITCHBOARD_BENCH_RESULTS ?? fileURLToPath(new URL('../results/', import.meta.url));

const MIB = 1024 * 1024;

/** The machine a figure came from (other engineers share it: the load average says how busy it was). */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryMiB: number;
  freeMemoryMiB: number;
  node: string;
  platform: string;
  /** 1, 5 and 15 minute load averages when the benchmark started. */
  loadAverage: [number, number, number];
}

/** CPU model from /proc/cpuinfo (Linux), else from os.cpus(). */
function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** Describes this machine now. */
export function machineInfo(): MachineInfo {
  const [a, b, c] = loadavg();
  return {
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    memoryMiB: Math.round(totalmem() / MIB),
    freeMemoryMiB: Math.round(freemem() / MIB),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverage: [Math.round(a * 100) / 100, Math.round(b * 100) / 100, Math.round(c * 100) / 100],
  };
}

/** One line describing the machine, printed at the top of every benchmark. */
export function machineLine(m: MachineInfo): string {
  return `machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryMiB} MiB, Node ${m.node}, load average at start ${m.loadAverage.join(' ')}`;
}

/** A table cell: numbers are formatted with thousands separators. */
export type Cell = string | number;

function cellText(c: Cell): string {
  if (typeof c === 'number') {
    if (!Number.isFinite(c)) return '-';
    return Number.isInteger(c) ? c.toLocaleString('en-US') : c.toLocaleString('en-US', { maximumFractionDigits: 2 });
  }
  return c;
}

/**
 * Formats rows as an aligned text table (first column left-aligned, the others right-aligned).
 * Returns the lines (no trailing newline).
 */
export function formatTable(header: Cell[], rows: Cell[][]): string[] {
  const all = [header, ...rows].map((r) => r.map(cellText));
  const cols = Math.max(...all.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of all.slice(1)) out.push(line(r));
  return out;
}

/** Prints a titled table to stdout. */
export function printTable(title: string, header: Cell[], rows: Cell[][]): void {
  console.log(`\n${title}`);
  for (const l of formatTable(header, rows)) console.log(l);
}

/**
 * Writes `result` to `<dir>/<name>.json` (pretty) and prints it as ONE JSON line, which must be
 * the last line the benchmark prints. Returns the file path.
 */
export function emitResult(name: string, result: object, dir: string = RESULTS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
  return file;
}

/**
 * Reads `--name value` / `--name=value` options from a benchmark's argument list.
 * Throws Error with a clear message on a malformed number.
 */
export class BenchArgs {
  constructor(private readonly args: readonly string[]) {}

  /** The raw value of `--name`, or undefined. */
  value(name: string): string | undefined {
    const flag = `--${name}`;
    for (let i = 0; i < this.args.length; i++) {
      const a = this.args[i];
      if (a === flag) {
        const v = this.args[i + 1];
        return v === undefined || v.startsWith('--') ? undefined : v;
      }
      if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    }
    return undefined;
  }

  /** True when `--name` is present. */
  flag(name: string): boolean {
    return this.args.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  }

  /** A positive number option (integer unless `allowFraction`), or the default. */
  number(name: string, fallback: number, allowFraction = false): number {
    const raw = this.value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || (!allowFraction && !Number.isInteger(n))) {
      throw new Error(`--${name} must be a positive ${allowFraction ? 'number' : 'integer'}, got "${raw}"`);
    }
    return n;
  }

  /** A whole number option that may be 0 (a count of things to do first), or the default. */
  count(name: string, fallback: number): number {
    const raw = this.value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, 0 or more, got "${raw}"`);
    return n;
  }

  string(name: string, fallback: string): string {
    return this.value(name) ?? fallback;
  }
}

/** Milliseconds elapsed since `t0` (performance.now()), rounded to 0.1 ms. */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}
