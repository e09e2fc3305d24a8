/**
 * Translates a `DeviceQuery` into SQLite SQL (one statement for the page, one for the count).
 * Every user value goes in as a bound parameter; only column names from fixed tables are spliced.
 */
import { decodeCursor, encodeCursor, pageLimit, pageOffset, normaliseTags } from '../cursor.ts';
import { StoreError, type Device, type DeviceQuery, type DeviceSortField, type ParameterCondition } from '../types.ts';

const SORT_COLUMNS: Record<DeviceSortField, string> = {
  id: 'd.id',
  lastContact: 'd.last_contact',
  firstContact: 'd.first_contact',
  productClass: 'd.product_class',
  softwareVersion: 'd.software_version',
  serialNumber: 'd.serial_number',
};

/** A number for numeric text (what `sb_num` returns to SQL), else null. */
export function numericOrNull(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v !== 'string') return null;
  const t = v.trim();
  if (t === '' || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

export interface BuiltDeviceQuery {
  pageSql: string;
  pageParams: unknown[];
  countSql: string;
  countParams: unknown[];
  limit: number;
  /** The cursor that continues after this device. */
  cursorOf(device: Device): string;
}

const SQL_OPS = { lt: '<', gt: '>', lte: '<=', gte: '>=' } as const;

/**
 * The test of one parameter condition on `p.value` (a row of `parameters` aliased `p`), with its
 * bound values pushed to `params` (after the name, which the caller binds first).
 */
function valueTest(c: ParameterCondition, params: unknown[], alias = 'p'): string {
  switch (c.op) {
    case 'eq':
      params.push(String(c.value));
      return `${alias}.value = ?`;
    case 'ne':
      params.push(String(c.value));
      return `${alias}.value IS NOT NULL AND ${alias}.value <> ?`;
    case 'prefix': {
      const v = String(c.value);
      params.push(v, v);
      return `substr(${alias}.value, 1, length(?)) = ?`;
    }
    case 'lt':
    case 'gt':
    case 'lte':
    case 'gte':
      if (typeof c.value === 'number') {
        if (!Number.isFinite(c.value)) throw new StoreError('invalid', 'comparison value must be finite');
        params.push(c.value);
        return `sb_num(${alias}.value) ${SQL_OPS[c.op]} ?`;
      }
      params.push(c.value);
      return `${alias}.value ${SQL_OPS[c.op]} ?`;
    default:
      throw new StoreError('invalid', `unknown parameter operator ${String((c as { op: unknown }).op)}`);
  }
}

function checkCondition(c: ParameterCondition): void {
  if (typeof c.name !== 'string' || c.name === '') throw new StoreError('invalid', 'parameter condition needs a name');
}

/**
 * A parameter condition as a filter on devices `d`, checked per device:
 * `EXISTS (SELECT 1 FROM parameters p WHERE p.device_id = d.id AND p.name = ? AND <test>)`.
 * For the condition that drives the query see `buildDeviceQuery`.
 */
function parameterCondition(c: ParameterCondition, params: unknown[]): string {
  checkCondition(c);
  params.push(c.name);
  return `EXISTS (SELECT 1 FROM parameters p WHERE p.device_id = d.id AND p.name = ? AND ${valueTest(c, params)})`;
}

/** How the SQLite store wants a device query built (it probes the data to decide). */
export interface DeviceQueryPlan {
  /**
   * Index in `query.parameters` of an `eq` condition that drives the query through the
   * (name, value) index (see `buildDeviceQuery`). Absent: every condition is checked per device.
   */
  driver?: number;
}

/** Operators whose condition can drive a query through the (name, value) index. */
export function canDrive(c: ParameterCondition): boolean {
  return c.op === 'eq' && typeof c.name === 'string' && c.name !== '';
}

/**
 * SQL counting the rows of a condition, stopping at `limit` (the probe that tells which of several
 * `eq` conditions is the most selective); params: name, value, limit.
 */
export const DRIVER_PROBE_SQL = 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM parameters WHERE name = ? AND value = ? LIMIT ?)';

/**
 * Builds the SQL for a device query.
 *
 * The driving condition (`plan.driver`, an `eq`) reads the (name, value) index, whose entries for
 * one name and value come in device id order (the index carries the table key, device_id):
 * - sorted by id, the query joins from that index: `FROM parameters pd JOIN devices d` ordered by
 *   `pd.device_id`, so a page costs a page of index entries whether 1 or 900,000 devices match
 *   (per-device EXISTS checks in id order cost seconds when the matches are rare or bunched
 *   late in id order: a search by SIP user name among a million devices);
 * - sorted otherwise, the matches are listed first (`d.id IN (SELECT ...)`), then sorted.
 * @throws StoreError `invalid` for unknown sort fields/operators, bad limits or a malformed cursor.
 */
