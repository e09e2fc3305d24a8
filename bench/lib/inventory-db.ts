/**
 * Generates the inventory benchmark's database: N devices with 100 parameters each, written
 * straight into the SQLite backend's schema (the migrations of src/store/sqlite/migrations.ts,
 * so the ACS opens it as its own), by bulk SQL instead of sessions:
 *
 * - journal off and synchronous off while loading (a crash only loses the cache: it is rebuilt);
 * - the secondary indexes of `devices` and `parameters` are dropped first and re-created at the end
 *   with their exact SQL from sqlite_master (sorting once is much faster than keeping a B-tree
 *   ordered through 100 M random inserts);
 * - devices come from a recursive CTE; parameters are inserted in primary-key order, 10,000 devices
 *   per statement (devices x a 100-row table of parameter names), so the WITHOUT ROWID table only
 *   ever appends.
 *
 * The 100 parameters are real HT502 data-model paths (DeviceInfo, ManagementServer, Time, LAN,
 * the SIP account of line 1, ...) with the profile's factory values, except a few that differ per
 * device: serial number, software version (10 versions), uptime, connection request URL and
 * username, parameter key, IP address, and the SIP account (as bench/lib/sip-accounts.ts).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from '../../src/store/sqlite/migrations.ts';
import { SQLITE_FILE_NAME } from '../../src/store/sqlite/index.ts';
import { openWalDatabase } from '../../src/store/sqlite/wal.ts';
import { DeviceModel, loadProfile } from '../../src/datamodel/model.ts';
import { SIP_DOMAIN } from './sip-accounts.ts';

/**
 * Bump when the generated content changes: cached databases of another version are rebuilt.
 * 2: opened like a store file (openWalDatabase: its page size; version 1 had SQLite's default 4 KiB).
 */
export const INVENTORY_DB_VERSION = 2;
export const PARAMETERS_PER_DEVICE = 100;
/** The models of the generated devices (alternating); both have the HT50X TR-104 tree. */
export const INVENTORY_MODELS = ['HT502', 'HT503'] as const;
/** The software versions spread over the devices (device n runs version n % 10). */
export const SOFTWARE_VERSIONS = Array.from({ length: 10 }, (_, i) => `1.0.${i + 1}.${10 + i}`);
const OUI = '000B82';
const DEVICES_PER_STATEMENT = 10_000;
const EXTENSION_BASE = 100_000;
const STAMP = '2025-01-01T00:00:00.000Z';
const SECONDS_PER_DAY = 86_400;
const PARAMETER_KEYS = 50;

/** How a parameter's value is made per device (see `valueSql`). */
type ValueKind = 'factory' | 'serial' | 'productClass' | 'software' | 'uptime' | 'crUrl' | 'crUser' | 'paramKey' | 'ip' | 'extension' | 'authUser' | 'sipUri' | 'callerName';

interface ParameterSpec {
  name: string;
  type: string;
  writable: boolean;
  factory: string;
  kind: ValueKind;
}

const LINE = 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.';
const KIND_OF: Record<string, ValueKind> = {
  'Device.DeviceInfo.SerialNumber': 'serial',
  'Device.DeviceInfo.ProductClass': 'productClass',
  'Device.DeviceInfo.ModelName': 'productClass',
  'Device.DeviceInfo.SoftwareVersion': 'software',
  'Device.DeviceInfo.UpTime': 'uptime',
  'Device.ManagementServer.ConnectionRequestURL': 'crUrl',
  'Device.ManagementServer.ConnectionRequestUsername': 'crUser',
  'Device.ManagementServer.ParameterKey': 'paramKey',
  'Device.LAN.IPAddress': 'ip',
  [`${LINE}DirectoryNumber`]: 'extension',
  [`${LINE}SIP.AuthUserName`]: 'authUser',
  [`${LINE}SIP.URI`]: 'sipUri',
  [`${LINE}CallingFeatures.CallerIDName`]: 'callerName',
};

/** The parameter searched for a single device: line 1's SIP user name. */
export const UNIQUE_SEARCH_PARAMETER = `${LINE}SIP.AuthUserName`;
/** The parameter searched for many devices: the software version (a tenth of the fleet each). */
export const COMMON_SEARCH_PARAMETER = 'Device.DeviceInfo.SoftwareVersion';

/** Serial number of generated device n (1-based). */
export function inventorySerial(n: number): string {
  return `${OUI}${n.toString(16).toUpperCase().padStart(6, '0')}`;
}

/** Id of generated device n. */
export function inventoryDeviceId(n: number): string {
  return `${OUI}-${INVENTORY_MODELS[n % INVENTORY_MODELS.length]}-${inventorySerial(n)}`;
}

