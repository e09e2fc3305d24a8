import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scanFaults } from '../../src/api/routes/faults.ts';
import type { AuditEntry, FaultRecord } from '../../src/store/types.ts';
import { enc, seedDevice, setup, type Harness } from './helpers.ts';

describe('GET /api/faults and DELETE /api/faults/{id}', () => {
  let h: Harness;
  let a: string;
  let b: string;
  before(async () => {
    h = await setup();
    a = await seedDevice(h.store, { productClass: 'HT502', serialNumber: 'F1' });
    b = await seedDevice(h.store, { productClass: 'HT814', serialNumber: 'F2' });
    // 20 faults, one minute apart: alternating devices, codes 9005 / 9002 / session_timeout.
    const codes = ['9005', '9002', 'session_timeout'];
    for (let i = 0; i < 20; i++) {
      const at = new Date(Date.UTC(2025, 2, 1, 0, i)).toISOString();
      const deviceId = i % 2 === 0 ? a : b;
      await h.store.commitSession({
        at,
        device: { id: deviceId, oui: '000B82', productClass: deviceId === a ? 'HT502' : 'HT814', serialNumber: deviceId === a ? 'F1' : 'F2', manufacturer: 'Grandstream' },
        faults: [{ deviceId, taskId: null, source: codes[i % 3] === 'session_timeout' ? 'session' : 'cpe', code: codes[i % 3], message: `fault ${i}`, detail: { i }, at }],
      });
    }
  });
  after(() => h.close());

  type Page = { faults: FaultRecord[]; nextCursor: string | null };
  const get = async (query: string): Promise<Page> => {
    const res = await h.call('GET', `/api/faults${query}`, { token: h.tokens.viewer });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  it('lists faults newest first', async () => {
    const page = await get('');
    assert.equal(page.faults.length, 20);
    assert.equal(page.faults[0].message, 'fault 19');
    const times = page.faults.map((f) => f.at);
    assert.deepEqual(times, [...times].sort().reverse());
  });

  it('filters by device, code and time window', async () => {
    assert.equal((await get(`?deviceId=${enc(a)}`)).faults.length, 10);
    const code = await get('?code=9005');
    assert.deepEqual(code.faults.map((f) => f.message), ['fault 18', 'fault 15', 'fault 12', 'fault 9', 'fault 6', 'fault 3', 'fault 0']);
    assert.equal((await get('?code=9005&code=9002')).faults.length, 14);
    const window = await get(`?since=${encodeURIComponent('2025-03-01T00:05:00Z')}&until=${encodeURIComponent('2025-03-01T00:09:00Z')}`);
    assert.deepEqual(window.faults.map((f) => f.message), ['fault 9', 'fault 8', 'fault 7', 'fault 6', 'fault 5']);
    const combined = await get(`?deviceId=${enc(b)}&code=session_timeout`);
    assert.deepEqual(combined.faults.map((f) => f.message), ['fault 17', 'fault 11', 'fault 5']);
  });

  it('paginates filtered results with exact cursors', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await get(`?code=9002&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...page.faults.map((f) => f.message));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    // 9002 faults: i = 1, 4, 7, 10, 13, 16, 19.
    assert.deepEqual(seen, ['fault 19', 'fault 16', 'fault 13', 'fault 10', 'fault 7', 'fault 4', 'fault 1']);
  });

  it('scanFaults stops at its scan budget and resumes from the cursor', async () => {
    const accept = (f: FaultRecord) => f.code === 'nothing-matches';
    const first = await scanFaults(h.store, {}, { accept }, 2, undefined, 3);
    assert.deepEqual(first.faults, []);
    assert.notEqual(first.nextCursor, null, 'a budget-limited scan hands back a cursor');
    let cursor = first.nextCursor;
    let rounds = 1;
    while (cursor !== null && rounds < 20) {
      cursor = (await scanFaults(h.store, {}, { accept }, 2, cursor, 3)).nextCursor;
      rounds++;
    }
    assert.equal(cursor, null);
    // Each call reads whole pages of 2 until it has read at least 3 faults: 4 per call, 20 faults.
    assert.ok(rounds >= 5, `20 faults read ~4 per call need at least 5 calls, got ${rounds}`);
  });

  it('answers 400 for a bad time or limit', async () => {
    const res = await h.call('GET', '/api/faults?since=last-week');
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /\/since/);
    assert.equal((await h.call('GET', '/api/faults?limit=100000')).statusCode, 400);
  });

  it('deletes one fault (operator), 404 for an unknown one, 403 for a viewer', async () => {
    const victim = (await get('?limit=1')).faults[0];
    assert.equal((await h.call('DELETE', `/api/faults/${victim.id}`, { token: h.tokens.viewer })).statusCode, 403);
    const res = await h.call('DELETE', `/api/faults/${victim.id}`, { token: h.tokens.operator });
    assert.equal(res.statusCode, 204);
    assert.ok(!(await get('')).faults.some((f) => f.id === victim.id));
    const again = await h.call('DELETE', `/api/faults/${victim.id}`, { token: h.tokens.operator });
    assert.equal(again.statusCode, 404);
    assert.equal(again.json().code, 'FAULT_NOT_FOUND');
  });
});

describe('audit log', () => {
  let h: Harness;
  let id: string;
  before(async () => {
    h = await setup();
    id = await seedDevice(h.store, { productClass: 'HT502', serialNumber: 'A1' });
  });
  after(() => h.close());

  const audit = async (query = ''): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> => {
    const res = await h.call('GET', `/api/audit${query}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  it('records every successful write with actor, action, target, route and status', async () => {
    const task = (await h.call('POST', `/api/devices/${enc(id)}/tasks`, { token: h.tokens.operator, body: { type: 'reboot' } })).json().task;
    await h.call('PUT', `/api/devices/${enc(id)}/tags/lab`, { token: h.tokens.operator });
    await h.call('DELETE', `/api/devices/${enc(id)}/tags/lab`, { token: h.tokens.operator });
    await h.call('DELETE', `/api/tasks/${task.id}`, { token: h.tokens.operator });
    const created = (await h.call('POST', '/api/tokens', { body: { name: 'bot', role: 'viewer' } })).json();
    await h.call('DELETE', `/api/tokens/${created.token.id}`);
    await h.call('PATCH', `/api/devices/${enc(id)}`, { body: { tags: ['x'] } });

    const { entries } = await audit('?limit=50');
    const summary = entries.map((e) => `${e.actor} ${e.action} ${e.target} ${(e.detail as { status: number }).status}`).reverse();
    assert.deepEqual(summary, [
      `operator task.create ${id} 202`,
      `operator device.tag.add ${id} 200`,
      `operator device.tag.remove ${id} 200`,
      `operator task.cancel ${task.id} 200`,
      `admin token.create ${created.token.id} 201`,
      `admin token.revoke ${created.token.id} 200`,
      `admin device.update ${id} 200`,
    ]);
    const taskEntry = entries.find((e) => e.action === 'task.create')!;
    assert.deepEqual(
      { ...(taskEntry.detail as object), tokenId: 'x' },
      { method: 'POST', route: '/api/devices/:id/tasks', status: 202, tokenId: 'x', role: 'operator', body: { type: 'reboot' }, query: { connectionRequest: false, wait: 0 }, taskId: task.id },
    );
    const tagEntry = entries.find((e) => e.action === 'device.tag.add')!;
    assert.equal((tagEntry.detail as { tag: string }).tag, 'lab');
    assert.ok(Date.parse(taskEntry.at) > 0);
    // Reads are not audited (only secret reads).
    assert.ok(!entries.some((e) => (e.detail as { method: string }).method === 'GET'));
  });

  it('records refused and failed writes too, with the error code, but not anonymous ones', async () => {
    await h.call('DELETE', `/api/devices/${enc(id)}`, { token: h.tokens.viewer });
    await h.call('POST', `/api/devices/${enc(id)}/tasks`, { token: h.tokens.operator, body: { type: 'nope' } });
    await h.call('POST', `/api/devices/${enc(id)}/tasks`, { token: null, body: { type: 'reboot' } });
    const { entries } = await audit('?limit=3');
    assert.equal(entries[0].action, 'task.create');
    assert.equal((entries[0].detail as { error: string }).error, 'INVALID_TASK');
    assert.equal((entries[0].detail as { status: number }).status, 400);
    assert.equal(entries[1].action, 'device.delete');
    assert.equal(entries[1].actor, 'viewer');
    assert.equal((entries[1].detail as { error: string }).error, 'FORBIDDEN');
  });

  it('filters by actor, target, action and time, and paginates', async () => {
    const byActor = await audit('?actor=operator&limit=100');
    assert.ok(byActor.entries.length >= 5);
    assert.ok(byActor.entries.every((e) => e.actor === 'operator'));
    const byAction = await audit('?action=token.create');
    assert.equal(byAction.entries.length, 1);
    const byTarget = await audit(`?target=${enc(id)}&limit=100`);
    assert.ok(byTarget.entries.length >= 4 && byTarget.entries.every((e) => e.target === id));
    const future = await audit(`?since=${encodeURIComponent('2100-01-01T00:00:00Z')}`);
    assert.equal(future.entries.length, 0);
    const past = await audit(`?until=${encodeURIComponent('2000-01-01T00:00:00Z')}`);
    assert.equal(past.entries.length, 0);
    const p1 = await audit('?limit=2');
    const p2 = await audit(`?limit=2&cursor=${encodeURIComponent(p1.nextCursor!)}`);
    assert.equal(p2.entries.length, 2);
    assert.ok(p2.entries.every((e) => !p1.entries.some((x) => x.id === e.id)));
  });

  it('never stores token secrets or passwords', async () => {
    const created = (await h.call('POST', '/api/tokens', { body: { name: 'leak-check', role: 'admin' } })).json();
    await h.call('PATCH', `/api/devices/${enc(id)}`, { body: { credentials: { acsPassword: 'hunter2-SECRET', connectionRequestPassword: 'cr-SECRET' } } });
    const text = JSON.stringify((await audit('?limit=1000')).entries);
    assert.ok(!text.includes(created.secret));
    assert.ok(!text.includes('hunter2-SECRET') && !text.includes('cr-SECRET'));
    assert.ok(!text.includes(h.tokens.admin));
  });
});
