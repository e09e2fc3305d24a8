/**
 * NAT bindings shared by the ACS instances of one PostgreSQL database (issue #8).
 *
 * A device keeps its NAT binding open towards ONE instance's STUN socket (the one its Binding
 * Requests reach). Every instance must be able to wake it, so the binding is recorded in the shared
 * table `nat_bindings` together with `holder`: the cluster origin of the instance whose STUN socket
 * received the requests. An instance asked to wake the device reads the row (`get`) and has the
 * holder send the datagram from its socket (cluster-relay.ts); see that file for why.
 *
 * Writes never go backwards: an upsert only replaces a row whose `refreshed_at` is not newer, so a
 * late batch of refreshes from an instance the device has left cannot take the binding back.
 * The table sits beside the core tables (the core store's schema), versioned in
 * `nat_schema_migrations` and migrated once across instances (src/store/postgres/part-migrations.ts).
 */
import type pg from 'pg';
import { migratePart, type PartMigration } from '../../store/postgres/part-migrations.ts';
import type { NatBindingRecord, NatBindingTable } from './binding-table.ts';

/** Never edit a shipped migration: add one. */
const MIGRATIONS: readonly PartMigration[] = [
  {
    version: 1,
    description: 'NAT bindings learned by the STUN servers of the ACS instances',
    sql: `
      CREATE TABLE {schema}.nat_bindings (
        device_id text COLLATE "C" PRIMARY KEY,
        username text NOT NULL,
        address text NOT NULL,
        port integer NOT NULL,
        family text NOT NULL,
        first_seen_at timestamptz NOT NULL,
        refreshed_at timestamptz NOT NULL,
        changed_at timestamptz NOT NULL,
        integrity boolean NOT NULL,
        connection_request_binding boolean NOT NULL,
        holder text
      );
    `,
  },
];

interface Row {
  device_id: string;
  username: string;
  address: string;
  port: number;
  family: string;
  first_seen_at: Date;
  refreshed_at: Date;
  changed_at: Date;
  integrity: boolean;
  connection_request_binding: boolean;
  holder: string | null;
}

function fromRow(r: Row): NatBindingRecord {
  return {
    deviceId: r.device_id,
    username: r.username,
    address: r.address,
    port: r.port,
    family: r.family === 'IPv6' ? 'IPv6' : 'IPv4',
    firstSeenAt: r.first_seen_at.toISOString(),
    refreshedAt: r.refreshed_at.toISOString(),
    changedAt: r.changed_at.toISOString(),
    integrity: r.integrity,
    connectionRequestBinding: r.connection_request_binding,
    ...(r.holder !== null ? { holder: r.holder } : {}),
  };
}

export interface PgNatBindingTableOptions {
  /** The cluster link's pool (not closed by `close()`). */
  pool: pg.Pool;
  /** The core store's schema. */
  schema: string;
  /** This instance's cluster origin: written as `holder` of the bindings it saves. */
  instance: string;
}

/** Bindings in the shared `nat_bindings` table. Create it with `openPgNatBindingTable`. */
export class PgNatBindingTable implements NatBindingTable {
  readonly name: string;
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly instance: string;

  constructor(options: PgNatBindingTableOptions) {
    this.pool = options.pool;
    this.table = `"${options.schema}".nat_bindings`;
    this.instance = options.instance;
    this.name = `postgres:${options.schema}.nat_bindings`;
  }

  async load(): Promise<NatBindingRecord[]> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM ${this.table}`);
    return rows.map(fromRow);
  }

  /** @returns the device's binding as the cluster knows it (any holder), or undefined. */
  async get(deviceId: string): Promise<NatBindingRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM ${this.table} WHERE device_id = $1`, [deviceId]);
    return rows.length > 0 ? fromRow(rows[0]) : undefined;
  }

  /** Saves bindings this instance's STUN socket received (holder = this instance), newest wins. */
  async save(records: readonly NatBindingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const col = <K extends keyof NatBindingRecord>(k: K) => records.map((r) => r[k]);
    // One statement for the batch (unnest of parallel arrays), one round trip however many rows.
    await this.pool.query(
      `INSERT INTO ${this.table} AS b (device_id, username, address, port, family, first_seen_at, refreshed_at, changed_at, integrity, connection_request_binding, holder)
       SELECT u.*, $11::text FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::boolean[], $10::boolean[]) AS u
       ON CONFLICT (device_id) DO UPDATE SET username = excluded.username, address = excluded.address, port = excluded.port,
         family = excluded.family, first_seen_at = LEAST(b.first_seen_at, excluded.first_seen_at), refreshed_at = excluded.refreshed_at,
         changed_at = excluded.changed_at, integrity = excluded.integrity, connection_request_binding = excluded.connection_request_binding, holder = excluded.holder
       WHERE b.refreshed_at <= excluded.refreshed_at`,
      [
        col('deviceId'),
        col('username'),
        col('address'),
        col('port'),
        col('family'),
        col('firstSeenAt'),
        col('refreshedAt'),
        col('changedAt'),
        col('integrity'),
        col('connectionRequestBinding'),
        this.instance,
      ],
    );
  }

  async delete(deviceId: string): Promise<boolean> {
    return ((await this.pool.query(`DELETE FROM ${this.table} WHERE device_id = $1`, [deviceId])).rowCount ?? 0) > 0;
  }

  /** The pool belongs to the cluster link: nothing to close here. */
  async close(): Promise<void> {}
}

/**
 * Migrates (once across instances) and opens the shared binding table.
 * @returns the table.
 * @throws the pg error when the database cannot be reached, Error for a newer nat schema.
 */
export async function openPgNatBindingTable(options: PgNatBindingTableOptions): Promise<PgNatBindingTable> {
  await migratePart(options.pool, options.schema, 'nat', MIGRATIONS);
  return new PgNatBindingTable(options);
}