export function buildDeviceQuery(query: DeviceQuery, plan: DeviceQueryPlan = {}): BuiltDeviceQuery {
  const where: string[] = [];
  const params: unknown[] = [];
  const sort = query.sort ?? { field: 'id', direction: 'asc' };
  const driver = plan.driver !== undefined ? query.parameters?.[plan.driver] : undefined;
  if (driver !== undefined && !canDrive(driver)) throw new StoreError('invalid', 'only an eq parameter condition can drive a device query');
  const joined = driver !== undefined && sort.field === 'id';
  /** The devices table, joined from the driving condition's index entries when `joined`. */
  const from = joined ? 'parameters pd JOIN devices d ON d.id = pd.device_id' : 'devices d';
  /** The id column to page and order on (the index's copy when joined, so the index order serves). */
  const idCol = joined ? 'pd.device_id' : 'd.id';
  if (query.ids !== undefined) {
    if (query.ids.length === 0) where.push('0');
    else {
      where.push(`d.id IN (${query.ids.map(() => '?').join(', ')})`);
      params.push(...query.ids);
    }
  }
  if (query.idContains !== undefined && query.idContains !== '') {
    where.push('instr(lower(d.id), lower(?)) > 0');
    params.push(query.idContains);
  }
  const eq = (col: string, v: string | undefined) => {
    if (v !== undefined) {
      where.push(`${col} = ?`);
      params.push(v);
    }
  };
  eq('d.oui', query.oui);
  eq('d.manufacturer', query.manufacturer);
  eq('d.product_class', query.productClass);
  eq('d.software_version', query.softwareVersion);
  for (const tag of normaliseTags(query.tags ?? [])) {
    where.push('EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag = ?)');
    params.push(tag);
  }
  (query.parameters ?? []).forEach((c, i) => {
    if (i !== plan.driver) {
      where.push(parameterCondition(c, params));
      return;
    }
    params.push(c.name);
    const test = valueTest(c, params, joined ? 'pd' : 'p');
    where.push(joined ? `pd.name = ? AND ${test}` : `d.id IN (SELECT p.device_id FROM parameters p WHERE p.name = ? AND ${test})`);
  });
  if (query.lastContactAfter !== undefined) {
    where.push('d.last_contact >= ?');
    params.push(query.lastContactAfter);
  }
  if (query.lastContactBefore !== undefined) {
    where.push('d.last_contact < ?');
    params.push(query.lastContactBefore);
  }

  let countSql = `SELECT COUNT(*) AS n FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;
  let countParams = [...params];
  const only = query.parameters?.length === 1 && where.length === 1 ? query.parameters[0] : null;
  if (only) {
    // A lone parameter condition counts index entries: (device_id, name) is the key of
    // `parameters`, so each matching row is one device (a session commit writes the device before
    // its parameters and deleteDevice removes both), with no lookup of the device per match
    // (100,000 matches of a million devices: ~4 ms instead of ~60 ms).
    countParams = [only.name];
    countSql = `SELECT COUNT(*) AS n FROM parameters p WHERE p.name = ? AND ${valueTest(only, countParams)}`;
  }

  const col = SORT_COLUMNS[sort.field];
  if (!col) throw new StoreError('invalid', `unknown sort field ${String(sort.field)}`);
  if (sort.direction !== 'asc' && sort.direction !== 'desc') throw new StoreError('invalid', 'sort direction must be asc or desc');
  const dir = sort.direction === 'asc' ? 'ASC' : 'DESC';
  const limit = pageLimit(query.limit);
  let offset = pageOffset(query.offset);

  const pageWhere = [...where];
  const pageParams = [...params];
  if (query.cursor !== undefined) {
    offset = 0;
    const c = decodeCursor(query.cursor, ['v', 'id']);
    const cmp = sort.direction === 'asc' ? '>' : '<';
    if (sort.field === 'id') {
      pageWhere.push(`${idCol} ${cmp} ?`);
      pageParams.push(c.id);
    } else if (c.v === null) {
      // nulls come last: after a null key only more nulls, by id
      pageWhere.push(`(${col} IS NULL AND d.id > ?)`);
      pageParams.push(c.id);
    } else {
      pageWhere.push(`((${col} ${cmp} ?) OR (${col} = ? AND d.id > ?) OR ${col} IS NULL)`);
      pageParams.push(c.v, c.v, c.id);
    }
  }
  const order = sort.field === 'id' ? `${idCol} ${dir}` : `(${col} IS NULL), ${col} ${dir}, d.id ASC`;
  const pageSql = `SELECT d.* FROM ${from} ${pageWhere.length ? `WHERE ${pageWhere.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ? OFFSET ?`;
  pageParams.push(limit + 1, offset);

  const keyOf = (device: Device): string | null => {
    switch (sort.field) {
      case 'id':
        return device.id;
      case 'lastContact':
        return device.lastContact;
      case 'firstContact':
        return device.firstContact;
      case 'productClass':
        return device.productClass;
      case 'softwareVersion':
        return device.softwareVersion;
      case 'serialNumber':
        return device.serialNumber;
    }
  };
  return {
    pageSql,
    pageParams,
    countSql,
    countParams,
    limit,
    cursorOf: (device) => encodeCursor({ v: keyOf(device), id: device.id }),
  };
}
