import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { LeanConnection, LeanConnectionPool, LeanHttpError, PostHeads, TIMEOUT_SWEEP_MS, parseResponseHead } from './lean-client.ts';

const TIMEOUT_MS = 5_000;

/** What the fake server does with each complete request it receives. */
type Responder = (request: string, socket: net.Socket) => void;

/** A TCP server reading requests framed by Content-Length and answering through `respond`. */
async function server(respond: Responder): Promise<{ port: number; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const m = /content-length: *([0-9]+)/i.exec(head);
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (buf.length < total) return;
        const req = buf.toString('utf8', 0, total);
        buf = buf.subarray(total);
        requests.push(req);
        respond(req, socket);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** Writes `bytes` in pieces of `size` bytes, one per tick (so the client sees separate chunks). */
function writeInPieces(socket: net.Socket, bytes: Buffer, size: number): void {
  let at = 0;
  const next = (): void => {
    if (at >= bytes.length || socket.destroyed) return;
    socket.write(bytes.subarray(at, at + size));
    at += size;
    setTimeout(next, 1);
  };
  next();
}

const OK_BODY = '<soap:Envelope>InformResponse ünïcode</soap:Envelope>';
function okResponse(extraHeaders = '', text = OK_BODY): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\n${extraHeaders}content-length: ${body.length}\r\n\r\n`, 'latin1'), body]);
}

describe('parseResponseHead', () => {
  test('reads status, Content-Length, the first Set-Cookie without attributes, Connection; names in any case', () => {
    const r = parseResponseHead('HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/; HttpOnly\r\nSET-COOKIE: other=1\r\nCONTENT-LENGTH: 12\r\nConnection: Close\r\nServer: x', 99);
    assert.deepEqual(r, { ok: true, head: { status: 200, cookie: 'sid=abc', close: true, bodyStart: 99, length: 12 } });
    const empty = parseResponseHead('HTTP/1.1 204 No Content\r\nconnection: keep-alive', 10);
    assert.deepEqual(empty, { ok: true, head: { status: 204, cookie: null, close: false, bodyStart: 10, length: 0 } });
  });

  test('refuses a malformed status line, a bad Content-Length and chunked bodies', () => {
    for (const head of ['HTTP/1.1 2x0 OK', 'HTTP/1.1 200 OK\r\nContent-Length: 1x', 'HTTP/1.1 200 OK\r\nContent-Length: -3', 'SIP/2.0 200 OK', 'HTTP/1.1 2000']) {
      const r = parseResponseHead(head, 0);
      assert.equal(r.ok, false, head);
      assert.match(r.ok ? '' : r.reason, /malformed response head/);
    }
    const te = parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked', 0);
    assert.deepEqual(te, { ok: false, reason: 'unsupported transfer-encoding chunked' });
  });
});

describe('PostHeads', () => {
  test('builds heads with and without body and cookie', () => {
    const h = new PostHeads('/cwmp', '127.0.0.1:7547');
    assert.equal(h.head(0, null), 'POST /cwmp HTTP/1.1\r\nHost: 127.0.0.1:7547\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n');
    assert.equal(
      h.head(12, 'sid=1'),
      'POST /cwmp HTTP/1.1\r\nHost: 127.0.0.1:7547\r\nConnection: keep-alive\r\nContent-Type: text/xml; charset="utf-8"\r\nSOAPAction: \r\nCookie: sid=1\r\nContent-Length: 12\r\n\r\n',
    );
  });
});

describe('LeanConnection', () => {
  const servers: { close: () => Promise<void> }[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  test('sends head and UTF-8 body in one request and reads a response that arrives in small pieces', async () => {
    let n = 0;
    // each reply differs (XXXX... then YYYY...), so a body that were a view of a reused buffer would change
    const srv = await server((_req, socket) => {
      const piece = n === 0 ? 7 : 4096;
      writeInPieces(socket, okResponse('Set-Cookie: sid=7; Path=/\r\n', `${OK_BODY}${String.fromCharCode(0x58 + n++).repeat(40)}`), piece);
    });
    servers.push(srv);
    const c = await LeanConnection.open('127.0.0.1', srv.port, TIMEOUT_MS);
    const heads = new PostHeads('/cwmp', `127.0.0.1:${srv.port}`);
    const body = '<Inform>é€</Inform>';
    const reply = await c.request(heads.head(Buffer.byteLength(body), null), body, TIMEOUT_MS);
    assert.equal(reply.status, 200);
    assert.equal(reply.cookie, 'sid=7');
    assert.equal(reply.close, false);
    assert.equal(reply.body.toString('utf8'), `${OK_BODY}${'X'.repeat(40)}`);
    assert.ok(srv.requests[0].endsWith(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`), srv.requests[0]);
    // the connection is reusable: an empty POST, then a Buffer body
    const again = await c.request(heads.head(0, 'sid=7'), null, TIMEOUT_MS);
    assert.equal(again.status, 200);
    const bytes = Buffer.from('<x/>');
    await c.request(heads.head(bytes.length, 'sid=7'), bytes, TIMEOUT_MS);
    assert.ok(srv.requests[1].includes('Cookie: sid=7\r\nContent-Length: 0\r\n\r\n'));
    // reads share one buffer: an earlier reply's body must be a copy, unchanged by later reads
    assert.equal(reply.body.toString('utf8'), `${OK_BODY}${'X'.repeat(40)}`);
    assert.equal(again.body.toString('utf8'), `${OK_BODY}${'Y'.repeat(40)}`);
    assert.ok(srv.requests[2].endsWith('\r\n\r\n<x/>'));
    c.destroy();
  });

  test('a response is framed by its Content-Length; bytes after it (an unasked response) end the connection', async () => {
    const two = Buffer.concat([okResponse(), Buffer.from('HTTP/1.1 204 No Content\r\n\r\n', 'latin1')]);
    const srv = await server((_req, socket) => socket.write(two));
    servers.push(srv);
    const c = await LeanConnection.open('127.0.0.1', srv.port, TIMEOUT_MS);
    const a = await c.request(new PostHeads('/', 'h').head(0, null), null, TIMEOUT_MS);
    assert.equal(a.status, 200);
    assert.equal(a.body.toString('utf8'), OK_BODY);
    assert.equal(c.usable, false);
    await assert.rejects(c.request(new PostHeads('/', 'h').head(0, null), null, TIMEOUT_MS), /connection is closed/);
  });

  test('Connection: close makes the connection unusable after the reply; the pool does not keep it', async () => {
    const srv = await server((_req, socket) => socket.write(okResponse('Connection: close\r\n')));
    servers.push(srv);
    const pool = new LeanConnectionPool('127.0.0.1', srv.port, 4);
    const c = await pool.acquire(TIMEOUT_MS);
    const reply = await c.request(new PostHeads('/', 'h').head(0, null), null, TIMEOUT_MS);
    assert.equal(reply.close, true);
    assert.equal(c.usable, false);
    pool.release(c);
    const d = await pool.acquire(TIMEOUT_MS);
    assert.notEqual(d, c);
    await assert.rejects(c.request(new PostHeads('/', 'h').head(0, null), null, TIMEOUT_MS), /connection is closed/);
    pool.release(d);
    pool.destroy();
  });

  test('a chunked or malformed response, a closed socket and a second request in flight are LeanHttpErrors', async () => {
    const answers: Record<string, string | null> = {
      '/chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      '/bad': 'HTTP/1.1 abc OK\r\n\r\n',
      '/close': null,
    };
    const srv = await server((req, socket) => {
      const path = req.split(' ')[1];
      if (path === '/slow') return;
      const a = answers[path];
      if (a === null) socket.destroy();
      else socket.write(a);
    });
    servers.push(srv);
    const expect: Record<string, RegExp> = { '/chunked': /unsupported transfer-encoding chunked/, '/bad': /malformed response head/, '/close': /closed by the server/ };
    for (const [path, re] of Object.entries(expect)) {
      const c = await LeanConnection.open('127.0.0.1', srv.port, TIMEOUT_MS);
      await assert.rejects(c.request(new PostHeads(path, 'h').head(0, null), null, TIMEOUT_MS), (e: unknown) => e instanceof LeanHttpError && re.test(e.message));
      assert.equal(c.usable, false, path);
    }
    const c = await LeanConnection.open('127.0.0.1', srv.port, TIMEOUT_MS);
    const slow = c.request(new PostHeads('/slow', 'h').head(0, null), null, TIMEOUT_MS);
    await assert.rejects(c.request(new PostHeads('/slow', 'h').head(0, null), null, TIMEOUT_MS), /already in flight/);
    c.destroy();
    await assert.rejects(slow, /closed/);
  });

  test('no response within the timeout rejects (within a sweep period) and kills the connection', async () => {
    const srv = await server(() => {});
    servers.push(srv);
    const c = await LeanConnection.open('127.0.0.1', srv.port, TIMEOUT_MS);
    const timeoutMs = 100;
    const t0 = performance.now();
    await assert.rejects(c.request(new PostHeads('/', 'h').head(0, null), null, timeoutMs), /no response within 100 ms/);
    const waited = performance.now() - t0;
    assert.ok(waited >= timeoutMs, `rejected after ${waited} ms`);
    assert.ok(waited < timeoutMs + 20 * TIMEOUT_SWEEP_MS, `rejected after ${waited} ms`);
    assert.equal(c.usable, false);
  });

  test('a server that cannot be reached rejects open', async () => {
    const srv = await server(() => {});
    const port = srv.port;
    await srv.close();
    await assert.rejects(LeanConnection.open('127.0.0.1', port, TIMEOUT_MS), (e: unknown) => e instanceof LeanHttpError && /could not connect/.test(e.message));
  });
});
