/**
 * Fleet runner: distinct serials, one Connection Request listener for all devices (a path each),
 * sessions spread over the window, statistics; and the CLI refusing bad options clearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DigestClient } from '../../src/cwmp/auth.ts';
import { Fleet, fleetSerial, formatFleetStats } from '../../src/cpe/fleet.ts';
import { ScriptedAcs } from './scripted-acs.ts';
import http from 'node:http';

function get(url: string, authorization?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: authorization ? { authorization } : {}, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      })
      .on('error', reject);
  });
}

test('fleetSerial: 000B82 + 6 upper-case hex digits', () => {
  assert.equal(fleetSerial(1, 0), '000B82000001');
  assert.equal(fleetSerial(0xabcdef, 0x10), '000B82ABCDFF');
  assert.throws(() => fleetSerial(0xffffff, 1), RangeError);
});

test('a fleet of 40 devices: distinct serials, one listener, spread sessions, per-device connection requests', async () => {
  const acs = await new ScriptedAcs().listen();
  const fleet = new Fleet({
    acsUrl: acs.url,
    count: 40,
    models: ['GXP2140', 'HT502', 'GXW4008'],
    connPort: 0,
    host: '127.0.0.1',
    spreadMs: 800,
    periodicInterval: 3600,
    connectionRequestPassword: 'fleet-pw',
  });
  try {
    await fleet.start();
    await acs.waitForSessions(40, 15_000);
    const serials = acs.informs.map((i) => i.deviceId.serialNumber);
    assert.equal(new Set(serials).size, 40);
    assert.ok(serials.every((s) => /^000B82[0-9A-F]{6}$/.test(s)));
    assert.deepEqual(new Set(acs.informs.map((i) => i.deviceId.productClass)), new Set(['GXP2140', 'HT502', 'GXW4008']));
    // One listener: every ConnectionRequestURL has the same port, a different path.
    const urls = acs.informs.map((i) => i.parameterList.find((p) => p.name.endsWith('ManagementServer.ConnectionRequestURL'))!.value);
    assert.equal(new Set(urls.map((u) => new URL(u).port)).size, 1);
    assert.equal(new Set(urls.map((u) => new URL(u).pathname)).size, 40);
    // The ACS's 204 ends the session at the ACS a moment before the device sees it.
    for (let i = 0; i < 100 && fleet.stats().sessionsOk < 40; i++) await new Promise((r) => setTimeout(r, 20));
    const stats = fleet.stats();
    assert.equal(stats.sessionsOk, 40);
    assert.equal(stats.sessionsFailed, 0);
    assert.ok(stats.p50 > 0 && stats.p99 >= stats.p50);
    assert.match(formatFleetStats(stats), /sessions ok=40 failed=0/);

    // A Connection Request to device 7 wakes device 7 only.
    const target = acs.informs.find((i) => i.deviceId.serialNumber === fleetSerial(1, 7))!;
    const url = target.parameterList.find((p) => p.name.endsWith('ConnectionRequestURL'))!.value;
    const challenge = await get(url);
    assert.equal(challenge.status, 401);
    const client = new DigestClient({ username: fleetSerial(1, 7), password: 'fleet-pw' });
    assert.ok(client.handleChallenge(challenge.headers['www-authenticate']));
    assert.equal((await get(url, client.authorization('GET', new URL(url).pathname)!)).status, 200);
    await acs.waitForSessions(41, 10_000);
    const last = acs.informs.at(-1)!;
    assert.equal(last.deviceId.serialNumber, fleetSerial(1, 7));
    assert.deepEqual(last.event.map((e) => e.eventCode), ['6 CONNECTION REQUEST']);
  } finally {
    await fleet.stop();
    await acs.close();
  }
});

test('the CLI refuses bad options with a clear message and a non-zero exit', () => {
  const bin = fileURLToPath(new URL('../../bin/switchboard.mjs', import.meta.url));
  const run = (...args: string[]): { status: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stderr: r.stderr };
  };
  const badModel = run('cpe', '--model', 'GXP9999', '--serial', '000B82000001', '--state-dir', '/tmp/sb-never-used', '--acs', 'http://127.0.0.1:1/');
  assert.notEqual(badModel.status, 0);
  assert.match(badModel.stderr, /unknown model "GXP9999"/);
  const badUrl = run('fleet', '--acs', 'ftp://x/', '--count', '2');
  assert.notEqual(badUrl.status, 0);
  assert.match(badUrl.stderr, /--acs must be an http/);
  const badCount = run('fleet', '--acs', 'http://127.0.0.1:1/', '--count', 'many');
  assert.match(badCount.stderr, /--count must be a positive integer/);
});
