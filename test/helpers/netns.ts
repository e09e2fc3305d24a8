/**
 * Real network isolation for NAT tests: Linux network namespaces, veth pairs and a masquerading
 * router, all created and removed by the test on this machine.
 *
 *   [ wan ns ]  acs 172.31.N.1/24 ── veth ── 172.31.N.2/24 [ router ns ] 192.168.N.1/24 ── veth ── 192.168.N.2/24 [ lan ns ]
 *                (ACS, STUN server)                  masquerade (random ports) out of its WAN side             (CPE agent)
 *
 * - Nothing is created in the root namespace: veth pairs are created directly inside the namespaces,
 *   and the root namespace's addresses, routes and firewall are never touched.
 * - Only private ranges are used, and only inside those namespaces. The wan namespace has no default
 *   route and no route to the LAN (as on the Internet, where private addresses are not routed), so
 *   an HTTP connection request to the CPE's private ConnectionRequestURL fails at once; the router
 *   also drops new connections from WAN to LAN (a NAT forwards only replies).
 * - Names carry the test process pid and a random suffix (`sbnat<pid>x<rand>-w`), so parallel runs
 *   never collide, and namespaces left by a crashed run (its pid is gone) are removed by the next one.
 * - `destroy()` kills every process inside the namespaces, then deletes them (the veths go with
 *   them). It is also run from a process `exit` hook, so a crashing test still cleans up.
 *
 * Needs root, `ip` (iproute2) and `iptables` or `nft`. `netnsSupport()` says whether (and why not).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';

/** Whether this machine can run the namespace tests, and if not, why. */
export type NetnsSupport = { ok: true; firewall: FirewallTool } | { ok: false; reason: string };

export type FirewallTool = 'iptables' | 'nft';

/** Prefix of every namespace this harness creates (also how leftovers are recognised). */
export const NETNS_PREFIX = 'sbnat';
const COMMAND_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 1_000;
/** Third octet range of the per-run subnets (1..254). */
const SUBNET_MIN = 1;
const SUBNET_MAX = 254;
const RANDOM_SUFFIX_RANGE = 36 ** 4;

interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[]): CommandResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '', stderr: r.error ? r.error.message : (r.stderr ?? '') };
}

/**
 * Runs a command and throws with its stderr when it fails.
 * @returns its stdout.
 * @throws Error naming the command and its stderr.
 */
