/**
 * Webhooks: JSON POSTs to operator URLs when something happens (a device registers, boots, reports
 * a changed value, a task finishes, a transfer completes, a fault, a rollout finishes).
 *
 * Every event becomes one stored delivery per subscribed webhook (so nothing is lost on restart),
 * sent by a small worker with exponential back-off on failure (any non-2xx answer, a timeout, a
 * refused connection) until `maxAttempts`, then marked failed. The delivery log is in the store.
 *
 * Request: `POST <url>` with `content-type: application/json` and
 * - `x-switchboard-event`: the event name;
 * - `x-switchboard-delivery`: the delivery id (the same across retries: receivers deduplicate by it);
 * - `x-switchboard-timestamp`: unix seconds of this attempt;
 * - `x-switchboard-signature`: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
 * Signing the timestamp with the body lets a receiver refuse replays (see `verifyWebhookSignature`).
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { JsonValue } from '../store/types.ts';
import type { ProvisioningStore, Webhook, WebhookDelivery, WebhookEvent } from '../store/provisioning/types.ts';

export const SIGNATURE_HEADER = 'x-switchboard-signature';
export const TIMESTAMP_HEADER = 'x-switchboard-timestamp';
export const EVENT_HEADER = 'x-switchboard-event';
export const DELIVERY_HEADER = 'x-switchboard-delivery';

export const DEFAULT_MAX_ATTEMPTS = 6;
const DEFAULT_BASE_DELAY_MS = 5_000;
const DEFAULT_MAX_DELAY_MS = 3_600_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_CONCURRENCY = 4;
const BATCH = 50;
/** Added to a claimed batch's lease (store round trips, a slow event loop). */
const LEASE_MARGIN_MS = 30_000;
/** Error text kept per delivery. */
const MAX_ERROR_LENGTH = 300;

/**
 * Computes the signature header value for a body.
 * @returns `sha256=<hex>`.
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Checks a received webhook (for receivers and tests).
 * @returns true when the signature matches and the timestamp is within `toleranceSeconds` of `nowMs`.
 */
export function verifyWebhookSignature(secret: string, timestamp: string, body: string, signature: string, nowMs = Date.now(), toleranceSeconds = 300): boolean {
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowMs / 1000 - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const got = Buffer.from(signature);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

export interface WebhookLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface WebhookDispatcherOptions {
  store: ProvisioningStore;
  now?: () => number;
  /** Delay after the first failure; doubles per attempt up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** How often due retries are looked for. */
  pollMs?: number;
  concurrency?: number;
  logger?: WebhookLogger;
}

/** Delay before attempt `attempts + 1` after `attempts` failures. */
export function webhookRetryDelayMs(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)), maxMs);
}

/** True when `hook` takes deliveries of `event` (enabled, and subscribed to it or to `*`). */
export function subscribed(hook: Webhook, event: WebhookEvent | 'ping'): boolean {
  return hook.enabled && event !== 'ping' && (hook.events.includes('*') || hook.events.includes(event));
}

/** See the module comment. */
export class WebhookDispatcher {
  private readonly store: ProvisioningStore;
  private readonly now: () => number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly log: WebhookLogger | undefined;
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private draining: Promise<void> | null = null;
  private again = false;

  constructor(options: WebhookDispatcherOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.log = options.logger;
  }

  /** Starts the worker (polls for due retries; publishing kicks it at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      if (!this.running) return;
      void this.drain().finally(() => {
        if (this.running) {
          this.timer = setTimeout(tick, this.pollMs);
          this.timer.unref();
        }
      });
    };
    tick();
  }

  /** Stops the worker and waits for the attempts in progress. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.draining) await this.draining;
  }

  /**
   * Queues an event for every enabled webhook subscribed to it.
   * @returns the deliveries created (none when no webhook listens). Never rejects on a receiver's
   *          failure (that is retried); rejects only when the store fails.
   */
  async publish(event: WebhookEvent | 'ping', data: JsonValue, only?: string): Promise<WebhookDelivery[]> {
    // A test delivery (`ping` to one webhook) goes out even when the webhook is disabled.
    const hooks = (await this.store.listWebhooks()).filter((h) => (only === undefined ? subscribed(h, event) : h.id === only && (event === 'ping' || subscribed(h, event))));
    if (hooks.length === 0) return [];
    const at = new Date(this.now()).toISOString();
    const deliveries = await this.store.createDeliveries(
      hooks.map((h) => ({
        webhookId: h.id,
        event,
        body: JSON.stringify({ id: randomUUID(), event, at, webhookId: h.id, data }),
        status: 'pending' as const,
        attempts: 0,
        nextAttemptAt: null,
        lastStatusCode: null,
        lastError: null,
        createdAt: at,
        finishedAt: null,
      })),
    );
    if (this.running) void this.drain();
    return deliveries;
  }

