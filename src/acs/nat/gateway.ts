/**
 * TR-111 Part 1 (TR-069 Annex F): which gateway a device sits behind, and which devices sit behind
 * a gateway.
 *
 * A LAN device learns its gateway's identity from DHCP option 125 (enterprise 3561, sub-options
 * 4/5/6) and reports it in `Device.GatewayInfo.{ManufacturerOUI,ProductClass,SerialNumber}`
 * (active notification forced on by default, so a change arrives as `4 VALUE CHANGE`). A gateway
 * lists the devices it saw in `ManagementServer.ManageableDevice.{i}.` (sub-options 1/2/3).
 *
 * The link is computed from the inventory the sessions store, so it is always as fresh as the last
 * Inform/GetParameterValues and needs no table of its own: the gateway's device id is
 * `OUI-ProductClass-SerialNumber`, the same form as every device id (`makeDeviceId`), so a gateway
 * that is itself managed by this ACS is found directly.
 */
import { makeDeviceId, type Device, type IsoTimestamp, type Store, type StoredParameter } from '../../store/types.ts';

/** A gateway as a LAN device reports it. */
export interface GatewayIdentity {
  oui: string;
  productClass: string;
  serialNumber: string;
}

/** The answer about one device's gateway. */
export interface GatewayLink {
  deviceId: string;
  gateway: GatewayIdentity & {
    /** `OUI-ProductClass-SerialNumber`. */
    id: string;
    /** The gateway is itself a device of this ACS. */
    managed: boolean;
    lastContact: IsoTimestamp | null;
  };
  /** When the device's GatewayInfo was last stored. */
  reportedAt: IsoTimestamp;
}

/** How a device was found behind a gateway. */
export type BehindSource = 'gateway-info' | 'manageable-device';

/** One device behind a gateway. */
export interface BehindEntry {
  id: string;
  oui: string;
  productClass: string;
  serialNumber: string;
  /** The device is managed by this ACS (always true for `gateway-info`). */
  managed: boolean;
  lastContact: IsoTimestamp | null;
  sources: BehindSource[];
}

/** Devices behind a gateway. */
export interface BehindAnswer {
  gateway: GatewayIdentity & { id: string; managed: boolean };
  devices: BehindEntry[];
  /** True when more devices matched than `limit`. */
  truncated: boolean;
}

const ROOTS = ['Device', 'InternetGatewayDevice'] as const;
const GATEWAY_INFO_FIELDS = { oui: 'ManufacturerOUI', productClass: 'ProductClass', serialNumber: 'SerialNumber' } as const;
const DEFAULT_BEHIND_LIMIT = 1000;
/** Store page size while scanning. */
const PAGE = 500;
const OUI_LENGTH = 6;

function valueOf(params: readonly StoredParameter[], name: string): StoredParameter | undefined {
  return params.find((p) => p.name === name);
}

/**
 * The gateway a stored device reports (its GatewayInfo), with whether that gateway is managed here.
 * @returns the link; null when the device reports no gateway (empty ManufacturerOUI means "none
 *   detected" per the data model); undefined when the device does not exist.
 */
export async function gatewayOf(store: Store, deviceId: string): Promise<GatewayLink | null | undefined> {
  const device = await store.getDevice(deviceId);
  if (device === null) return undefined;
  for (const root of ROOTS) {
    const prefix = `${root}.GatewayInfo.`;
    const params = await store.getParameters(deviceId, { prefix });
    const oui = valueOf(params, `${prefix}${GATEWAY_INFO_FIELDS.oui}`);
    const pc = valueOf(params, `${prefix}${GATEWAY_INFO_FIELDS.productClass}`);
    const sn = valueOf(params, `${prefix}${GATEWAY_INFO_FIELDS.serialNumber}`);
    if (!oui?.value || !sn?.value) continue;
    const identity: GatewayIdentity = { oui: oui.value, productClass: pc?.value ?? '', serialNumber: sn.value };
    const id = makeDeviceId(identity);
    const gw = await store.getDevice(id);
    const reportedAt = [oui, pc, sn].reduce((a, p) => (p && p.updatedAt > a ? p.updatedAt : a), oui.updatedAt);
    return { deviceId, gateway: { ...identity, id, managed: gw !== null, lastContact: gw?.lastContact ?? null }, reportedAt };
  }
  return null;
}

/**
 * The devices behind a gateway: those whose GatewayInfo names it, plus those in its own
 * ManageableDevice table (when it is managed and reported one).
 * @param gatewayId the gateway's `OUI-ProductClass-SerialNumber` (managed here or not).
 * @returns the gateway and its devices, sorted by id; null when the gateway is unknown both as a
 *   device and as anybody's GatewayInfo.
 */
