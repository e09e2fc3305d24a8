/**
 * STUN provisioning (TR-111 Part 2): what the ACS writes on a device so that it keeps a NAT binding
 * open towards our STUN server, and the component that does it after sessions.
 *
 * For a device that needs it the ACS queues, as ordinary tasks (so they show in the API and retry
 * like any other):
 * 1. setParameterValues (parameterKey `switchboard-stun`) of ManagementServer.STUNEnable = true,
 *    STUNServerAddress / STUNServerPort (ours), STUNUsername = the device id (the STUN service maps
 *    it back to the device without a lookup), STUNPassword (derived from the STUN secret, when one
 *    is configured), STUNMinimumKeepAlivePeriod / STUNMaximumKeepAlivePeriod. Only values that
 *    differ from the stored ones are written; STUNPassword cannot be read back (it reads as empty),
 *    so it is written whenever anything else is.
 * 2. setParameterAttributes: ManagementServer.UDPConnectionRequestAddress under active notification
 *    (2), so that a new NAT mapping reaches us at once as `4 VALUE CHANGE`.
 * 3. getParameterValues of GatewayInfo and the NAT parameters when they are not known yet (TR-111
 *    Part 1 association and NATDetected).
 *
 * "Needs it" (`mode`): `all` devices, `nat` only devices that look NATed (NATDetected true, or a
 * ConnectionRequestURL whose host is not the address the session came from), or `off`.
 * `stunProvisioningTasks` is a pure function the provisioning presets can call as well.
 */
import { isIP } from 'node:net';
import type { AcsControl, SessionNotice } from '../app.ts';
import type { Device, JsonObject, Store, StoredParameter, Task } from '../../store/types.ts';

export type StunProvisionMode = 'off' | 'nat' | 'all';

/** The parameterKey of our STUN writes (<= 32 characters): lets us recognise our own tasks. */
export const STUN_PARAMETER_KEY = 'switchboard-stun';
/** Active notification. */
const NOTIFICATION_ACTIVE = 2;

export interface StunProvisioningSettings {
  mode: StunProvisionMode;
  /** STUNServerAddress as the devices must reach it (the ACS's public name or IP). Empty: the device uses its ACS URL's host. */
  serverAddress: string;
  serverPort: number;
  /** STUNMinimumKeepAlivePeriod, seconds. */
  minKeepAliveSeconds: number;
  /** STUNMaximumKeepAlivePeriod, seconds (-1 = no maximum). */
  maxKeepAliveSeconds: number;
  /** The STUN password of a username (derived from the STUN secret); undefined = none provisioned. */
  passwordFor?: (username: string) => string | undefined;
}

/**
 * Defaults: keep-alives between 20 s and 60 s. Home NATs commonly drop idle UDP mappings after
 * 30-120 s (Linux: 30 s for a flow with no reply yet, 120 s once answered), and the CPE's own
 * preferred period (30 s) falls inside this window.
 */
export const DEFAULT_STUN_PROVISIONING: Omit<StunProvisioningSettings, 'serverAddress'> = {
  mode: 'nat',
  serverPort: 3478,
  minKeepAliveSeconds: 20,
  maxKeepAliveSeconds: 60,
};

/** One task payload as the task schema accepts it (src/acs/tasks/schema.ts). */
export type NatTaskPayload = JsonObject & { type: 'setParameterValues' | 'setParameterAttributes' | 'getParameterValues' };

/** Why a device does (not) need STUN. */
export interface StunNeed {
  needed: boolean;
  reason: string;
}

/** The data-model root a device uses, from its stored parameter names (default `Device`). */
export function rootOf(params: readonly StoredParameter[]): 'Device' | 'InternetGatewayDevice' {
  return params.some((p) => p.name.startsWith('InternetGatewayDevice.')) ? 'InternetGatewayDevice' : 'Device';
}

function stored(params: readonly StoredParameter[], name: string): StoredParameter | undefined {
  return params.find((p) => p.name === name);
}

