/**
 * The CWMP listeners' thread (started by listener-thread.ts): node:http/https servers that read
 * each request and post it to the main thread, then write the answers the main thread posts back.
 * What runs here is HTTP only (connections, parsing, bodies, writing responses); every decision
 * (sessions, authentication, the CWMP messages) is the main thread's.
 *
 * Messages both ways are batched: everything one event-loop turn produced goes in one postMessage.
 * To the main thread: {k:'listening', ports}, {k:'error', message}, {k:'req', id, conn, ra, tls,
 * method, url, headers, body} (body: a Uint8Array, or null when the method is not POST or the body
 * is over maxRequestBytes), {k:'close', conn}. From it: {id, status,
 * headers, body} answers, {id, destroy: true}, and {k:'stop'}.
 * Plain JavaScript: a worker does not go through tsx's loader.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createListenerServer, messageBatcher, readBody } from './listener-common.mjs';

const { listeners, timeouts, maxRequestBytes } = workerData;

/** Answers still to come, by request id. */
const pending = new Map();
/** Connection ids, by socket. */
const connections = new WeakMap();
let nextConnection = 1;
let nextRequest = 1;

const outbox = messageBatcher((batch) => parentPort.postMessage(batch));
const post = (message) => outbox.push(message);

function connectionOf(socket) {
  let id = connections.get(socket);
  if (id === undefined) {
    id = nextConnection++;
    connections.set(socket, id);
    socket.once('close', () => post({ k: 'close', conn: id }));
  }
  return id;
}

function onRequest(tls) {
  return (req, res) => {
    const conn = connectionOf(req.socket);
    // the main thread answers every request it is sent (a failure with a 500): each entry is removed then
    const send = (body) => {
      const id = nextRequest++;
      pending.set(id, res);
      post({ k: 'req', id, conn, ra: req.socket.remoteAddress, tls, method: req.method, url: req.url, headers: req.headers, body });
    };
    if (req.method !== 'POST') {
      req.resume();
      send(null);
      return;
    }
    readBody(req, maxRequestBytes).then(
      // the bytes alone: a view would take the whole buffer it is part of into the message (and
      // handing the memory over costs more than copying a body of a few KiB)
      (body) => send(body === null ? null : new Uint8Array(body.buffer, body.byteOffset, body.length).slice()),
      // a request aborted mid-body is simply not sent on
      () => {},
    );
  };
}

const servers = listeners.map((l) => createListenerServer(l, onRequest(l.tls !== undefined), timeouts));

Promise.all(
  servers.map(
    (server, i) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(listeners[i].port, listeners[i].host, () => {
          server.off('error', reject);
          resolve(server.address().port);
        });
      }),
  ),
).then(
  (ports) => parentPort.postMessage([{ k: 'listening', ports }]),
  (err) => {
    parentPort.postMessage([{ k: 'error', message: String(err?.message ?? err) }]);
    for (const s of servers) s.close();
    parentPort.close();
  },
);

parentPort.on('message', (batch) => {
  for (const m of batch) {
    if (m.k === 'stop') {
      for (const s of servers) {
        s.close();
        s.closeAllConnections();
      }
      parentPort.close();
      return;
    }
    const res = pending.get(m.id);
    if (res === undefined) continue;
    pending.delete(m.id);
    if (m.destroy) {
      res.destroy();
      continue;
    }
    res.writeHead(m.status, m.headers);
    if (m.body === '') res.end();
    else res.end(m.body, 'utf8');
  }
});
