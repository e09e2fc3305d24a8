/**
 * Provisioning as a unit the ACS composition root starts and stops: the provisioning store, the
 * file library, the service, and how it binds to a running ACS.
 *
 * Two layouts:
 * - SQLite (default, one host): the tables in the core store's SQLite file, file content in
 *   `<dataDir>/files` — `openProvisioning` (synchronous) or `startProvisioning`.
 * - PostgreSQL (several ACS instances, possibly on several hosts, issue #8): with `database`, the
 *   tables AND the file content go to that database (the core store's schema), and changes made
 *   by any instance are announced to all over LISTEN/NOTIFY — `startProvisioning` only. Nothing
 *   provisioning-related is then kept in `dataDir`, so every instance serves every file.
 *
 * Wiring in startAcs (src/acs/app.ts):
 *
 *   const prov = await startProvisioning({ store, dataDir, database, logger });
 *   const engine = new SessionEngine({ ...options.engine, hooks: prov.service, store, logger });
 *   ...
 *   const api = await buildApi({ store, acs, logger, provisioning: prov.apiOptions });
 *   await api.listen(...);
 *   prov.bind(acs, { apiUrl, cwmpUrl });   // file URLs, task/fault webhooks, rollout kicks; starts workers
 *   closers.push(() => prov.close());
 */
import type { Store } from '../store/types.ts';
import { join, resolve } from 'node:path';
import { openSqliteProvisioningStore } from '../store/provisioning/sqlite.ts';
import type { ProvisioningStore } from '../store/provisioning/types.ts';
import { SQLITE_FILE_NAME, SqliteStore } from '../store/sqlite/index.ts';
import { FileLibrary } from './files.ts';
import { ProvisioningService, type ProvisioningLogger, type ProvisioningServiceOptions, type TaskEvents } from './service.ts';

export interface OpenProvisioningOptions {
  /** The core store (devices, parameters, tasks). */
  store: Store;
  /** Data directory: `<dataDir>/switchboard.sqlite` holds the provisioning tables, `<dataDir>/files` the files (SQLite layout). */
  dataDir: string;
  /**
   * The PostgreSQL URL of the core store (`startProvisioning` only): provisioning tables and file
   * content go to that database, in the core store's schema (`PostgresStore.schema` when `store`
   * is one, else the server's current schema).
   */
  database?: string;
  /** LISTEN/NOTIFY namespace of the change notifications (default `switchboard`; instances must agree). */
  namespace?: string;
  /** Exact SQLite file of the provisioning tables (default the core store's file in dataDir; `:memory:` for tests). */
  file?: string;
  /**
   * Base URL devices download files from (the HTTP port as devices reach it, e.g.
   * `http://acs.example.net:7557`). Default: the API URL given to `bind`.
   */
  fileBaseUrl?: string;
  logger?: ProvisioningLogger;
  now?: () => number;
  webhooks?: ProvisioningServiceOptions['webhooks'];
  maxFileBytes?: number;
  /** Rollout evaluation period (ms, default 1000). */
  rolloutTickMs?: number;
}

/** What `bind` needs from the running ACS (AcsControl has all of it). */
export interface BindTarget {
  events: TaskEvents;
  connectionRequest(deviceId: string): Promise<unknown>;
}

export interface Provisioning {
  readonly service: ProvisioningService;
  readonly store: ProvisioningStore;
  /** What `buildApi` takes as `provisioning`. */
  readonly apiOptions: { service: ProvisioningService };
  /**
   * Connects to the running ACS and starts the background work (webhook deliveries, rollouts).
   * @param urls.apiUrl base of the public file route, used unless `fileBaseUrl` was given;
   *        urls.cwmpUrl this ACS's CWMP URL (a bootstrap record naming another moves the device).
   */
  bind(acs: BindTarget, urls: { apiUrl?: string | null; cwmpUrl?: string | null }): void;
  /** Stops the background work and closes the provisioning store. */
  close(): Promise<void>;
}

/**
 * Opens the SQLite provisioning store (the core store's file) and creates the service.
 * @returns the unit to bind and close.
 * @throws Error when the database cannot be opened or holds a newer provisioning schema.
 */
export function openProvisioning(options: OpenProvisioningOptions): Provisioning {
  // Same file as the core store: share its connection (see SqliteStore.connection for why).
  const file = options.file ?? join(options.dataDir, SQLITE_FILE_NAME);
  const core = options.store instanceof SqliteStore && file !== ':memory:' && resolve(options.store.file) === resolve(file) ? options.store : null;
  const store = openSqliteProvisioningStore(
    core ? { connection: core.connection, groupWrite: (fn) => core.groupWrite(fn), groupRead: (fn) => core.groupRead(fn), now: options.now } : { file, now: options.now },
  );
  return assemble(options, store, null);
}

/**
 * Opens the provisioning store the deployment needs — PostgreSQL (tables and file content) when
 * `database` is given, else SQLite as `openProvisioning` — and creates the service.
 * @returns the unit to bind and close.
 * @throws StoreError `unavailable` when PostgreSQL cannot be reached; Error when a database holds
 *         a newer provisioning schema.
 */
export async function startProvisioning(options: OpenProvisioningOptions): Promise<Provisioning> {
  if (!options.database) return openProvisioning(options);
  // Loaded on demand: a SQLite deployment never loads the PostgreSQL driver.
  const [{ openPostgresProvisioningStore }, { PostgresStore }] = await Promise.all([import('../store/provisioning/postgres.ts'), import('../store/postgres/index.ts')]);
  const store = await openPostgresProvisioningStore(options.database, {
    schema: options.store instanceof PostgresStore ? options.store.schema : undefined,
    namespace: options.namespace,
    now: options.now,
    onError: (err) => options.logger?.warn({ err }, 'provisioning store (PostgreSQL)'),
  });
  const files = new FileLibrary({ store, content: store.contentStore(), maxBytes: options.maxFileBytes });
  return assemble(options, store, files);
}

/** The service and its lifecycle around an open store (and, unless default, a file library). */
function assemble(options: OpenProvisioningOptions, store: ProvisioningStore, files: FileLibrary | null): Provisioning {
  const service = new ProvisioningService({
    store: options.store,
    provisioning: store,
    dataDir: options.dataDir,
    ...(files ? { files } : {}),
    fileBaseUrl: options.fileBaseUrl ?? 'http://127.0.0.1:7557',
    logger: options.logger,
    now: options.now,
    webhooks: options.webhooks,
    maxFileBytes: options.maxFileBytes,
  });
  let closed = false;
  return {
    service,
    store,
    apiOptions: { service },
    bind(acs, urls) {
      if (!options.fileBaseUrl && urls.apiUrl) service.setFileBaseUrl(urls.apiUrl);
      if (urls.cwmpUrl) service.setAcsUrl(urls.cwmpUrl);
      service.attach(acs.events);
      service.rollouts.setConnectionRequest((id) => acs.connectionRequest(id));
      service.start({ rolloutTickMs: options.rolloutTickMs });
    },
    async close() {
      if (closed) return;
      closed = true;
      await service.stop();
      await store.close();
    },
  };
}