function must(cmd: string, args: readonly string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

function hasCommand(cmd: string, versionArg: string): boolean {
  return run(cmd, [versionArg]).status === 0;
}

let cachedSupport: NetnsSupport | undefined;

/**
 * Checks root, iproute2 with netns support, and a firewall tool able to masquerade, by creating and
 * deleting a probe namespace.
 * @returns `{ ok: true, firewall }` or `{ ok: false, reason }` (for the test's skip message).
 */
export function netnsSupport(): NetnsSupport {
  if (cachedSupport) return cachedSupport;
  cachedSupport = probeSupport();
  return cachedSupport;
}

function probeSupport(): NetnsSupport {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'network namespaces need root (CI runs as root)' };
  if (!hasCommand('ip', '-V')) return { ok: false, reason: 'the `ip` command (iproute2) is not installed' };
  // SWITCHBOARD_NETNS_FIREWALL=nft|iptables forces one (to test both paths); default: iptables, else nft.
  const forced = process.env.SWITCHBOARD_NETNS_FIREWALL;
  const candidates: FirewallTool[] = forced === 'nft' || forced === 'iptables' ? [forced] : ['iptables', 'nft'];
  const firewall = candidates.find((tool) => hasCommand(tool, '--version')) ?? null;
  if (firewall === null) return { ok: false, reason: `${candidates.join(' / ')} not installed (apt-get install iptables)` };
  const probe = `${NETNS_PREFIX}${process.pid}probe`;
  const add = run('ip', ['netns', 'add', probe]);
  if (add.status !== 0) return { ok: false, reason: `cannot create a network namespace: ${add.stderr.trim()}` };
  try {
    // The very rules the topology needs (masquerade with random ports, conntrack state), on a probe.
    const nat =
      firewall === 'iptables'
        ? run('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'MASQUERADE', '--random'])
        : spawnSync('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], { input: firewallRules('nft', { lanSubnet: '192.168.0.0/24', wanIf: 'lo', lanIf: 'lo' }), encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
    const state = firewall === 'iptables' ? run('ip', ['netns', 'exec', probe, 'iptables', '-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT']) : nat;
    for (const r of [nat, state]) {
      if (r.status !== 0) return { ok: false, reason: `${firewall} cannot masquerade inside a namespace: ${String(r.stderr).trim()}` };
    }
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
  return { ok: true, firewall };
}

/** One namespace of the topology. */
export interface NamespaceInfo {
  name: string;
  /** Its address on the link the test cares about (acs / cpe address; router: see NatTopology). */
  address: string;
}

/** A process started inside a namespace, with an IPC channel. */
export interface NsProcess {
  readonly child: ChildProcess;
  /** Every IPC message received so far. */
  readonly messages: unknown[];
  /** Last lines of stdout+stderr (for failure messages). */
  output(): string;
  /** Resolves with the first message (past or future) matching `match`; rejects after timeoutMs or when the process exits first. */
  waitFor<T = unknown>(match: (m: unknown) => boolean, timeoutMs: number): Promise<T>;
  send(message: unknown): void;
  /** SIGTERM, then SIGKILL after a grace period; resolves when it exited. */
  stop(): Promise<void>;
}

export interface SpawnNodeOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Load TypeScript through tsx (default true). */
  tsx?: boolean;
}

/** The three-namespace NAT topology. */
export interface NatTopology {
  readonly id: string;
  /** The ACS side ("the Internet"): no route to the LAN. */
  readonly wan: NamespaceInfo;
  /** The router: `wanAddress` is the public address the CPE's traffic is masqueraded to. */
  readonly router: { name: string; wanAddress: string; lanAddress: string };
  /** The CPE side, default route via the router. */
  readonly lan: NamespaceInfo;
  readonly firewall: FirewallTool;
  /**
   * Runs a command inside a namespace.
   * @returns its stdout. @throws on a non-zero exit.
   */
  exec(ns: string, cmd: string, args: readonly string[]): string;
  /** Starts `node [--import tsx] <args>` inside a namespace with an IPC channel (killed by destroy()). */
  spawnNode(ns: string, args: readonly string[], options?: SpawnNodeOptions): NsProcess;
  /** Kills every process in the namespaces and deletes them. Idempotent. */
  destroy(): Promise<void>;
}

const liveTopologies = new Set<NatTopology>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last-chance cleanup: a test that crashes must not leave namespaces behind.
  process.on('exit', () => {
    for (const t of liveTopologies) destroyNamespacesSync([t.lan.name, t.router.name, t.wan.name]);
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces of this harness whose creating process is gone. @returns their names. */
export function removeStaleNamespaces(): string[] {
  const r = run('ip', ['netns', 'list']);
  if (r.status !== 0) return [];
  const stale: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)x[0-9a-z]+-[wrl]$`).exec(name);
    if (m && !pidAlive(Number(m[1]))) stale.push(name);
  }
  destroyNamespacesSync(stale);
  return stale;
}

/** Kills the processes inside the namespaces, then deletes them. Errors are ignored (best effort). */
function destroyNamespacesSync(names: readonly string[]): void {
  for (const ns of names) {
    const pids = run('ip', ['netns', 'pids', ns]);
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const ns of names) run('ip', ['netns', 'del', ns]);
}

/** Lists the namespaces currently present (for cleanup assertions). */
export function listNamespaces(): string[] {
  const r = run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/**
 * Creates the wan / router / lan namespaces, veths, addresses, routes and the masquerade.
 * On any failure what was created is removed before the error is thrown.
 * @returns the topology; call `destroy()` when done (in `after`/`finally`).
 * @throws Error when the machine lacks support (check `netnsSupport()` first) or a command fails.
 */
export async function createNatTopology(): Promise<NatTopology> {
  const support = netnsSupport();
  if (!support.ok) throw new Error(support.reason);
  installExitHook();
  removeStaleNamespaces();
  const id = `${NETNS_PREFIX}${process.pid}x${randomInt(RANDOM_SUFFIX_RANGE).toString(36)}`;
  const n = randomInt(SUBNET_MIN, SUBNET_MAX + 1);
  const wan = `${id}-w`;
  const rtr = `${id}-r`;
  const lan = `${id}-l`;
  const net = {
    acs: `172.31.${n}.1`,
    routerWan: `172.31.${n}.2`,
    routerLan: `192.168.${n}.1`,
    cpe: `192.168.${n}.2`,
    lanSubnet: `192.168.${n}.0/24`,
  };
  // Interface names live inside their namespace, so they need not be unique across runs.
  const ifs = { acs: 'wan0', routerWan: 'rwan0', routerLan: 'rlan0', cpe: 'lan0' };
  const processes = new Set<NsProcess>();
  const created: string[] = [];
  let destroyed = false;

  const topology: NatTopology = {
    id,
    wan: { name: wan, address: net.acs },
    router: { name: rtr, wanAddress: net.routerWan, lanAddress: net.routerLan },
    lan: { name: lan, address: net.cpe },
    firewall: support.firewall,
    exec: (ns, cmd, args) => must('ip', ['netns', 'exec', ns, cmd, ...args]),
    spawnNode: (ns, args, options) => {
      const p = spawnInNamespace(ns, args, options);
      processes.add(p);
      return p;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await Promise.all([...processes].map((p) => p.stop().catch(() => undefined)));
      destroyNamespacesSync([lan, rtr, wan]);
      liveTopologies.delete(topology);
    },
  };
  liveTopologies.add(topology);

  try {
    for (const ns of [wan, rtr, lan]) {
      must('ip', ['netns', 'add', ns]);
      created.push(ns);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    must('ip', ['link', 'add', ifs.acs, 'netns', wan, 'type', 'veth', 'peer', 'name', ifs.routerWan, 'netns', rtr]);
    must('ip', ['link', 'add', ifs.routerLan, 'netns', rtr, 'type', 'veth', 'peer', 'name', ifs.cpe, 'netns', lan]);
    const addr = (ns: string, a: string, dev: string): void => {
      must('ip', ['-n', ns, 'addr', 'add', `${a}/24`, 'dev', dev]);
      must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    };
    addr(wan, net.acs, ifs.acs);
    addr(rtr, net.routerWan, ifs.routerWan);
    addr(rtr, net.routerLan, ifs.routerLan);
    addr(lan, net.cpe, ifs.cpe);
    must('ip', ['-n', lan, 'route', 'add', 'default', 'via', net.routerLan]);
    // The router's WAN side is its only way out; the wan namespace gets no route back to the LAN.
    must('ip', ['netns', 'exec', rtr, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    if (support.firewall === 'iptables') {
      const ipt = (args: string[]): string => must('ip', ['netns', 'exec', rtr, 'iptables', ...args]);
      // --random: the public port differs from the CPE's, so a test proves the ACS uses the mapped one.
      ipt(['-t', 'nat', '-A', 'POSTROUTING', '-s', net.lanSubnet, '-o', ifs.routerWan, '-j', 'MASQUERADE', '--random']);
      ipt(['-A', 'FORWARD', '-i', ifs.routerWan, '-o', ifs.routerLan, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      ipt(['-A', 'FORWARD', '-i', ifs.routerWan, '-o', ifs.routerLan, '-j', 'DROP']);
    } else {
      const rules = firewallRules('nft', { lanSubnet: net.lanSubnet, wanIf: ifs.routerWan, lanIf: ifs.routerLan });
      const r = spawnSync('ip', ['netns', 'exec', rtr, 'nft', '-f', '-'], { input: rules, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
      if (r.status !== 0) throw new Error(`nft failed: ${r.stderr}`);
    }
  } catch (err) {
    await topology.destroy();
    throw err;
  }
  return topology;
}

/** The router's nftables ruleset: masquerade (random ports) out of the WAN side, only replies back in. */
function firewallRules(_tool: 'nft', o: { lanSubnet: string; wanIf: string; lanIf: string }): string {
  return [
    'table ip sbnat {',
    '  chain sb_post {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${o.lanSubnet} oifname "${o.wanIf}" masquerade random`,
    '  }',
    '  chain sb_forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname "${o.wanIf}" oifname "${o.lanIf}" ct state established,related accept`,
    `    iifname "${o.wanIf}" oifname "${o.lanIf}" drop`,
    '  }',
    '}',
  ].join('\n');
}

function spawnInNamespace(ns: string, args: readonly string[], options: SpawnNodeOptions = {}): NsProcess {
  const nodeArgs = [...(options.tsx === false ? [] : ['--import', 'tsx']), ...args];
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...options.env },
  });
  const messages: unknown[] = [];
  const waiters = new Set<{ match: (m: unknown) => boolean; resolve: (m: unknown) => void }>();
  const outLines: string[] = [];
  const MAX_LINES = 200;
  const collect = (chunk: Buffer): void => {
    outLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (outLines.length > MAX_LINES) outLines.splice(0, outLines.length - MAX_LINES);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('message', (m) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.match(m)) {
        waiters.delete(w);
        w.resolve(m);
      }
    }
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  return {
    child,
    messages,
    output: () => outLines.join('\n'),
    waitFor<T>(match: (m: unknown) => boolean, timeoutMs: number): Promise<T> {
      const found = messages.find(match);
      if (found !== undefined) return Promise.resolve(found as T);
      return new Promise<T>((resolve, reject) => {
        const w = {
          match,
          resolve: (m: unknown) => {
            clearTimeout(timer);
            resolve(m as T);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching message within ${timeoutMs} ms from ${ns}; output:\n${outLines.join('\n')}`));
        }, timeoutMs);
        waiters.add(w);
        void exitPromise.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`process in ${ns} exited (${child.exitCode ?? child.signalCode}) before the message; output:\n${outLines.join('\n')}`));
        });
      });
    },
    send(message) {
      if (!exited && child.connected) child.send(message as object);
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