function hostOf(text: string | null): string | null {
  if (!text) return null;
  try {
    return new URL(text).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
}

/** The address part of `ip`, `ip:port` or `[v6]:port`. */
function addressOf(source: string | null): string | null {
  if (!source) return null;
  if (isIP(source)) return source;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(source) ?? /^([^:]+):\d+$/.exec(source);
  return m ? m[1] : null;
}

/**
 * Decides whether a device needs STUN under `mode`.
 * @returns `{ needed, reason }` (the reason is for logs and the dry run).
 */
export function stunNeed(mode: StunProvisionMode, device: Device, params: readonly StoredParameter[]): StunNeed {
  if (mode === 'off') return { needed: false, reason: 'STUN provisioning is off' };
  if (mode === 'all') return { needed: true, reason: 'STUN provisioning for all devices' };
  const root = rootOf(params);
  if (stored(params, `${root}.ManagementServer.NATDetected`)?.value === 'true') return { needed: true, reason: 'the device reports NATDetected' };
  const crHost = hostOf(device.connectionRequestUrl);
  const source = addressOf(device.sourceAddress);
  if (crHost !== null && source !== null && isIP(crHost) !== 0 && crHost !== source) {
    return { needed: true, reason: `ConnectionRequestURL host ${crHost} is not the session source ${source}: behind a NAT` };
  }
  return { needed: false, reason: crHost === null ? 'no ConnectionRequestURL known yet' : 'the ConnectionRequestURL host is the session source: reachable' };
}

/**
 * The tasks that bring a device's STUN settings to `settings` (nothing when they already are).
 * Pure: reads only its arguments.
 * @returns task payloads in order (SPV, SPA, GPV), each valid against the task schema.
 */
export function stunProvisioningTasks(device: Device, params: readonly StoredParameter[], settings: StunProvisioningSettings): NatTaskPayload[] {
  const root = rootOf(params);
  const ms = `${root}.ManagementServer.`;
  const username = device.id;
  const password = settings.passwordFor?.(username);
  const desired: { name: string; value: string | number | boolean; type: string }[] = [
    { name: `${ms}STUNEnable`, value: true, type: 'boolean' },
    { name: `${ms}STUNServerAddress`, value: settings.serverAddress, type: 'string' },
    { name: `${ms}STUNServerPort`, value: settings.serverPort, type: 'unsignedInt' },
    { name: `${ms}STUNUsername`, value: username, type: 'string' },
    { name: `${ms}STUNMinimumKeepAlivePeriod`, value: settings.minKeepAliveSeconds, type: 'unsignedInt' },
    { name: `${ms}STUNMaximumKeepAlivePeriod`, value: settings.maxKeepAliveSeconds, type: 'int' },
  ];
  const differs = desired.filter((d) => {
    const cur = stored(params, d.name)?.value;
    return cur === undefined || cur === null || cur !== String(d.value);
  });
  const tasks: NatTaskPayload[] = [];
  if (differs.length > 0) {
    const parameters = differs.map((d) => ({ name: d.name, value: d.value, type: d.type }));
    if (password !== undefined) parameters.push({ name: `${ms}STUNPassword`, value: password, type: 'string' });
    tasks.push({ type: 'setParameterValues', parameters, parameterKey: STUN_PARAMETER_KEY });
  }
  const udpAddress = `${ms}UDPConnectionRequestAddress`;
  if (stored(params, udpAddress)?.notification !== NOTIFICATION_ACTIVE) {
    tasks.push({ type: 'setParameterAttributes', parameters: [{ name: udpAddress, notification: NOTIFICATION_ACTIVE }] });
  }
  const wanted = [`${ms}NATDetected`, udpAddress, ...(root === 'Device' ? [`${root}.GatewayInfo.`] : [])];
  const unknown = wanted.filter((n) => (n.endsWith('.') ? !params.some((p) => p.name.startsWith(n) && !p.object) : stored(params, n)?.value == null));
  if (unknown.length > 0) tasks.push({ type: 'getParameterValues', names: unknown });
  return tasks;
}

/** Whether a queued task is one of ours for the same purpose as `payload`. */
function sameKind(task: Task, payload: NatTaskPayload): boolean {
  if (task.type !== payload.type) return false;
  if (payload.type === 'setParameterValues') return task.payload.parameterKey === STUN_PARAMETER_KEY;
  return JSON.stringify(task.payload) === JSON.stringify(payload);
}

export interface NatProvisionerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * Queues STUN provisioning after each completed session of a device that needs it (the tasks run
 * at its next session, or in the running one when the ACS adds tasks to live sessions). Tasks
 * already queued for the same purpose are not queued twice.
 */
export class NatProvisioner {
  private readonly onSession = (n: SessionNotice): void => {
    if (n.phase === 'ended' && n.outcome === 'completed') void this.provision(n.deviceId);
  };
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly acs: Pick<AcsControl, 'events' | 'enqueueTask'>,
    private readonly store: Store,
    private readonly settings: StunProvisioningSettings,
    private readonly logger?: NatProvisionerLogger,
  ) {}

  /** Starts listening to session ends. */
  start(): void {
    if (this.settings.mode !== 'off') this.acs.events.on('session', this.onSession);
  }

  stop(): void {
    this.acs.events.off('session', this.onSession);
  }

  /**
   * Checks one device now and queues what it needs.
   * @returns the queued tasks (empty when nothing was needed). Never rejects: errors are logged.
   */
  async provision(deviceId: string): Promise<Task[]> {
    if (this.inFlight.has(deviceId)) return [];
    this.inFlight.add(deviceId);
    try {
      const device = await this.store.getDevice(deviceId);
      if (device === null) return [];
      // Only the two sub-trees the decision needs: a phone's full tree has thousands of parameters.
      const igd = await this.store.getParameters(deviceId, { prefix: 'InternetGatewayDevice.ManagementServer.' });
      const params = igd.length > 0 ? igd : await this.store.getParameters(deviceId, { prefix: 'Device.ManagementServer.' });
      if (igd.length === 0) params.push(...(await this.store.getParameters(deviceId, { prefix: 'Device.GatewayInfo.' })));
      const need = stunNeed(this.settings.mode, device, params);
      if (!need.needed) return [];
      const payloads = stunProvisioningTasks(device, params, this.settings);
      if (payloads.length === 0) return [];
      const queued = (await this.store.listTasks({ deviceId, status: ['pending', 'running'], limit: 1000 })).tasks;
      const out: Task[] = [];
      for (const p of payloads) {
        if (queued.some((t) => sameKind(t, p))) continue;
        out.push((await this.acs.enqueueTask(deviceId, p)).task);
      }
      if (out.length > 0) this.logger?.info({ deviceId, reason: need.reason, tasks: out.map((t) => t.type) }, 'STUN provisioning queued');
      return out;
    } catch (err) {
      this.logger?.warn({ deviceId, err: (err as Error).message }, 'STUN provisioning failed');
      return [];
    } finally {
      this.inFlight.delete(deviceId);
    }
  }
}
