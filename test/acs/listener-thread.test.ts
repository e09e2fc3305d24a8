/**
 * The CWMP listeners' thread on its own (src/acs/http/listener-thread.ts), with a recording handler
 * in place of the CWMP service: what a request carries across, connections as stand-in sockets,
 * bodies over the limit, a thread that dies and comes back on the same port, close. The CWMP
 * behaviour through the thread is test/acs/http.test.ts, which runs every listener test both ways.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { CwmpListenerThread } from '../../src/acs/http/listener-thread.ts';
import { startAcs } from '../../src/acs/app.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { CwmpRequest, CwmpResponse } from '../../src/acs/http/cwmp-server.ts';
import { connection } from './http-client.ts';

const silent = pino({ level: 'silent' });

interface Seen {
  req: CwmpRequest;
  body: Buffer | null;
  res: CwmpResponse;
}

/** A thread whose handler records each request and, unless `hold`, answers 200 with a description of it. */
async function threadWith(options: { hold?: boolean; maxRequestBytes?: number; port?: number } = {}) {
  const seen: Seen[] = [];
  const thread = await CwmpListenerThread.start({
    listeners: [{ port: options.port ?? 0, host: '127.0.0.1' }],
    handle: (req, body, res) => {
      seen.push({ req, body, res });
      if (options.hold) return;
      const text = JSON.stringify({ method: req.method, url: req.url, body: body === null ? null : body.toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'x-list': ['a', 'b'] });
      res.end(text, 'utf8');
    },
    timeouts: { keepAliveTimeoutMs: 5_000, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
    maxRequestBytes: options.maxRequestBytes ?? 1024,
    logger: silent,
  });
  return { thread, seen, url: `http://127.0.0.1:${thread.ports[0]}/acs?x=1` };
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** POSTs `body` (null: empty) on `agent`; the answer unparsed. */
function post(url: string, agent: http.Agent, body: string | null, options: { headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const data = body === null ? Buffer.alloc(0) : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...options.headers, 'content-length': String(data.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Sends a GET (no body) and resolves with the status. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

describe('CWMP listener thread', () => {
  it('is what startAcs uses on SQLite unless told otherwise, and only when there is a CWMP listener', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-listener-thread-'));
    try {
      const base = { dataDir, httpPort: null, host: '127.0.0.1', logger: silent } as const;
      for (const [options, expected] of [
        [{ cwmpPort: 0 }, true],
        [{ cwmpPort: 0, cwmpThread: false }, false],
        [{ cwmpPort: null }, false],
      ] as const) {
        const acs = await startAcs({ ...base, ...options, store: openSqliteStore({ file: ':memory:' }) });
        try {
          assert.equal(acs.cwmpThread, expected, JSON.stringify(options));
          if (options.cwmpPort === 0) assert.match(acs.cwmpUrl, /^http:\/\/127\.0\.0\.1:[0-9]+\/$/);
        } finally {
          await acs.close();
        }
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('hands each request over with its method, target, headers, body and connection, and sends the answer back', async () => {
    const { thread, seen, url } = await threadWith();
    try {
      const c1 = connection();
      const c2 = connection();
      const a = await post(url, c1, '<x>é</x>', { headers: { cookie: 'sb_session=abc' } });
      const b = await post(url, c1, null);
      const c = await post(url, c2, 'second');
      assert.equal(a.status, 200);
      assert.deepEqual(JSON.parse(a.body), { method: 'POST', url: '/acs?x=1', body: '<x>é</x>' });
      assert.deepEqual(JSON.parse(b.body).body, '', 'an empty POST has an empty body');
      assert.deepEqual(a.headers['x-list'], 'a, b', 'a header given as a list goes out as the list');
      assert.equal(JSON.parse(c.body).body, 'second');
      assert.equal(seen[0].req.headers.cookie, 'sb_session=abc');
      assert.equal(seen[0].req.socket.remoteAddress, '127.0.0.1');
      assert.equal(seen[0].req.socket.encrypted, false);
      assert.equal(seen[0].req.socket, seen[1].req.socket, 'one stand-in per connection');
      assert.notEqual(seen[0].req.socket, seen[2].req.socket, 'another connection, another stand-in');
      assert.equal(thread.openConnections, 2);
      c1.destroy();
      c2.destroy();
      await until(() => thread.openConnections === 0, 'the closed connections to be forgotten');
    } finally {
      await thread.close();
    }
  });

  it('does not read a body over the limit (declared or streamed) nor the body of another method: the handler gets null', async () => {
    const { thread, seen, url } = await threadWith({ maxRequestBytes: 100 });
    try {
      assert.equal((await post(url, connection(), 'x'.repeat(101))).status, 200);
      assert.equal(seen[0].body, null, 'Content-Length over the limit');
      // chunked: no Content-Length, the limit is found while reading
      const streamed = await new Promise<number>((resolve, reject) => {
        const req = http.request(url, { method: 'POST', agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        for (let i = 0; i < 5; i++) req.write('y'.repeat(30));
        req.end();
      });
      assert.equal(streamed, 200);
      assert.equal(seen[1].body, null, 'streamed over the limit');
      assert.equal(await get(url), 200);
      assert.equal(seen[2].req.method, 'GET');
      assert.equal(seen[2].body, null);
      assert.equal((await post(url, connection(), 'z'.repeat(100))).status, 200);
      assert.equal(seen[3].body?.length, 100, 'at the limit: read');
    } finally {
      await thread.close();
    }
  });

  it('a thread that dies is replaced on the same port; an answer meant for the dead one never reaches the new one', async () => {
    const { thread, seen, url } = await threadWith({ hold: true });
    try {
      const first = post(url, connection(), 'first').then(
        (r) => r.status,
        () => 'connection lost',
      );
      await until(() => seen.length === 1, 'the first request');
      await thread.crashForTest();
      assert.equal(await first, 'connection lost', 'its connection died with the thread');
      await until(() => thread.restarts === 1, 'the new thread');
      const second = post(url, connection(), 'second');
      await until(() => seen.length === 2, 'the request to the new thread');
      // the stale answer first: request ids start again in the new thread
      seen[0].res.writeHead(200, { 'content-length': '5' });
      seen[0].res.end('stale', 'utf8');
      seen[1].res.writeHead(200, { 'content-length': '5' });
      seen[1].res.end('fresh', 'utf8');
      const reply = await second;
      assert.equal(reply.body, 'fresh');
      assert.equal(thread.ports[0], Number(new URL(url).port));
    } finally {
      await thread.close();
    }
  });

  it('close stops listening and ends open connections; a port in use is refused at start', async () => {
    const { thread, url } = await threadWith({ hold: true });
    const port = Number(new URL(url).port);
    await assert.rejects(threadWith({ port }), /EADDRINUSE/);
    const pending = post(url, connection(), 'never answered').then(
      () => 'answered',
      () => 'connection ended',
    );
    await new Promise((r) => setTimeout(r, 50));
    await thread.close();
    assert.equal(await pending, 'connection ended');
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s.end()));
        s.on('error', reject);
      }),
      /ECONNREFUSED/,
    );
  });
});
