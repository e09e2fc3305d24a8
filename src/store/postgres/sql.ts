/**
 * Small helpers shared by the PostgreSQL backend: placeholder building, value conversion
 * between the store's JSON-friendly types and PostgreSQL columns, and error classification.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { StoreError, type IsoTimestamp, type JsonValue } from '../types.ts';

/** Collects bound values and hands out their `$n` placeholders, so SQL text never holds user data. */
export class Params {
  readonly values: unknown[] = [];
  /** Adds a value; returns its placeholder (`$3`), optionally with a cast (`$3::text[]`). */
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

// Timestamps --------------------------------------------------------------------------------------

/** timestamptz as PostgreSQL prints it with DateStyle ISO: `2025-01-31 12:00:00.123456+00`, offset optional minutes/seconds. */
const PG_TIMESTAMPTZ = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

/**
 * Parses PostgreSQL's text form of a timestamptz into the store's ISO string with milliseconds
 * (microseconds are truncated). Values it cannot represent (infinity, BC dates) are returned as printed.
 */
export function parseTimestamptz(text: string): IsoTimestamp {
  const m = PG_TIMESTAMPTZ.exec(text);
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os] = m;
  const ms = frac ? Number(frac.padEnd(6, '0').slice(0, 3)) : 0;
  const offsetSeconds = (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0)) * (sign === '-' ? -1 : 1);
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms) - offsetSeconds * 1000;
  return new Date(utc).toISOString();
}

/** OID of `timestamptz` in every PostgreSQL. */
const TIMESTAMPTZ_OID = 1184;

/** Type parsers of the pool: timestamptz becomes an ISO string instead of a JS Date; the rest as pg does. */
export const TYPE_PARSERS: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === TIMESTAMPTZ_OID && (format === undefined || format === 'text')) return parseTimestamptz;
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

// JSON ----------------------------------------------------------------------------------------------

/**
 * A JSON value as text for a `json` column (pg would turn a JS array into a PostgreSQL array).
 * `undefined` and `null` become SQL NULL, as in the SQLite backend.
 */
export function jsonParam(value: JsonValue | undefined | null): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

// Ids -----------------------------------------------------------------------------------------------

/** Parses a store-generated numeric id given as text; non-numeric ids simply match nothing. */
export function numericId(id: string): string | null {
  return /^[1-9][0-9]{0,15}$/.test(id) ? id : null;
}

// Statement names -------------------------------------------------------------------------------------

const statementNames = new Map<string, string>();
/**
 * Statement texts vary with the fields a write carries, so their number is bounded in practice but
 * not by construction; past this many, new texts run unnamed (parsed each time) instead of growing
 * every pooled connection's prepared-statement cache for ever.
 */
const MAX_NAMED_STATEMENTS = 2000;

/**
 * A stable name for a statement text, so that each pooled connection parses and plans it once
 * (a named prepared statement) and reuses it on later calls; undefined = run it unnamed.
 */
export function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= MAX_NAMED_STATEMENTS) return undefined;
    name = `sb_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

// Errors ----------------------------------------------------------------------------------------------

/** SQLSTATE classes and codes we translate (see PostgreSQL's "Errcodes" appendix). */
const SQLSTATE = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  programLimitExceeded: '54000',
  tooManyConnections: '53300',
  dataExceptionClass: '22',
  connectionExceptionClass: '08',
  operatorInterventionClass: '57',
} as const;

/** Node socket errors that mean the server is not reachable. */
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for errors after which retrying the whole transaction can succeed. */
export function isRetryableTransactionError(err: unknown): boolean {
  const code = sqlState(err);
  return code === SQLSTATE.serializationFailure || code === SQLSTATE.deadlockDetected;
}

/**
 * Translates a pg/network error into the store's typed errors: returns a StoreError for expected
 * failures (unreachable server, duplicate key, bad value) and the original error otherwise (a bug).
 */
export function toStoreError(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const code = sqlState(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined) {
    if (code === SQLSTATE.uniqueViolation) return new StoreError('conflict', message);
    if (code.startsWith(SQLSTATE.dataExceptionClass) || code === SQLSTATE.programLimitExceeded) return new StoreError('invalid', message);
    if (
      code.startsWith(SQLSTATE.connectionExceptionClass) ||
      code.startsWith(SQLSTATE.operatorInterventionClass) ||
      code === SQLSTATE.tooManyConnections ||
      NETWORK_ERROR_CODES.has(code)
    ) {
      return new StoreError('unavailable', `database unavailable: ${message}`);
    }
  }
  // pg reports a dropped connection or a pool timeout with plain Errors.
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed/i.test(message)) {
    return new StoreError('unavailable', `database unavailable: ${message}`);
  }
  return err;
}

/** Validates a schema name (it goes into SQL and connection options unquoted). */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StoreError('invalid', `schema name must match [a-z_][a-z0-9_]{0,62}, got ${JSON.stringify(schema)}`);
  }
  return schema;
}

/** unique_violation (on the schema catalog) and duplicate_schema: the schema was just created by another. */
const SCHEMA_EXISTS_CODES = new Set(['23505', '42P06']);

/**
 * `CREATE SCHEMA IF NOT EXISTS` for a checked schema name. Instances (or the core, provisioning and
 * console parts of one instance, which migrate under locks of their own) creating it at once race
 * in the catalog: losing that race is fine.
 */
export async function createSchemaIfMissing(queryable: Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>, schema: string): Promise<void> {
  await queryable.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`).catch((err: unknown) => {
    if (!SCHEMA_EXISTS_CODES.has((err as { code?: string }).code ?? '')) throw err;
  });
}

/** The URL with its password replaced, for names and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/** How often a transaction is tried when it keeps hitting deadlocks or serialization failures. */
export const MAX_TRANSACTION_ATTEMPTS = 3;

/** The error a caller sees once retrying is over: `conflict` for contention, else `toStoreError`. */
export function finalTransactionError(err: unknown): unknown {
  if (isRetryableTransactionError(err)) return new StoreError('conflict', `concurrent writes kept conflicting: ${(err as Error).message}`);
  return toStoreError(err);
}

/**
 * Runs `fn` again after a deadlock or serialization failure, at most MAX_TRANSACTION_ATTEMPTS times
 * in all (a single-statement write, or a whole transaction).
 * @throws `finalTransactionError` of the last failure.
 */
export async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= MAX_TRANSACTION_ATTEMPTS || !isRetryableTransactionError(err)) throw finalTransactionError(err);
    }
  }
}

/**
 * Runs `fn` in a transaction on one connection of `pool`: commits when it resolves, rolls back when
 * it throws, and runs it again (`withRetries`) after a deadlock or serialization failure. A
 * connection whose ROLLBACK fails is dropped from the pool.
 * @returns what `fn` resolved.
 * @throws StoreError (`unavailable`, `conflict`, ...) for expected failures, else `fn`'s error.
 */
export function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withRetries(async () => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw toStoreError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable: make the pool drop it instead of reusing it.
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      throw err;
    } finally {
      client.release(broken);
    }
  });
}
