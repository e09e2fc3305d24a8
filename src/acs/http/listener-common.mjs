/**
 * What the CWMP listener on the main event loop (app.ts, cwmp-server.ts) and the listener thread
 * (listener-worker.mjs) share: creating a listener's server and reading a request's body; and what the
 * thread and its owner on the main thread (listener-thread.ts) share: batching their messages. Plain
 * JavaScript so that the thread, which does not go through tsx's loader, can import it;
 * listener-common.d.mts gives its types.
 */
import http from 'node:http';
import https from 'node:https';

/**
 * The HTTP server of one CWMP listener, or the HTTPS one when `listener.tls` gives a certificate and
 * key, with `onRequest` as its request listener. The CPE keeps one connection for the whole
 * session: `timeouts` keep it open as long as a session lives.
 */
export function createListenerServer(listener, onRequest, timeouts) {
  const server = listener.tls ? https.createServer({ cert: listener.tls.cert, key: listener.tls.key }, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  return server;
}

/**
 * Reads the whole body of `req` (a node:http IncomingMessage). Resolves null when it exceeds `limit`
 * bytes, by its Content-Length (then nothing is read) or while reading (the rest is discarded).
 * A body that arrived in one chunk (a CWMP message usually does) is that chunk as is, no copy.
 * Rejects when the request fails (aborted mid-body).
 */
export function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve(null);
      return;
    }
    const chunks = [];
    let size = 0;
    let over = false;
    req.on('data', (c) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/**
 * Batches the messages one side of the listener thread sends the other: `push` keeps a message,
 * and at the end of the event-loop turn (setImmediate) `post` gets every message of the turn in
 * one array, so that a busy turn crosses the threads once instead of once per request or answer.
 * `flush` posts what waits at once (before closing); `clear` forgets it (its thread died).
 */
export function messageBatcher(post) {
  let outbox = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (outbox.length === 0) return;
    const batch = outbox;
    outbox = [];
    post(batch);
  };
  return {
    push(message) {
      outbox.push(message);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
    clear() {
      outbox = [];
    },
  };
}
