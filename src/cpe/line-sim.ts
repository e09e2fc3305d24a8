/**
 * Simulated telephone lines: each enabled account registers (Line.{i}.Status Registering -> Up),
 * then places and receives calls at random (CallState Idle / Calling / Ringing / InCall), and the
 * TR-104 Line.{i}.Stats counters grow with each call. Every change is a device-side change through
 * the agent, so it is reported to the ACS according to the parameter's notification attribute,
 * like any other value. Deterministic: the same seed and serial give the same calls.
 */
import type { CpeAgent } from './agent.ts';
import { seededRandom, type RandomSource } from './retry.ts';
import type { TimerHandle } from './scheduler.ts';

export interface LineSimulationOptions {
  seed: number;
  /** Mean time between calls on the device (ms). */
  meanGapMs?: number;
  /** Call duration range (ms). */
  minCallMs?: number;
  maxCallMs?: number;
  /** Ringing / dialling time before answer or give-up (ms). */
  alertMs?: number;
  /** Time to register after boot or after a line is enabled (ms). */
  registerMs?: number;
  /** Share of calls that are answered. */
  answerRate?: number;
  /** Enable every account's line at start (a pre-provisioned phone); default false. */
  enableLines?: boolean;
}

/** RTP at 20 ms packetisation: 50 packets per second each way, 160 bytes of G.711 + 12 RTP header. */
const PACKETS_PER_S = 50;
const BYTES_PER_PACKET = 172;
const MS_PER_S = 1000;
/** How often line Enable changes are picked up. */
const RECHECK_MS = 30_000;

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export class LineSimulator {
  private readonly random: RandomSource;
  private readonly o: Required<LineSimulationOptions>;
  private timers = new Set<TimerHandle>();
  private running = false;
  private busy = new Set<string>();
  /** Calls placed/received so far (tests). */
  calls = 0;

  constructor(
    private readonly agent: CpeAgent,
    private readonly scheduler: { after(ms: number, f: () => void): TimerHandle },
    opts: LineSimulationOptions,
  ) {
    this.o = {
      seed: opts.seed,
      meanGapMs: opts.meanGapMs ?? 60_000,
      minCallMs: opts.minCallMs ?? 5_000,
      maxCallMs: opts.maxCallMs ?? 120_000,
      alertMs: opts.alertMs ?? 4_000,
      registerMs: opts.registerMs ?? 500,
      answerRate: opts.answerRate ?? 0.75,
      enableLines: opts.enableLines ?? false,
    };
    this.random = seededRandom((opts.seed ^ hash(agent.serial)) >>> 0);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.o.enableLines) for (const line of this.lines()) this.set(`${line}Enable`, 'Enabled');
    this.after(this.o.registerMs, () => this.register());
    this.scheduleNextCall();
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }

  /** Line object paths (`...VoiceProfile.N.Line.M.`) of the device. */
  lines(): string[] {
    const m = this.agent.model;
    const vp = `${m.root}.Services.VoiceService.1.VoiceProfile.`;
    const out: string[] = [];
    for (const p of m.listInstances(vp)) for (const l of m.listInstances(`${vp}${p}.Line.`)) out.push(`${vp}${p}.Line.${l}.`);
    return out;
  }

  private after(ms: number, f: () => void): void {
    const h = this.scheduler.after(ms, () => {
      this.timers.delete(h);
      if (this.running) f();
    });
    this.timers.add(h);
  }

  private set(path: string, value: string): void {
    try {
      this.agent.setLocalValue(path, value);
    } catch {
      // A profile without this parameter simply does not simulate it.
    }
  }

  private bump(path: string, by: number): void {
    const cur = Number(this.agent.model.getValue(path) ?? '0');
    this.set(path, String((Number.isFinite(cur) ? cur : 0) + by));
  }

  private enabled(line: string): boolean {
    return (this.agent.model.getValue(`${line}Enable`) ?? '') === 'Enabled';
  }

  /** Registers enabled lines, unregisters disabled ones; re-checked periodically. */
  private register(): void {
    for (const line of this.lines()) {
      const status = this.agent.model.getValue(`${line}Status`) ?? '';
      if (this.enabled(line)) {
        if (status !== 'Up' && status !== 'Registering') {
          this.set(`${line}Status`, 'Registering');
          this.after(this.o.registerMs, () => {
            if (this.enabled(line)) this.set(`${line}Status`, 'Up');
          });
        }
      } else if (status !== 'Disabled') {
        this.set(`${line}Status`, 'Disabled');
      }
    }
    this.after(RECHECK_MS, () => this.register());
  }

  private scheduleNextCall(): void {
    // Exponential gaps: calls arrive as a Poisson process.
    const gap = -Math.log(1 - this.random()) * this.o.meanGapMs;
    this.after(Math.max(1, Math.round(gap)), () => {
      this.call();
      this.scheduleNextCall();
    });
  }

  private call(): void {
    const ready = this.lines().filter((l) => !this.busy.has(l) && (this.agent.model.getValue(`${l}Status`) ?? '') === 'Up');
    if (!ready.length) return;
    const line = ready[Math.floor(this.random() * ready.length)];
    const incoming = this.random() < 0.5;
    const answered = this.random() < this.o.answerRate;
    const duration = this.o.minCallMs + Math.floor(this.random() * (this.o.maxCallMs - this.o.minCallMs));
    const st = `${line}Stats.`;
    this.calls++;
    this.busy.add(line);
    if (incoming) {
      this.bump(`${st}IncomingCallsReceived`, 1);
      this.set(`${line}CallState`, 'Ringing');
    } else {
      this.bump(`${st}OutgoingCallsAttempted`, 1);
      this.set(`${line}CallState`, 'Calling');
    }
    this.after(this.o.alertMs, () => {
      if (!answered) {
        this.bump(`${st}${incoming ? 'IncomingCallsFailed' : 'OutgoingCallsFailed'}`, 1);
        this.set(`${line}CallState`, 'Idle');
        this.busy.delete(line);
        return;
      }
      this.bump(`${st}${incoming ? 'IncomingCallsAnswered' : 'OutgoingCallsAnswered'}`, 1);
      this.bump(`${st}${incoming ? 'IncomingCallsConnected' : 'OutgoingCallsConnected'}`, 1);
      this.set(`${line}CallState`, 'InCall');
      this.after(duration, () => {
        const seconds = Math.round(duration / MS_PER_S);
        const packets = seconds * PACKETS_PER_S;
        this.bump(`${st}TotalCallTime`, seconds);
        this.bump(`${st}PacketsSent`, packets);
        this.bump(`${st}PacketsReceived`, packets);
        this.bump(`${st}BytesSent`, packets * BYTES_PER_PACKET);
        this.bump(`${st}BytesReceived`, packets * BYTES_PER_PACKET);
        this.set(`${line}CallState`, 'Idle');
        this.busy.delete(line);
      });
    });
  }
}
