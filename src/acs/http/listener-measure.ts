/**
 * Measures which HTTP server carries the CWMP session shape faster: bare `node:http` or Fastify.
 * Run: `node --import tsx src/acs/http/listener-measure.ts [sessions] [concurrency]`.
 *
 * The shape: on one keep-alive connection, POST an Inform (≈1.3 KB XML) -> 200 with an
 * InformResponse, then an empty POST -> 204. Both servers run the same tiny handler (session by
 * connection, fixed reply), so the difference is the framework's per-request cost. Each server runs
 * in its own child process and reports the CPU time it spent (user+system) per session, which is
 * less disturbed by other load than throughput; rounds alternate and the median is reported.
 *
 * Results on the shared 2-core development VM (load average 6-7 from other work; 20,000 sessions,
 * 50 connections, medians of 3 rounds), two runs:
 *   run 1: node:http 94.6 µs/session (3,324 sessions/s)   fastify  92.2 µs/session (3,911 sessions/s)
 *   run 2: node:http 146.6 µs/session (2,417 sessions/s)  fastify 169.6 µs/session (2,107 sessions/s)
 * No difference beyond the noise: Fastify's routing/hook overhead is small next to HTTP parsing.
 * The CWMP listener uses node:http anyway because it needs nothing Fastify adds (no JSON, schemas,
 * routes or hooks; bodies are XML read as raw bytes) and works on the raw socket for connection
 * binding; the REST API uses Fastify, where those features pay.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Fastify from 'fastify';
import { buildEnvelope } from '../../cwmp/codec.ts';
import { sampleInform } from '../../cwmp/samples.ts';

const INFORM = buildEnvelope({ header: { id: '1' }, body: sampleInform() }, { version: '1.0' });
const INFORM_RESPONSE = buildEnvelope({ header: { id: '1' }, body: { method: 'InformResponse', maxEnvelopes: 1 } }, { version: '1.0' });

/** The shared "engine": per connection, the first POST with a body opens a session, an empty POST ends it. */
function reply(socket: Socket, body: Buffer, open: WeakSet<Socket>): { status: number; body: string } {
  if (body.length > 0) {
    open.add(socket);
    return { status: 200, body: INFORM_RESPONSE };
  }
  open.delete(socket);
  return { status: 204, body: '' };
}

async function nodeServer(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new WeakSet<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = reply(req.socket, Buffer.concat(chunks), open);
      const buf = Buffer.from(r.body);
      res.writeHead(r.status, r.status === 200 ? { 'content-type': 'text/xml; charset="utf-8"', 'content-length': buf.length } : { 'content-length': 0 });
      res.end(r.status === 200 ? buf : undefined);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

async function fastifyServer(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new WeakSet<Socket>();
  const app = Fastify({ logger: false, keepAliveTimeout: 30_000 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/', async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const r = reply(req.raw.socket, body, open);
    if (r.status === 204) return res.code(204).send();
    return res.code(200).header('content-type', 'text/xml; charset="utf-8"').send(r.body);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as AddressInfo).port, close: async () => void (await app.close()) };
}

function request(agent: http.Agent, port: number, body: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = body ? Buffer.from(body) : null;
    const headers: Record<string, string> = { 'content-length': String(data ? data.length : 0) };
    if (data) headers['content-type'] = 'text/xml';
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data ?? undefined);
  });
}

/** Runs `sessions` Inform/empty sessions over `concurrency` connections; returns sessions per second. */
async function drive(port: number, sessions: number, concurrency: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      while (next < sessions) {
        next++;
        if ((await request(agent, port, INFORM)) !== 200) throw new Error('Inform not answered 200');
        if ((await request(agent, port, null)) !== 204) throw new Error('empty POST not answered 204');
      }
      agent.destroy();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return sessions / seconds;
}

type Kind = 'node:http' | 'fastify';

/** Child mode: serve, report the port, then report CPU time used when asked. */
async function serve(kind: Kind): Promise<void> {
  const server = kind === 'fastify' ? await fastifyServer() : await nodeServer();
  let base = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'reset') base = process.cpuUsage();
    if (m === 'cpu') {
      const u = process.cpuUsage(base);
      process.send?.({ cpuMicros: u.user + u.system });
    }
    if (m === 'exit') void server.close().then(() => process.exit(0));
  });
  process.send?.({ port: server.port });
}

interface Child {
  port: number;
  ask(m: string): Promise<{ cpuMicros: number }>;
  tell(m: string): void;
}

async function spawnServer(kind: Kind): Promise<Child> {
  const { fork } = await import('node:child_process');
  const child = fork(new URL(import.meta.url).pathname, ['serve', kind], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  return {
    port,
    ask: (m) => new Promise((resolve) => {
      child.once('message', (r: { cpuMicros: number }) => resolve(r));
      child.send(m);
    }),
    tell: (m) => void child.send(m),
  };
}

async function main(): Promise<void> {
  const sessions = Number(process.argv[2] ?? 20_000);
  const concurrency = Number(process.argv[3] ?? 50);
  const rate: Record<Kind, number[]> = { 'node:http': [], fastify: [] };
  const cpu: Record<Kind, number[]> = { 'node:http': [], fastify: [] };
  for (let round = 0; round < 3; round++) {
    for (const kind of ['node:http', 'fastify'] as const) {
      const server = await spawnServer(kind);
      await drive(server.port, Math.min(2000, sessions), concurrency); // warm-up (JIT)
      server.tell('reset');
      rate[kind].push(await drive(server.port, sessions, concurrency));
      cpu[kind].push((await server.ask('cpu')).cpuMicros / sessions);
      server.tell('exit');
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const kind of ['node:http', 'fastify'] as const) {
    console.log(
      `${kind.padEnd(10)} server CPU median ${median(cpu[kind]).toFixed(1)} µs/session (rounds ${cpu[kind].map((x) => x.toFixed(1)).join(', ')}); ` +
        `throughput median ${Math.round(median(rate[kind]))} sessions/s`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === 'serve') await serve(process.argv[3] as Kind);
  else await main();
}
