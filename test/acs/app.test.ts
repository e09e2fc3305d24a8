/**
 * The ACS composition root: API token bootstrap (hash only, file 0600, printed once), the REST API
 * mounted on the HTTP port, the `acs` control object (enqueue + connection request + wait), and the
 * CLI's option checks.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startAcs, API_TOKEN_FILE } from '../../src/acs/app.ts';
import { runAcs, AcsUsageError, cwmpThreadOption, type AcsCliOptions } from '../../src/cli/acs.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { connection, post, xml } from './http-client.ts';
import { informMessage, deviceIdOf } from './engine-harness.ts';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sb-app-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('startAcs', () => {
  it('generates the bootstrap API token once: file 0600, only its hash stored, reused at the next start', async () => {
    const dataDir = tempDir();
    const acs = await startAcs({ dataDir, cwmpPort: 0, httpPort: 0, host: '127.0.0.1', logger: silent });
    const token = acs.generatedApiToken ?? '';
    assert.ok(token.startsWith('sb_'));
    const file = join(dataDir, API_TOKEN_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), token);
    const [stored] = await acs.store.listApiTokens();
    assert.equal(stored.role, 'admin');
    assert.equal(stored.hash, createHash('sha256').update(token).digest('hex'));
    // the REST API is mounted and accepts the token
    const res = await fetch(`${acs.apiUrl}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    await acs.close();
    const raw = readFileSync(join(dataDir, 'switchboard.sqlite'));
    assert.equal(raw.includes(Buffer.from(token)), false, 'the token itself is not in the database');
    const again = await startAcs({ dataDir, cwmpPort: 0, httpPort: null, host: '127.0.0.1', logger: silent });
    assert.equal(again.generatedApiToken, null);
    assert.equal((await again.store.listApiTokens()).length, 1);
    await again.close();
  });

  it('an explicit token is stored by hash and no file is written', async () => {
    const dataDir = tempDir();
    const acs = await startAcs({ dataDir, cwmpPort: 0, httpPort: null, host: '127.0.0.1', logger: silent, apiToken: 'my-token-123' });
    assert.equal(acs.generatedApiToken, null);
    assert.equal(existsSync(join(dataDir, API_TOKEN_FILE)), false);
    assert.ok(await acs.store.findApiTokenByHash(createHash('sha256').update('my-token-123').digest('hex')));
    await acs.close();
  });

  it('a start that fails (port in use) leaves no unseen token behind', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const dataDir = tempDir();
    await assert.rejects(startAcs({ dataDir, cwmpPort: port, httpPort: null, host: '127.0.0.1', logger: silent }), /EADDRINUSE/);
    assert.equal(existsSync(join(dataDir, API_TOKEN_FILE)), false);
    const store = openSqliteStore({ dataDir });
    const tokens = await store.listApiTokens();
    assert.ok(tokens.every((t) => t.revokedAt !== null));
    await store.close();
    await new Promise((r) => blocker.close(r));
  });

  it('enqueueTask with a connection request: the CPE is asked, connects, and waitForTask sees the result', async () => {
    const acs = await startAcs({ dataDir: tempDir(), store: openSqliteStore({ file: ':memory:' }), cwmpPort: 0, httpPort: null, host: '127.0.0.1', logger: silent });
    // a fake CPE: its connection request server starts a session that answers the GetRPCMethods
    const cr = http.createServer((_req, res) => {
      res.writeHead(204).end();
      void (async () => {
        const c = connection();
        await post(acs.cwmpUrl, c, xml(informMessage({ events: ['6 CONNECTION REQUEST'] })));
        const rpc = await post(acs.cwmpUrl, c, null);
        await post(acs.cwmpUrl, c, xml({ method: 'GetRPCMethodsResponse', methodList: ['Inform', 'GetRPCMethods'] }, '1.0', { id: rpc.parsed?.header.id }));
        c.destroy();
      })();
    });
    await new Promise<void>((r) => cr.listen(0, '127.0.0.1', r));
    try {
      const c = connection();
      const crUrl = `http://127.0.0.1:${(cr.address() as AddressInfo).port}/cr`;
      await post(acs.cwmpUrl, c, xml(informMessage({ parameters: [{ name: 'InternetGatewayDevice.ManagementServer.ConnectionRequestURL', value: crUrl, type: 'string' }] })));
      await post(acs.cwmpUrl, c, null);
      c.destroy();
      const { task, connectionRequest } = await acs.enqueueTask(deviceIdOf('SN0001'), { type: 'getRPCMethods' }, { connectionRequest: true });
      assert.equal(connectionRequest?.status, 'ok');
      const done = await acs.waitForTask(task.id, { timeoutMs: 10_000 });
      assert.equal(done?.status, 'done');
      assert.deepEqual(done?.result, { methods: ['Inform', 'GetRPCMethods'] });
      // an already finished task resolves at once; an unknown one with null
      assert.equal((await acs.waitForTask(task.id, { timeoutMs: 10 }))?.status, 'done');
      assert.equal(await acs.waitForTask('999999', { timeoutMs: 10 }), null);
      await assert.rejects(acs.enqueueTask(deviceIdOf('SN0001'), { type: 'nope' }), /invalid task/);
      await assert.rejects(acs.enqueueTask('unknown-device', { type: 'reboot' }), /not found/);
    } finally {
      await new Promise((r) => cr.close(r));
      await acs.close();
    }
  });

  it('waitForTask returns the current state when the wait is over', async () => {
    const acs = await startAcs({ dataDir: tempDir(), store: openSqliteStore({ file: ':memory:' }), cwmpPort: 0, httpPort: null, host: '127.0.0.1', logger: silent });
    try {
      const c = connection();
      await post(acs.cwmpUrl, c, xml(informMessage()));
      await post(acs.cwmpUrl, c, null);
      c.destroy();
      const { task } = await acs.enqueueTask(deviceIdOf('SN0001'), { type: 'reboot' });
      const t0 = Date.now();
      const t = await acs.waitForTask(task.id, { timeoutMs: 100 });
      assert.equal(t?.status, 'pending');
      assert.ok(Date.now() - t0 >= 90);
      const cancelled = await acs.cancelTask(task.id);
      assert.equal(cancelled?.status, 'cancelled');
    } finally {
      await acs.close();
    }
  });
});

describe('switchboard acs options', () => {
  const base: AcsCliOptions = {
    dataDir: './never-created', cwmpPort: '7547', httpPort: '7557', host: '127.0.0.1', tlsPort: '7548',
    cpeAuth: 'none', sessionTimeout: '30', maxSessions: '100', logLevel: 'info', sqliteCacheMib: '64', cwmpThread: 'auto',
  };
  for (const [change, message] of [
    [{ cwmpPort: '70000' }, /--cwmp-port must be a port number/],
    [{ httpPort: 'abc' }, /--http-port must be a port number/],
    [{ cpeAuth: 'magic' }, /--cpe-auth must be none, shared or per-device/],
    [{ cpeAuth: 'shared' }, /needs --cpe-username and --cpe-password/],
    [{ tlsCert: 'cert.pem' }, /--tls-cert and --tls-key go together/],
    [{ sessionTimeout: '0' }, /--session-timeout must be a positive integer/],
    [{ logLevel: 'loud' }, /unknown --log-level/],
    [{ sqliteCacheMib: '0' }, /--sqlite-cache-mib must be a positive integer/],
    [{ sqliteCacheMib: 'lots' }, /--sqlite-cache-mib must be a positive integer/],
    [{ cwmpThread: 'yes' }, /--cwmp-thread must be auto, on or off, got "yes"/],
  ] as const) {
    it(`refuses ${JSON.stringify(change)} before starting anything`, async () => {
      await assert.rejects(runAcs({ ...base, ...change }), (err: unknown) => err instanceof AcsUsageError && message.test(err.message));
      assert.equal(existsSync('./never-created'), false);
    });
  }
  it('--cwmp-thread: auto leaves the choice to startAcs, on and off decide, a --workers process never has the thread', () => {
    assert.equal(cwmpThreadOption('auto', false), undefined);
    assert.equal(cwmpThreadOption('on', false), true);
    assert.equal(cwmpThreadOption('off', false), false);
    for (const value of ['auto', 'on', 'off']) assert.equal(cwmpThreadOption(value, true), false, value);
  });
});
