/**
 * Translates a `DeviceQuery` into PostgreSQL SQL (one statement for the page, one for the count),
 * with the same meaning as the SQLite translation (src/store/sqlite/device-query.ts): every user
 * value is a bound parameter; only fixed column names are spliced into the text.
 */
import { decodeCursor, encodeCursor, normaliseTags, pageLimit, pageOffset } from '../cursor.ts';
import { StoreError, type Device, type DeviceQuery, type DeviceSortField, type ParameterCondition } from '../types.ts';
import { VALUE_INDEX_CHARS } from './migrations.ts';
import { DEVICE_COLUMNS } from './columns.ts';
import { isoParam, MAX_CHAR } from '../params.ts';
import { Params } from './sql.ts';

const SORT_COLUMNS: Record<DeviceSortField, string> = {
  id: 'd.id',
  lastContact: 'd.last_contact',
  firstContact: 'd.first_contact',
  productClass: 'd.product_class',
  softwareVersion: 'd.software_version',
  serialNumber: 'd.serial_number',
};

/** Sort fields whose column is a timestamptz (their cursor values must be timestamps). */
const TIMESTAMP_SORT_FIELDS: ReadonlySet<DeviceSortField> = new Set(['lastContact', 'firstContact']);

export interface BuiltPgDeviceQuery {
  pageSql: string;
  pageParams: unknown[];
  countSql: string;
  countParams: unknown[];
  limit: number;
  /** The cursor that continues after this device. */
  cursorOf(device: Device): string;
}

const SQL_OPS = { lt: '<', gt: '>', lte: '<=', gte: '>=' } as const;

/** The indexed part of a value: the expression of the parameters_name_value index. */
const INDEXED_VALUE = `left(p.value, ${VALUE_INDEX_CHARS})`;

function parameterCondition(c: ParameterCondition, p: Params): string {
  if (typeof c.name !== 'string' || c.name === '') throw new StoreError('invalid', 'parameter condition needs a name');
  const head = `EXISTS (SELECT 1 FROM parameters p WHERE p.device_id = d.id AND p.name = ${p.add(c.name)} AND `;
  switch (c.op) {
    case 'eq': {
      // The left() term lets the planner use the (name, left(value, N)) index; the exact test follows.
      const v = p.add(String(c.value), 'text');
      return `${head}${INDEXED_VALUE} = left(${v}, ${VALUE_INDEX_CHARS}) AND p.value = ${v})`;
    }
    case 'ne':
      return `${head}p.value IS NOT NULL AND p.value <> ${p.add(String(c.value), 'text')})`;
    case 'prefix': {
      // Every value starting with v has its indexed part in [left(v, N), left(v, N) || MAX_CHAR].
      const v = p.add(String(c.value), 'text');
      return `${head}${INDEXED_VALUE} >= left(${v}, ${VALUE_INDEX_CHARS}) AND ${INDEXED_VALUE} <= left(${v}, ${VALUE_INDEX_CHARS}) || ${p.add(MAX_CHAR, 'text')} AND starts_with(p.value, ${v}))`;
    }
    case 'lt':
    case 'gt':
    case 'lte':
    case 'gte': {
      const op = SQL_OPS[c.op];
      if (typeof c.value === 'number') {
        if (!Number.isFinite(c.value)) throw new StoreError('invalid', 'comparison value must be finite');
        return `${head}sb_num(p.value) ${op} ${p.add(c.value, 'double precision')})`;
      }
      if (typeof c.value !== 'string') throw new StoreError('invalid', 'comparison value must be a number or a string');
      // Truncation keeps order loosely (a < b implies left(a) <= left(b)), so the index bound is
      // inclusive and the exact comparison follows.
      const v = p.add(c.value, 'text');
      const loose = op === '<' || op === '<=' ? '<=' : '>=';
      return `${head}${INDEXED_VALUE} ${loose} left(${v}, ${VALUE_INDEX_CHARS}) AND p.value ${op} ${v})`;
    }
    default:
      throw new StoreError('invalid', `unknown parameter operator ${String((c as { op: unknown }).op)}`);
  }
}