export async function devicesBehind(store: Store, gatewayId: string, limit = DEFAULT_BEHIND_LIMIT): Promise<BehindAnswer | null> {
  const managed = await store.getDevice(gatewayId);
  const found = new Map<string, BehindEntry>();
  let truncated = false;
  const add = (d: Pick<Device, 'id' | 'oui' | 'productClass' | 'serialNumber' | 'lastContact'>, managedHere: boolean, source: BehindSource): void => {
    const e = found.get(d.id);
    if (e) {
      if (!e.sources.includes(source)) e.sources.push(source);
      return;
    }
    if (found.size >= limit) {
      truncated = true;
      return;
    }
    found.set(d.id, { id: d.id, oui: d.oui, productClass: d.productClass, serialNumber: d.serialNumber, managed: managedHere, lastContact: d.lastContact, sources: [source] });
  };

  // An unmanaged gateway is known only by its id; its OUI is the id's first six characters, and the
  // rest is checked against each candidate's full GatewayInfo (product classes may contain '-').
  let identity: GatewayIdentity | null = managed ? { oui: managed.oui, productClass: managed.productClass, serialNumber: managed.serialNumber } : null;
  const oui = identity?.oui ?? gatewayId.slice(0, OUI_LENGTH);
  for (const root of ROOTS) {
    const prefix = `${root}.GatewayInfo.`;
    const conditions = identity
      ? [
          { name: `${prefix}ManufacturerOUI`, op: 'eq' as const, value: identity.oui },
          { name: `${prefix}SerialNumber`, op: 'eq' as const, value: identity.serialNumber },
        ]
      : [{ name: `${prefix}ManufacturerOUI`, op: 'eq' as const, value: oui }];
    let cursor: string | undefined;
    do {
      const page = await store.queryDevices({ parameters: conditions, limit: PAGE, cursor });
      for (const d of page.devices) {
        if (d.id === gatewayId) continue;
        const link = await gatewayOf(store, d.id);
        if (link?.gateway.id !== gatewayId) continue;
        identity ??= { oui: link.gateway.oui, productClass: link.gateway.productClass, serialNumber: link.gateway.serialNumber };
        add(d, true, 'gateway-info');
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined && !truncated);
  }

  if (managed) {
    for (const root of ROOTS) {
      const prefix = `${root}.ManagementServer.ManageableDevice.`;
      const params = await store.getParameters(gatewayId, { prefix });
      for (const entry of manageableDevices(params, prefix)) {
        const id = makeDeviceId(entry);
        const d = await store.getDevice(id);
        add(d ?? { id, ...entry, lastContact: null }, d !== null, 'manageable-device');
      }
    }
  }

  if (identity === null) return null;
  const devices = [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { gateway: { ...identity, id: gatewayId, managed: managed !== null }, devices, truncated };
}

/** Rows of a ManageableDevice table from stored parameters. */
function manageableDevices(params: readonly StoredParameter[], prefix: string): GatewayIdentity[] {
  const rows = new Map<string, Partial<GatewayIdentity>>();
  for (const p of params) {
    const m = /^(\d+)\.(ManufacturerOUI|ProductClass|SerialNumber)$/.exec(p.name.slice(prefix.length));
    if (!m || p.value === null) continue;
    const row = rows.get(m[1]) ?? {};
    if (m[2] === 'ManufacturerOUI') row.oui = p.value;
    else if (m[2] === 'ProductClass') row.productClass = p.value;
    else row.serialNumber = p.value;
    rows.set(m[1], row);
  }
  const out: GatewayIdentity[] = [];
  for (const r of rows.values()) {
    if (r.oui && r.serialNumber) out.push({ oui: r.oui, productClass: r.productClass ?? '', serialNumber: r.serialNumber });
  }
  return out;
}

/**
 * Parses the `--gateway OUI-ProductClass-SerialNumber` form (the simulated CPE's option). The OUI is
 * six hex digits; the serial number is the part after the last '-', the product class what is between.
 * @returns the identity, or null when malformed.
 */
export function parseGatewayIdentity(text: string): GatewayIdentity | null {
  const m = /^([0-9A-Fa-f]{6})-(.+)-([^-\s]+)$/.exec(text.trim());
  if (!m || /\s/.test(m[2])) return null;
  return { oui: m[1].toUpperCase(), productClass: m[2], serialNumber: m[3] };
}
