/**
 * The console's server routes: static files with SPA fallback and CSP, the live event stream, the
 * fleet overview numbers, and "connect now".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteFleetStats } from '../../src/console/server/stats.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Task } from '../../src/store/types.ts';
import { seedDevices, seededId, setup, type Harness } from './harness.ts';
import { takeSseEvents, type SseEvent } from '../helpers/sse.ts';

describe('static console with SPA fallback', () => {
  let h: Harness;
  let dist: string;
  before(async () => {
    dist = mkdtempSync(join(tmpdir(), 'sb-dist-'));
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>console</title><div id="app"></div>');
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
    h = await setup({ distDir: dist });
  });
  after(async () => {
    await h.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it('serves index.html for console paths, with CSP and no caching', async () => {
    for (const path of ['/', '/devices', '/devices/000B82-HT502-X?x=1']) {
      const res = await h.call('GET', path, { token: null });
      assert.equal(res.statusCode, 200, path);
      assert.match(res.body, /<title>console<\/title>/);
      assert.match(String(res.headers['content-type']), /text\/html/);
      assert.match(String(res.headers['content-security-policy']), /script-src 'self'/);
      assert.equal(res.headers['cache-control'], 'no-cache');
    }
  });

  it('serves hashed assets as immutable', async () => {
    const res = await h.call('GET', '/assets/index-abc123.js', { token: null });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['cache-control']), /immutable/);
  });

  it('leaves unknown /api paths to the API (JSON 404) and answers missing files with 404', async () => {
    const api = await h.call('GET', '/api/nope');
    assert.equal(api.statusCode, 404);
    assert.equal(api.json().code, 'ROUTE_NOT_FOUND');
    const file = await h.call('GET', '/assets/missing.js', { token: null });
    assert.equal(file.statusCode, 404);
    assert.equal(file.json().code, 'NOT_FOUND');
  });

  it('explains how to build the console when it is not built', async () => {
    const other = await setup({ distDir: join(dist, 'nope') });
    try {
      const res = await other.call('GET', '/devices', { token: null });
      assert.equal(res.statusCode, 503);
      assert.match(res.body, /npm run build:console/);
      assert.equal(other.console.built, false);
    } finally {
      await other.close();
    }
  });
});

/** Opens the stream and collects events until `until` says stop (or the timeout passes). */
function readStream(url: string, token: string, until: (events: SseEvent[]) => boolean, onOpen: () => void, timeoutMs = 5000): Promise<{ status: number; events: SseEvent[]; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let buffer = '';
      const timer = setTimeout(() => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, events, headers: res.headers });
      }, timeoutMs);
      if (res.statusCode !== 200) {
        res.resume();
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, events, headers: res.headers });
        return;
      }
      onOpen();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer = takeSseEvents(buffer + chunk, events);
        if (until(events)) {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: 200, events, headers: res.headers });
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, events, headers: res.headers });
      });
    });
    req.on('error', (err) => (events.length ? undefined : reject(err)));
  });
}

