/**
 * Benchmark processes: servers and load generators each run in their own Node process (forked
 * through tsx) so that one never steals the other's event loop. The parent talks to a child with a
 * tiny request/answer protocol over the IPC channel, and samples its resident memory from
 * /proc/<pid>/status (no work in the child's event loop), falling back to asking the child.
 *
 * Child side: `serveChild(handlers, ready)` in the child's entry module.
 * Parent side: `startChild(entryUrl, options)` -> `BenchChild`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A command handler in the child: gets the command's argument, resolves its answer (JSON). */
export type ChildHandler = (arg: unknown) => Promise<unknown> | unknown;

interface CallMessage {
  kind: 'call';
  id: number;
  cmd: string;
  arg: unknown;
}
interface AnswerMessage {
  kind: 'answer';
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}
interface ReadyMessage {
  kind: 'ready';
  info: unknown;
}
interface FailedMessage {
  kind: 'failed';
  error: string;
}
type ChildMessage = AnswerMessage | ReadyMessage | FailedMessage;

/** Built-in commands every child answers. */
const BUILTIN_RSS = '__rss';
const BUILTIN_HEAP = '__heap';
const BUILTIN_CPU = '__cpu';
const BUILTIN_PROFILE_START = '__profileStart';
const BUILTIN_PROFILE_STOP = '__profileStop';

/** The V8 profiler of this process, through the inspector (profiles just a window of a run). */
let profiler: import('node:inspector/promises').Session | null = null;

async function startProfiler(): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}

async function stopProfiler(file: string): Promise<string> {
  if (!profiler) throw new Error('the profiler was not started');
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = null;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(profile));
  return file;
}
const BUILTIN_EXIT = '__exit';

/** Resident set size of a process in bytes from /proc (Linux); null elsewhere or when it is gone. */
export function readRssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Linux USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every mainstream kernel). */
const CLOCK_TICKS_PER_SEC = 100;
/** utime and stime are fields 14 and 15 of /proc/<pid>/stat; after the ")" of the name they are the 12th and 13th. */
const UTIME_AFTER_NAME = 11;

/** CPU time (user + system, seconds) used so far by a process, from /proc; null elsewhere. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[UTIME_AFTER_NAME]) + Number(f[UTIME_AFTER_NAME + 1])) / CLOCK_TICKS_PER_SEC;
  } catch {
    return null;
  }
}

/** Heap in use after a full collection when `gc` is exposed (`--expose-gc`), else as is. */
function liveHeapBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Runs in the CHILD: answers the parent's calls with `handlers`, after `ready()` resolved (its value
 * is sent to the parent as the ready info). `__exit` runs `onExit` then exits with code 0.
 * Built-ins: `__rss`, `__heap`, `__cpu`, `__profileStart`, `__profileStop` (file) and `__exit`.
 */