  /** Sends every due delivery now (the worker calls this; tests too). Resolves when they were tried. */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          // Claimed, not just read: with several ACS instances on one store, each delivery is
          // taken by one of them until the lease ends (attempt() then records the outcome, which
          // replaces the lease; a crash lets it run out and the delivery is tried again).
          const now = this.now();
          const due = (await this.store.claimDueDeliveries(new Date(now).toISOString(), BATCH, new Date(now + this.leaseMs()).toISOString())).filter((d) => !this.inFlight.has(d.id));
          const queue = [...due];
          const workers = Array.from({ length: Math.min(this.concurrency, queue.length) }, async () => {
            for (let d = queue.shift(); d; d = queue.shift()) await this.attempt(d);
          });
          await Promise.all(workers);
          if (due.length === BATCH) this.again = true;
        } while (this.again);
      } catch (err) {
        this.log?.warn({ err }, 'webhook worker could not read its queue');
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  /** How long a claimed batch is ours: every attempt of it may wait for the ones before it, plus a margin. */
  private leaseMs(): number {
    return Math.ceil(BATCH / this.concurrency) * this.timeoutMs + LEASE_MARGIN_MS;
  }

  private async attempt(d: WebhookDelivery): Promise<void> {
    this.inFlight.add(d.id);
    try {
      const hook = await this.store.getWebhook(d.webhookId);
      if (!hook) {
        await this.store.updateDelivery(d.id, { status: 'failed', lastError: 'webhook deleted', nextAttemptAt: null, finishedAt: new Date(this.now()).toISOString() });
        return;
      }
      const attempts = d.attempts + 1;
      let statusCode: number | null = null;
      let error: string | null = null;
      const timestamp = String(Math.floor(this.now() / 1000));
      const deliveryId = (JSON.parse(d.body) as { id?: string }).id ?? d.id;
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Switchboard-Webhook/1',
            [EVENT_HEADER]: d.event,
            [DELIVERY_HEADER]: deliveryId,
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: signWebhook(hook.secret, timestamp, d.body),
          },
          body: d.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        statusCode = res.status;
        // Drain the answer so the connection can be reused; its content does not matter.
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        error = (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))).slice(0, MAX_ERROR_LENGTH);
      }
      const at = new Date(this.now()).toISOString();
      if (error === null) {
        await this.store.updateDelivery(d.id, { status: 'delivered', attempts, lastStatusCode: statusCode, lastError: null, nextAttemptAt: null, finishedAt: at });
        return;
      }
      const max = hook.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
      if (attempts >= max) {
        await this.store.updateDelivery(d.id, { status: 'failed', attempts, lastStatusCode: statusCode, lastError: error, nextAttemptAt: null, finishedAt: at });
        this.log?.warn({ webhookId: hook.id, deliveryId: d.id, attempts, error }, 'webhook delivery failed for good');
        return;
      }
      const next = new Date(this.now() + webhookRetryDelayMs(attempts, this.baseDelayMs, this.maxDelayMs)).toISOString();
      await this.store.updateDelivery(d.id, { attempts, lastStatusCode: statusCode, lastError: error, nextAttemptAt: next });
      this.log?.debug({ webhookId: hook.id, deliveryId: d.id, attempts, error, next }, 'webhook delivery will be retried');
    } catch (err) {
      this.log?.warn({ err, deliveryId: d.id }, 'webhook attempt could not be recorded');
    } finally {
      this.inFlight.delete(d.id);
    }
  }
}
