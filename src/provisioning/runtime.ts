/**
 * Provisioning as a unit the ACS composition root starts and stops: the provisioning store (its
 * tables in the core store's SQLite file), the service, and how it binds to a running ACS.
 *
 * Wiring in startAcs (src/acs/app.ts):
 *
 *   const prov = openProvisioning({ store, dataDir, logger });
 *   const engine = new SessionEngine({ ...options.engine, hooks: prov.service, store, logger });
 *   ...
 *   const api = await buildApi({ store, acs, logger, provisioning: prov.apiOptions });
 *   await api.listen(...);
 *   prov.bind(acs, { apiUrl, cwmpUrl });   // file URLs, task/fault webhooks, rollout kicks; starts workers
 *   closers.push(() => prov.close());
 */
import type { Store } from '../store/types.ts';
import { join, resolve } from 'node:path';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from '../store/provisioning/sqlite.ts';
import { SQLITE_FILE_NAME, SqliteStore } from '../store/sqlite/index.ts';
import { ProvisioningService, type ProvisioningLogger, type ProvisioningServiceOptions, type TaskEvents } from './service.ts';

export interface OpenProvisioningOptions {
  /** The core store (devices, parameters, tasks). */
  store: Store;
  /** Data directory: `<dataDir>/switchboard.sqlite` holds the provisioning tables, `<dataDir>/files` the files. */
  dataDir: string;
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
  readonly store: SqliteProvisioningStore;
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
 * Opens the provisioning store and creates the service.
 * @returns the unit to bind and close.
 * @throws Error when the database cannot be opened or holds a newer provisioning schema.
 */
export function openProvisioning(options: OpenProvisioningOptions): Provisioning {
  // Same file as the core store: share its connection (see SqliteStore.connection for why).
  const file = options.file ?? join(options.dataDir, SQLITE_FILE_NAME);
  const core = options.store instanceof SqliteStore && file !== ':memory:' && resolve(options.store.file) === resolve(file) ? options.store : null;
  const store = openSqliteProvisioningStore(
    core ? { connection: core.connection, groupWrite: (fn) => core.groupWrite(fn), now: options.now } : { file, now: options.now },
  );
  const service = new ProvisioningService({
    store: options.store,
    provisioning: store,
    dataDir: options.dataDir,
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