export function serveChild(handlers: Record<string, ChildHandler>, ready: () => Promise<unknown> | unknown, onExit?: () => Promise<void> | void): void {
  if (!process.send) throw new Error('serveChild must run in a forked child (no IPC channel)');
  const send = (m: ChildMessage) => process.send?.(m);
  process.on('message', (raw: CallMessage) => {
    if (!raw || raw.kind !== 'call') return;
    void (async () => {
      try {
        let value: unknown;
        if (raw.cmd === BUILTIN_RSS) value = process.memoryUsage().rss;
        else if (raw.cmd === BUILTIN_HEAP) value = liveHeapBytes();
        else if (raw.cmd === BUILTIN_PROFILE_START) value = await startProfiler();
        else if (raw.cmd === BUILTIN_PROFILE_STOP) value = await stopProfiler(raw.arg as string);
        else if (raw.cmd === BUILTIN_CPU) {
          const u = process.cpuUsage();
          value = (u.user + u.system) / 1e6;
        }
        else if (raw.cmd === BUILTIN_EXIT) {
          await onExit?.();
          send({ kind: 'answer', id: raw.id, ok: true, value: null });
          // let the answer leave before exiting (exit code 0: profiles get written)
          setTimeout(() => process.exit(0), 20);
          return;
        } else {
          const h = handlers[raw.cmd];
          if (!h) throw new Error(`unknown command ${raw.cmd}`);
          value = await h(raw.arg);
        }
        send({ kind: 'answer', id: raw.id, ok: true, value });
      } catch (err) {
        send({ kind: 'answer', id: raw.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
  // The parent went away: do not linger.
  process.on('disconnect', () => process.exit(0));
  Promise.resolve()
    .then(ready)
    .then(
      (info) => send({ kind: 'ready', info }),
      (err: unknown) => {
        send({ kind: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        setTimeout(() => process.exit(1), 20);
      },
    );
}

export interface StartChildOptions {
  /** Arguments given to the child (process.argv.slice(2)). */
  args?: string[];
  /** Extra Node options, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/x'] or ['--max-old-space-size=4096']. */
  nodeOptions?: string[];
  /** How long to wait for `ready` (ms). Default 120 s. */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** A running child process (parent side). */
export class BenchChild<Info = unknown> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  private readonly exitPromise: Promise<number | null>;

  private constructor(
    readonly proc: ChildProcess,
    /** What the child sent with `ready`. */
    public info: Info,
  ) {
    this.exitPromise = new Promise((resolve) => {
      proc.once('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error(`child ${proc.pid} exited (code ${code})`));
        this.pending.clear();
        resolve(code);
      });
    });
    proc.on('message', (m: ChildMessage) => {
      if (m?.kind !== 'answer') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`child: ${m.error}`));
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /**
   * Forks `entry` (a .ts module calling `serveChild`) through tsx and waits for its ready message.
   * Rejects when the child fails to start, exits early, or does not get ready in time.
   */
  static async start<I = unknown>(entry: URL, options: StartChildOptions = {}): Promise<BenchChild<I>> {
    const proc = fork(fileURLToPath(entry), options.args ?? [], {
      execArgv: ['--import', 'tsx', ...(options.nodeOptions ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: options.env ?? process.env,
      serialization: 'advanced',
    });
    const info = await new Promise<I>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${entry.pathname} did not get ready within ${options.readyTimeoutMs ?? 120_000} ms`));
      }, options.readyTimeoutMs ?? 120_000);
      const onMessage = (m: ChildMessage) => {
        if (m?.kind === 'ready') {
          cleanup();
          resolve(m.info as I);
        } else if (m?.kind === 'failed') {
          cleanup();
          reject(new Error(`${entry.pathname} failed to start: ${m.error}`));
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`${entry.pathname} exited before it was ready (code ${code})`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        proc.off('message', onMessage);
        proc.off('exit', onExit);
      };
      proc.on('message', onMessage);
      proc.once('exit', onExit);
    });
    return new BenchChild<I>(proc, info);
  }

  /** Sends a command; resolves the child's answer, rejects with the child's error. */
  call<T = unknown>(cmd: string, arg?: unknown): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`child ${this.pid} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const msg: CallMessage = { kind: 'call', id, cmd, arg };
      this.proc.send(msg);
    });
  }

  /** Resident memory in bytes (from /proc, else asked from the child). */
  async rss(): Promise<number> {
    return readRssBytes(this.pid) ?? (await this.call<number>(BUILTIN_RSS));
  }

  /**
   * The child's JavaScript heap in use, in bytes: after a full garbage collection when the child
   * runs with `--expose-gc` (then it is the live heap, the figure that shows a leak), else as is.
   */
  heapUsed(): Promise<number> {
    return this.call<number>(BUILTIN_HEAP);
  }

  /**
   * CPU time (user + system, seconds) the child used so far (all its threads). The difference
   * between two readings is what a phase cost, whatever else the machine was doing: the figure to
   * compare on a busy shared machine.
   */
  async cpuSeconds(): Promise<number> {
    return readCpuSeconds(this.pid) ?? (await this.call<number>(BUILTIN_CPU));
  }

  /** Starts the child's V8 CPU profiler (inspector), to profile only a phase of a run. */
  async startProfile(): Promise<void> {
    await this.call(BUILTIN_PROFILE_START);
  }

  /** Stops the profiler and writes the .cpuprofile to `file`; resolves the path. */
  stopProfile(file: string): Promise<string> {
    return this.call<string>(BUILTIN_PROFILE_STOP, file);
  }

  /**
   * Asks the child to exit cleanly (so profiles get written); kills it when it has not exited
   * within `graceMs`. Resolves the exit code.
   */
  async stop(graceMs = 30_000): Promise<number | null> {
    if (!this.exited) {
      this.call(BUILTIN_EXIT).catch(() => undefined);
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
      const code = await this.exitPromise;
      clearTimeout(timer);
      return code;
    }
    return this.exitPromise;
  }
}

/** Samples the RSS of some processes every `intervalMs` (soak runs). */
export class RssSampler {
  readonly samples: { atMs: number; rss: Record<string, number> }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly t0 = Date.now();

  constructor(
    private readonly targets: Record<string, BenchChild>,
    private readonly intervalMs: number,
    private readonly onSample?: (s: { atMs: number; rss: Record<string, number> }) => void,
  ) {}

  /** Takes one sample now and then every interval. */
  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
  }

  async sample(): Promise<void> {
    const rss: Record<string, number> = {};
    for (const [name, child] of Object.entries(this.targets)) rss[name] = await child.rss().catch(() => Number.NaN);
    const s = { atMs: Date.now() - this.t0, rss };
    this.samples.push(s);
    this.onSample?.(s);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