/** The SIP user name of generated device n (what UNIQUE_SEARCH_PARAMETER holds). */
export function inventoryAuthUser(n: number): string {
  return `u${EXTENSION_BASE + n}`;
}

/** The 100 parameters: the per-device ones first, then DeviceInfo/ManagementServer/Time/LAN/voice in tree order. */
export function inventoryParameters(): ParameterSpec[] {
  const model = DeviceModel.create(loadProfile(INVENTORY_MODELS[0]), { serialNumber: inventorySerial(1) });
  const infos = model.getParameterNames('Device.', false).filter((p) => !p.name.endsWith('.'));
  const values = new Map(model.getParameterValues(infos.map((p) => p.name)).map((v) => [v.name, v]));
  const preferred = (name: string): number => {
    if (KIND_OF[name]) return 0;
    if (name.startsWith(LINE) || name.startsWith('Device.Services.VoiceService.1.VoiceProfile.1.SIP.')) return 1;
    if (/^Device\.(DeviceInfo|ManagementServer|Time|LAN)\./.test(name)) return 2;
    return 3;
  };
  const chosen = infos
    .map((p, i) => ({ p, i, rank: preferred(p.name) }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .slice(0, PARAMETERS_PER_DEVICE)
    .map(({ p }) => {
      const v = values.get(p.name)!;
      return { name: p.name, type: v.type, writable: p.writable, factory: v.value, kind: KIND_OF[p.name] ?? 'factory' };
    });
  if (chosen.length !== PARAMETERS_PER_DEVICE) throw new Error(`the ${INVENTORY_MODELS[0]} profile has fewer than ${PARAMETERS_PER_DEVICE} parameters`);
  return chosen.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** SQL expression of a parameter's value for device row `d` (columns n, serial, pc) and name row `p`. */
const VALUE_SQL = `CASE p.kind
  WHEN 'factory' THEN p.factory
  WHEN 'serial' THEN d.serial
  WHEN 'productClass' THEN d.pc
  WHEN 'software' THEN d.sw
  WHEN 'uptime' THEN CAST(d.n % ${SECONDS_PER_DAY} AS TEXT)
  WHEN 'crUrl' THEN 'http://' || d.ip || ':7547/' || lower(d.serial)
  WHEN 'crUser' THEN d.serial
  WHEN 'paramKey' THEN 'cfg-' || (d.n % ${PARAMETER_KEYS})
  WHEN 'ip' THEN d.ip
  WHEN 'extension' THEN CAST(${EXTENSION_BASE} + d.n AS TEXT)
  WHEN 'authUser' THEN 'u' || (${EXTENSION_BASE} + d.n)
  WHEN 'sipUri' THEN 'sip:' || (${EXTENSION_BASE} + d.n) || '@${SIP_DOMAIN}'
  WHEN 'callerName' THEN 'Ext ' || (${EXTENSION_BASE} + d.n)
END`;

/** What a generation took. */
export interface InventoryGeneration {
  devices: number;
  parameters: number;
  devicesMs: number;
  parametersMs: number;
  indexesMs: number;
  totalMs: number;
  bytes: number;
  version: number;
}

/** Where the cached database of a size lives. */
export function inventoryCacheDir(root: string, devices: number): string {
  return join(root, `inventory-${devices}x${PARAMETERS_PER_DEVICE}-v${INVENTORY_DB_VERSION}`);
}

const META_FILE = 'generation.json';

/** The generation record of a complete cached database, or null when there is none. */
export function cachedInventory(dir: string): InventoryGeneration | null {
  const meta = join(dir, META_FILE);
  if (!existsSync(meta) || !existsSync(join(dir, SQLITE_FILE_NAME))) return null;
  try {
    return JSON.parse(readFileSync(meta, 'utf8')) as InventoryGeneration;
  } catch {
    return null;
  }
}

/** Size in bytes of the database in `dir` (main file + WAL). */
export function databaseBytes(dir: string): number {
  let total = 0;
  for (const f of [SQLITE_FILE_NAME, `${SQLITE_FILE_NAME}-wal`]) {
    const p = join(dir, f);
    if (existsSync(p)) total += statSync(p).size;
  }
  return total;
}

/**
 * Generates the database of `devices` devices into `dir` (replacing what is there) and records the
 * timing in `dir/generation.json` last, so that an interrupted run is never taken for a cache.
 * `progress` is called after each batch of devices. Returns the timing.
 */
export function generateInventory(dir: string, devices: number, progress?: (done: number, total: number) => void): InventoryGeneration {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tmpFile = join(dir, `${SQLITE_FILE_NAME}.partial`);
  const t0 = performance.now();
  // the store's opener: the page size a new store file gets, so that the benchmark reads what the ACS writes
  const db = openWalDatabase(tmpFile);
  let devicesMs: number;
  let parametersMs: number;
  let indexesMs: number;
  try {
    migrate(db);
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    db.pragma('temp_store = FILE');
    db.pragma('threads = 2');
    const indexes = db
      .prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('devices', 'parameters') AND sql IS NOT NULL")
      .all();
    for (const ix of indexes) db.exec(`DROP INDEX ${ix.name}`);

    db.exec(`CREATE TEMP TABLE pnames (name TEXT PRIMARY KEY, type TEXT, writable INTEGER, factory TEXT, kind TEXT) WITHOUT ROWID`);
    const addName = db.prepare('INSERT INTO pnames VALUES (?, ?, ?, ?, ?)');
    for (const p of inventoryParameters()) addName.run(p.name, p.type, p.writable ? 1 : 0, p.factory, p.kind);
    db.exec(`CREATE TEMP TABLE versions (i INTEGER PRIMARY KEY, v TEXT)`);
    const addVersion = db.prepare('INSERT INTO versions VALUES (?, ?)');
    SOFTWARE_VERSIONS.forEach((v, i) => addVersion.run(i, v));

    // The device rows. `gen` gives each device number its serial, class, version and address.
    const genSql = `SELECT n,
        '${OUI}' || printf('%06X', n) AS serial,
        CASE n % ${INVENTORY_MODELS.length} ${INVENTORY_MODELS.map((m, i) => `WHEN ${i} THEN '${m}'`).join(' ')} END AS pc,
        (SELECT v FROM versions WHERE i = n % ${SOFTWARE_VERSIONS.length}) AS sw,
        '10.' || ((n >> 16) & 255) || '.' || ((n >> 8) & 255) || '.' || (n & 255) AS ip
      FROM seq`;
    const td = performance.now();
    db.exec(`CREATE TEMP TABLE gen (id TEXT PRIMARY KEY, n INTEGER, serial TEXT, pc TEXT, sw TEXT, ip TEXT) WITHOUT ROWID`);
    db.prepare(
      `WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
       INSERT INTO gen SELECT '${OUI}-' || g.pc || '-' || g.serial, g.n, g.serial, g.pc, g.sw, g.ip FROM (${genSql}) g`,
    ).run(devices);
    db.exec(`INSERT INTO devices (id, manufacturer, oui, product_class, serial_number, first_contact, last_contact, last_boot,
        source_address, software_version, hardware_version, connection_request_url, cwmp_version, tags)
      SELECT id, 'Grandstream', '${OUI}', pc, serial,
        '${STAMP}', strftime('%Y-%m-%dT%H:%M:%fZ', '2025-06-01', '+' || (n % ${SECONDS_PER_DAY}) || ' seconds'), '${STAMP}',
        ip, sw, 'V1.2A', 'http://' || ip || ':7547/' || lower(serial), '1.2', '[]'
      FROM gen ORDER BY id`);
    devicesMs = performance.now() - td;

    const tp = performance.now();
    const batch = db.prepare<[string, number]>(
      `INSERT INTO parameters (device_id, name, value, type, writable, notification, access_list, object, updated_at)
       SELECT d.id, p.name, ${VALUE_SQL}, p.type, p.writable, NULL, NULL, 0, '${STAMP}'
       FROM (SELECT * FROM gen WHERE id > ? ORDER BY id LIMIT ?) d CROSS JOIN pnames p
       ORDER BY d.id, p.name`,
    );
    const lastOf = db.prepare<[string, number], { id: string }>('SELECT id FROM (SELECT id FROM gen WHERE id > ? ORDER BY id LIMIT ?) ORDER BY id DESC LIMIT 1');
    let after = '';
    let done = 0;
    while (done < devices) {
      const n = Math.min(DEVICES_PER_STATEMENT, devices - done);
      const last = lastOf.get(after, n)!.id;
      db.transaction(() => batch.run(after, n))();
      after = last;
      done += n;
      progress?.(done, devices);
    }
    parametersMs = performance.now() - tp;

    const ti = performance.now();
    for (const ix of indexes) db.exec(ix.sql);
    indexesMs = performance.now() - ti;
    db.exec('DROP TABLE gen');
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
  renameSync(tmpFile, join(dir, SQLITE_FILE_NAME));
  const gen: InventoryGeneration = {
    devices,
    parameters: devices * PARAMETERS_PER_DEVICE,
    devicesMs: Math.round(devicesMs),
    parametersMs: Math.round(parametersMs),
    indexesMs: Math.round(indexesMs),
    totalMs: Math.round(performance.now() - t0),
    bytes: databaseBytes(dir),
    version: INVENTORY_DB_VERSION,
  };
  writeFileSync(join(dir, META_FILE), `${JSON.stringify(gen, null, 2)}\n`);
  return gen;
}
