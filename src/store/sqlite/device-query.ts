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

function parameterCondition(c: ParameterCondition, params: unknown[]): string {
  if (typeof c.name !== 'string' || c.name === '') throw new StoreError('invalid', 'parameter condition needs a name');
  params.push(c.name);
  const head = 'EXISTS (SELECT 1 FROM parameters p WHERE p.device_id = d.id AND p.name = ? AND ';
  switch (c.op) {
    case 'eq':
      params.push(String(c.value));
      return `${head}p.value = ?)`;
    case 'ne':
      params.push(String(c.value));
      return `${head}p.value IS NOT NULL AND p.value <> ?)`;
    case 'prefix': {
      const v = String(c.value);
      params.push(v, v);
      return `${head}substr(p.value, 1, length(?)) = ?)`;
    }
    case 'lt':
    case 'gt':
    case 'lte':
    case 'gte':
      if (typeof c.value === 'number') {
        if (!Number.isFinite(c.value)) throw new StoreError('invalid', 'comparison value must be finite');
        params.push(c.value);
        return `${head}sb_num(p.value) ${SQL_OPS[c.op]} ?)`;
      }
      params.push(c.value);
      return `${head}p.value ${SQL_OPS[c.op]} ?)`;
    default:
      throw new StoreError('invalid', `unknown parameter operator ${String((c as { op: unknown }).op)}`);
  }
}

/**
 * Builds the SQL for a device query.
 * @throws StoreError `invalid` for unknown sort fields/operators, bad limits or a malformed cursor.
 */
export function buildDeviceQuery(query: DeviceQuery): BuiltDeviceQuery {
  const where: string[] = [];
  const params: unknown[] = [];
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
  for (const c of query.parameters ?? []) where.push(parameterCondition(c, params));
  if (query.lastContactAfter !== undefined) {
    where.push('d.last_contact >= ?');
    params.push(query.lastContactAfter);
  }
  if (query.lastContactBefore !== undefined) {
    where.push('d.last_contact < ?');
    params.push(query.lastContactBefore);
  }

  const countSql = `SELECT COUNT(*) AS n FROM devices d ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;
  const countParams = [...params];

  const sort = query.sort ?? { field: 'id', direction: 'asc' };
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
      pageWhere.push(`d.id ${cmp} ?`);
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
  const order = sort.field === 'id' ? `d.id ${dir}` : `(${col} IS NULL), ${col} ${dir}, d.id ASC`;
  const pageSql = `SELECT d.* FROM devices d ${pageWhere.length ? `WHERE ${pageWhere.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ? OFFSET ?`;
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
