import type http from 'node:http';
import type https from 'node:https';

/** The connection timeouts of a CWMP listener's server (ms). */
export interface ListenerTimeouts {
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/** See listener-common.mjs. */
export function createListenerServer(
  listener: { tls?: { cert: string | Buffer; key: string | Buffer } },
  onRequest: http.RequestListener,
  timeouts: ListenerTimeouts,
): http.Server | https.Server;

/** See listener-common.mjs. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | null>;

/** See listener-common.mjs. */
export interface MessageBatcher<T> {
  push(message: T): void;
  flush(): void;
  clear(): void;
}

/** See listener-common.mjs. */
export function messageBatcher<T>(post: (batch: T[]) => void): MessageBatcher<T>;