describe('live event stream (SSE)', () => {
  let h: Harness;
  let ids: string[];
  before(async () => {
    h = await setup({ listen: true, activityIntervalMs: 100, heartbeatMs: 200 });
    ids = await seedDevices(h.store, 2);
  });
  after(() => h.close());

  it('refuses without a token, with the API\'s error', async () => {
    const res = await fetch(`${h.url}/api/events/stream?device=x`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'UNAUTHORIZED');
  });

  it('sends one device\'s task, session and device events, not another device\'s', async () => {
    const [mine, other] = ids;
    const task = { id: '1', deviceId: mine, type: 'reboot', status: 'done', payload: { type: 'reboot' } } as unknown as Task;
    const result = await readStream(
      `${h.url}/api/events/stream?device=${encodeURIComponent(mine)}`,
      h.adminToken,
      (events) => events.some((e) => e.event === 'device'),
      () => {
        setTimeout(() => {
          h.acs.events.emit('task', { ...task, deviceId: other, id: '2' });
          h.acs.events.emit('session', { deviceId: other, phase: 'started', remoteAddress: null });
          h.acs.events.emit('task', task);
          h.acs.events.emit('session', { deviceId: mine, phase: 'ended', remoteAddress: '10.0.0.1', outcome: 'completed', sessionId: '9' });
          h.acs.events.emit('device', mine);
        }, 50);
      },
    );
    assert.equal(result.status, 200);
    assert.match(String(result.headers['content-type']), /text\/event-stream/);
    assert.deepEqual(result.events.map((e) => e.event), ['hello', 'task', 'session', 'device']);
    assert.equal((result.events[1].data as Task).id, '1');
    assert.equal((result.events[2].data as { outcome: string }).outcome, 'completed');
  });

  it('redacts secrets in task events as the API does', async () => {
    const id = ids[0];
    const task = { id: '7', deviceId: id, type: 'setParameterValues', status: 'pending', payload: { type: 'setParameterValues', parameters: [{ name: 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthPassword', value: 'hunter2' }] } } as unknown as Task;
    const result = await readStream(`${h.url}/api/events/stream?device=${encodeURIComponent(id)}`, h.adminToken, (events) => events.some((e) => e.event === 'task'), () => setTimeout(() => h.acs.events.emit('task', task), 50));
    const sent = JSON.stringify(result.events.find((e) => e.event === 'task')!.data);
    assert.doesNotMatch(sent, /hunter2/);
  });

  it('without a device, sends activity summaries counting sessions', async () => {
    const result = await readStream(
      `${h.url}/api/events/stream`,
      h.adminToken,
      (events) => events.some((e) => e.event === 'activity' && (e.data as { sessionsStarted: number }).sessionsStarted === 2),
      () => {
        setTimeout(() => {
          h.acs.events.emit('session', { deviceId: 'a', phase: 'started', remoteAddress: null });
          h.acs.events.emit('session', { deviceId: 'b', phase: 'started', remoteAddress: null });
        }, 20);
      },
    );
    const activity = result.events.filter((e) => e.event === 'activity').map((e) => e.data as { sessionsStarted: number });
    assert.ok(activity.some((a) => a.sessionsStarted === 2), JSON.stringify(activity));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(h.acs.events.listenerCount('session'), 0, 'listeners are removed when the client goes');
  });

  it('ends a stream when its token is revoked (logout)', async () => {
    const login = await h.login('admin', 'correct horse battery');
    const token = login.json().token as string;
    const result = await readStream(`${h.url}/api/events/stream?device=x`, token, (events) => events.some((e) => e.event === 'end'), () => {
      setTimeout(() => void h.call('DELETE', '/api/session', { token }), 50);
    });
    assert.ok(result.events.some((e) => e.event === 'end'), JSON.stringify(result.events));
  });

  it('a server close ends open streams instead of hanging', async () => {
    const other = await setup({ listen: true });
    const reading = readStream(`${other.url}/api/events/stream?device=x`, other.adminToken, () => false, () => undefined, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await other.close();
    await reading;
    assert.ok(Date.now() - started < 5000);
  });
});

describe('fleet overview', () => {
  it('counts online/offline by each device\'s own interval, by model and firmware, and informs per minute', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-stats-'));
    const store = await openSqliteStore({ dataDir: dir });
    const now = Date.parse('2025-06-01T12:00:30.000Z');
    try {
      // seedDevices: device i seen i minutes + 30 s ago, interval 300 s → online up to 660 s.
      await seedDevices(store, 20, now);
      // Device 15 has a one-hour interval: still online 15.5 minutes after its last contact.
      await store.commitSession({
        at: new Date(now - 15 * 60_000 - 30_000).toISOString(),
        device: { id: seededId(15), manufacturer: 'Grandstream', oui: '000B82', productClass: seededId(15).split('-')[1], serialNumber: seededId(15).split('-')[2] },
        parameters: [{ name: 'Device.ManagementServer.PeriodicInformInterval', value: '3600' }],
      });
      await store.createDevice({ manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'NEVERSEEN' });
      const stats = new SqliteFleetStats({ file: join(dir, 'switchboard.sqlite'), now: () => now, cacheMs: 0 });
      try {
        const fleet = await stats.fleet();
        assert.deepEqual(fleet.devices, { total: 21, online: 12, offline: 8, never: 1 });
        const ht502 = fleet.models.find((m) => m.productClass === 'HT502')!;
        assert.equal(ht502.total, 6);
        assert.equal(ht502.never, 1);
        assert.equal(ht502.firmware.reduce((s, f) => s + f.count, 0), 6);
        assert.ok(ht502.firmware.some((f) => f.softwareVersion === null), 'the never-seen device has no version');
        const informs = await stats.informs(1);
        assert.equal(informs.buckets.length, 60);
        assert.equal(informs.buckets.reduce((s, b) => s + b.informs, 0), 20, 'one session per seeded device, all within the hour');
        // The newest bucket is the current minute (12:00), device 0's session was at 11:59:30 → the 11:59 bucket.
        assert.equal(informs.buckets[58].informs, 1);
        assert.equal(informs.buckets[58].at, '2025-06-01T11:59:00.000Z');
        const none = await new SqliteFleetStats({ file: join(dir, 'switchboard.sqlite'), now: () => now + 3 * 3_600_000, cacheMs: 0 }).informs(1);
        assert.equal(none.buckets.reduce((s, b) => s + b.informs, 0), 0, 'nothing in a window after the sessions');
      } finally {
        stats.close();
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is served at /api/overview for viewers, with the rule in words', async () => {
    const h = await setup();
    try {
      await seedDevices(h.store, 3);
      const res = await h.call('GET', '/api/overview?hours=2');
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.devices.total, 3);
      assert.equal(body.informs.buckets.length, 120);
      assert.match(body.onlineRule.description, /periodic inform intervals/);
      const bad = await h.call('GET', '/api/overview?hours=48');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().code, 'VALIDATION_FAILED');
    } finally {
      await h.close();
    }
  });
});

describe('connect now', () => {
  let h: Harness;
  before(async () => {
    h = await setup();
    await seedDevices(h.store, 1);
    await h.call('POST', '/api/users', { body: { username: 'vic', role: 'viewer', password: 'viewer-pass' } });
  });
  after(() => h.close());

  it('sends a connection request and audits it', async () => {
    const res = await h.call('POST', `/api/console/devices/${encodeURIComponent(seededId(0))}/connection-request`);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'ok');
    assert.deepEqual(h.acs.connectionRequests, [seededId(0)]);
    const audit = await h.call('GET', '/api/audit?action=device.connection-request');
    assert.equal(audit.json().entries.length, 1);
  });

  it('answers DEVICE_NOT_FOUND for an unknown device and FORBIDDEN for a viewer', async () => {
    const missing = await h.call('POST', '/api/console/devices/nope/connection-request');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'DEVICE_NOT_FOUND');
    const token = (await h.login('vic', 'viewer-pass')).json().token as string;
    const refused = await h.call('POST', `/api/console/devices/${encodeURIComponent(seededId(0))}/connection-request`, { token });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().code, 'FORBIDDEN');
  });
});