/**
 * Builds the SQL for a device query.
 * @throws StoreError `invalid` for unknown sort fields/operators, bad limits, bad timestamps or a malformed cursor.
 */
export function buildPgDeviceQuery(query: DeviceQuery): BuiltPgDeviceQuery {
  const where: string[] = [];
  const p = new Params();
  if (query.ids !== undefined) {
    if (query.ids.length === 0) where.push('false');
    else where.push(`d.id = ANY(${p.add(query.ids, 'text[]')})`);
  }
  if (query.idContains !== undefined && query.idContains !== '') {
    where.push(`strpos(lower(d.id), lower(${p.add(query.idContains, 'text')})) > 0`);
  }
  const eq = (col: string, v: string | undefined) => {
    if (v !== undefined) where.push(`${col} = ${p.add(v, 'text')}`);
  };
  eq('d.oui', query.oui);
  eq('d.manufacturer', query.manufacturer);
  eq('d.product_class', query.productClass);
  eq('d.software_version', query.softwareVersion);
  const tags = normaliseTags(query.tags ?? []);
  if (tags.length > 0) where.push(`d.tags @> ${p.add(tags, 'text[]')}`);
  for (const c of query.parameters ?? []) where.push(parameterCondition(c, p));
  if (query.lastContactAfter !== undefined) {
    where.push(`d.last_contact >= ${p.add(isoParam(query.lastContactAfter, 'lastContactAfter'), 'timestamptz')}`);
  }
  if (query.lastContactBefore !== undefined) {
    where.push(`d.last_contact < ${p.add(isoParam(query.lastContactBefore, 'lastContactBefore'), 'timestamptz')}`);
  }

  const countSql = `SELECT count(*)::bigint AS n FROM devices d ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;
  const countParams = [...p.values];

  const sort = query.sort ?? { field: 'id', direction: 'asc' };
  const col = SORT_COLUMNS[sort.field];
  if (!col) throw new StoreError('invalid', `unknown sort field ${String(sort.field)}`);
  if (sort.direction !== 'asc' && sort.direction !== 'desc') throw new StoreError('invalid', 'sort direction must be asc or desc');
  const dir = sort.direction === 'asc' ? 'ASC' : 'DESC';
  const limit = pageLimit(query.limit);
  let offset = pageOffset(query.offset);

  const pageWhere = [...where];
  if (query.cursor !== undefined) {
    offset = 0;
    const c = decodeCursor(query.cursor, ['v', 'id']);
    if (typeof c.id !== 'string') throw new StoreError('invalid', 'malformed cursor');
    const cmp = sort.direction === 'asc' ? '>' : '<';
    if (sort.field === 'id') {
      pageWhere.push(`d.id ${cmp} ${p.add(c.id, 'text')}`);
    } else if (c.v === null) {
      // nulls come last: after a null key only more nulls, by id
      pageWhere.push(`(${col} IS NULL AND d.id > ${p.add(c.id, 'text')})`);
    } else {
      const isTime = TIMESTAMP_SORT_FIELDS.has(sort.field);
      if (typeof c.v !== 'string') throw new StoreError('invalid', 'malformed cursor');
      const v = p.add(isTime ? isoParam(c.v, 'cursor') : c.v, isTime ? 'timestamptz' : 'text');
      pageWhere.push(`((${col} ${cmp} ${v}) OR (${col} = ${v} AND d.id > ${p.add(c.id, 'text')}) OR ${col} IS NULL)`);
    }
  }
  const order = sort.field === 'id' ? `d.id ${dir}` : `${col} ${dir} NULLS LAST, d.id ASC`;
  const pageSql = `SELECT ${DEVICE_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ')} FROM devices d ${pageWhere.length ? `WHERE ${pageWhere.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ${p.add(limit + 1, 'int')} OFFSET ${p.add(offset, 'int')}`;

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
    pageParams: p.values,
    countSql,
    countParams,
    limit,
    cursorOf: (device) => encodeCursor({ v: keyOf(device), id: device.id }),
  };
}
