import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enc, seedDevice, setup, type Harness } from './helpers.ts';

interface DeviceAnswer {
  id: string;
  tags: string[];
  credentials: Record<string, unknown>;
  lastContact: string | null;
  productClass: string;
  softwareVersion: string | null;
}

describe('GET /api/devices: search, sort, pagination', () => {
  let h: Harness;
  before(async () => {
    h = await setup();
    // 12 devices: 3 product classes, versions, contact times one hour apart, numeric and text parameters.
    for (let i = 0; i < 12; i++) {
      const productClass = ['HT502', 'HT814', 'GXP2170'][i % 3];
      const id = await seedDevice(
        h.store,
        {
          productClass,
          serialNumber: `SN${String(i).padStart(2, '0')}`,
          softwareVersion: i < 6 ? '1.0.3.10' : '1.0.5.2',
          lastContact: new Date(Date.UTC(2025, 0, 1, i)).toISOString(),
        },
        {
          'Device.ManagementServer.PeriodicInformInterval': String(60 * (i + 1)),
          'Device.DeviceInfo.SoftwareVersion': i < 6 ? '1.0.3.10' : '1.0.5.2',
          'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.DirectoryNumber': `10${i}`,
        },
      );
      if (i % 4 === 0) await h.store.updateDevice(id, { tags: ['lab'] });
      if (i % 2 === 0) await h.store.updateDevice(id, { tags: i % 4 === 0 ? ['even', 'lab'] : ['even'] });
    }
  });
  after(() => h.close());

  const list = async (query: string) => {
    const res = await h.call('GET', `/api/devices${query}`, { token: h.tokens.viewer });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { devices: DeviceAnswer[]; total: number; nextCursor: string | null; limit: number; offset: number };
  };

  it('lists every device sorted by id with a total', async () => {
    const page = await list('');
    assert.equal(page.total, 12);
    assert.equal(page.devices.length, 12);
    const ids = page.devices.map((d) => d.id);
    assert.deepEqual(ids, [...ids].sort());
    assert.equal(page.nextCursor, null);
  });

  it('paginates with limit/offset and keeps total', async () => {
    const p1 = await list('?limit=5&offset=0');
    const p2 = await list('?limit=5&offset=5');
    const p3 = await list('?limit=5&offset=10');
    assert.deepEqual([p1.devices.length, p2.devices.length, p3.devices.length], [5, 5, 2]);
    assert.equal(p2.total, 12);
    const all = [...p1.devices, ...p2.devices, ...p3.devices].map((d) => d.id);
    assert.equal(new Set(all).size, 12);
  });

  it('count=false leaves the total out and pages the same devices', async () => {
    const counted = await list('?limit=5&tag=even');
    const uncounted = await list('?limit=5&tag=even&count=false');
    assert.equal(counted.total, 6);
    assert.equal('total' in uncounted, false);
    assert.deepEqual(uncounted.devices.map((d) => d.id), counted.devices.map((d) => d.id));
    assert.equal(uncounted.nextCursor, counted.nextCursor);
    const res = await h.call('GET', '/api/devices?count=maybe', { token: h.tokens.viewer });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.body, /count/);
  });

  it('paginates with the cursor across the whole list without repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?limit=5&sort=lastContact&order=desc${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...page.devices.map((d) => d.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    assert.equal(pages, 3);
    assert.equal(seen.length, 12);
    assert.equal(new Set(seen).size, 12);
  });

  it('sorts by lastContact descending', async () => {
    const page = await list('?sort=lastContact&order=desc');
    const times = page.devices.map((d) => d.lastContact!);
    assert.deepEqual(times, [...times].sort().reverse());
    assert.equal(page.devices[0].id, '000B82-GXP2170-SN11');
  });

  it('filters by product class, software version, tag, id substring and exact ids', async () => {
    assert.equal((await list('?productClass=HT814')).total, 4);
    assert.equal((await list('?softwareVersion=1.0.5.2')).total, 6);
    assert.equal((await list('?tag=lab')).total, 3);
    assert.equal((await list('?tag=lab&tag=even')).total, 3);
    assert.equal((await list('?tag=even')).total, 6);
    assert.equal((await list('?q=sn1')).total, 2); // SN10, SN11, case-insensitive
    const exact = await list('?id=000B82-HT502-SN00&id=000B82-HT814-SN01');
    assert.deepEqual(exact.devices.map((d) => d.id), ['000B82-HT502-SN00', '000B82-HT814-SN01']);
  });

  it('filters by a parameter value: equals, prefix, numeric and text comparisons', async () => {
    const where = (expr: string) => list(`?where=${encodeURIComponent(expr)}`);
    assert.equal((await where('Device.DeviceInfo.SoftwareVersion eq 1.0.3.10')).total, 6);
    assert.equal((await where('Device.DeviceInfo.SoftwareVersion prefix 1.0.5')).total, 6);
    assert.equal((await where('Device.DeviceInfo.SoftwareVersion ne 1.0.5.2')).total, 6);
    // Intervals 60..720: numeric comparison, not text ("120" < "60" as text).
    assert.equal((await where('Device.ManagementServer.PeriodicInformInterval gte 300')).total, 8);
    assert.equal((await where('Device.ManagementServer.PeriodicInformInterval lt 120')).total, 1);
    assert.equal((await where('Device.ManagementServer.PeriodicInformInterval lte 120')).total, 2);
    assert.equal((await where('Device.ManagementServer.PeriodicInformInterval gt 700')).total, 1);
    // Quoted: text comparison in code-point order: "660" and "720" are above "600", "60" is not.
    const text = await where('Device.ManagementServer.PeriodicInformInterval gt "600"');
    assert.deepEqual(text.devices.map((d) => d.id), ['000B82-GXP2170-SN11', '000B82-HT814-SN10']);
    // Numerically 60 < 120 (one match above); as text "60" > "120", so nothing is below "120".
    const textLt = await where('Device.ManagementServer.PeriodicInformInterval lt "120"');
    assert.deepEqual(textLt.devices.map((d) => d.id), []);
    // Two conditions AND together.
    const both = await list(
      `?where=${encodeURIComponent('Device.DeviceInfo.SoftwareVersion eq 1.0.5.2')}&where=${encodeURIComponent('Device.ManagementServer.PeriodicInformInterval lte 480')}`,
    );
    assert.deepEqual(both.devices.map((d) => d.id), ['000B82-HT502-SN06', '000B82-HT814-SN07']);
  });

  it('filters by last contact range (any time zone) combined with sorting and paging', async () => {
    const after = encodeURIComponent('2025-01-01T05:00:00+01:00'); // 04:00Z
    const before = encodeURIComponent('2025-01-01T08:00:00Z');
    const page = await list(`?lastContactAfter=${after}&lastContactBefore=${before}&sort=lastContact&limit=2`);
    assert.ok(page.total >= 4 && page.total <= 5, String(page.total));
    assert.equal(page.devices.length, 2);
    assert.ok(page.devices.every((d) => d.lastContact! >= '2025-01-01T04:00:00.000Z'));
  });

  it('answers 400 naming the problem for bad search parameters', async () => {
    const cases: [string, string, RegExp][] = [
      ['?limit=0', 'VALIDATION_FAILED', /\/limit/],
      ['?limit=abc', 'VALIDATION_FAILED', /\/limit: Expected integer/],
      ['?sort=color', 'VALIDATION_FAILED', /\/sort/],
      ['?colour=red', 'VALIDATION_FAILED', /\/colour: Unexpected property/],
      ['?lastContactAfter=yesterday', 'VALIDATION_FAILED', /\/lastContactAfter/],
      ['?lastContactAfter=2025-13-45T00:00:00Z', 'VALIDATION_FAILED', /\/lastContactAfter: Expected a real date/],
      [`?where=${encodeURIComponent('Device.X between 1')}`, 'INVALID_FILTER', /unknown op "between"/],
      [`?where=${encodeURIComponent('Device.X')}`, 'INVALID_FILTER', /expected "<parameter name> <op> <value>"/],
      [`?where=${encodeURIComponent('Device.X eq')}`, 'INVALID_FILTER', /value is missing/],
      ['?cursor=garbage', 'INVALID_CURSOR', /cursor/],
    ];
    for (const [query, code, message] of cases) {
      const res = await h.call('GET', `/api/devices${query}`, { token: h.tokens.viewer });
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
      assert.equal(res.json().code, code, query);
      assert.match(res.json().message, message, query);
    }
  });
});

describe('device detail, pre-registration, credentials, deletion', () => {
  let h: Harness;
  let id: string;
  before(async () => {
    h = await setup();
    id = await seedDevice(h.store, { productClass: 'HT502', serialNumber: '000B82AABBCC', softwareVersion: '1.0.3.10' });
    await h.store.updateDevice(id, {
      credentials: { acsUsername: 'acs-user', acsPassword: 'acs-secret-1', connectionRequestUsername: 'cr-user', connectionRequestPassword: 'cr-secret-2' },
    });
  });
  after(() => h.close());

  it('shows a device without its passwords, only whether they are set', async () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const res = await h.call('GET', `/api/devices/${enc(id)}`, { token: h.tokens[role] });
      assert.equal(res.statusCode, 200);
      const device = res.json() as DeviceAnswer;
      assert.equal(device.id, id);
      assert.deepEqual(device.credentials, { acsUsername: 'acs-user', connectionRequestUsername: 'cr-user', acsPasswordSet: true, connectionRequestPasswordSet: true });
      assert.ok(!res.body.includes('acs-secret-1') && !res.body.includes('cr-secret-2'));
    }
  });

  it('shows passwords to an admin who asks, and audits that read', async () => {
    const res = await h.call('GET', `/api/devices/${enc(id)}?includeSecrets=true`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().credentials.acsPassword, 'acs-secret-1');
    assert.equal(res.json().credentials.connectionRequestPassword, 'cr-secret-2');
    const audit = await h.store.listAudit({ action: 'secrets.read', target: id });
    assert.equal(audit.entries.length, 1);
    assert.equal(audit.entries[0].actor, 'admin');
    assert.ok(!JSON.stringify(audit.entries[0]).includes('secret-'));
  });

  it('refuses includeSecrets to viewers and operators (403) and audits nothing for them', async () => {
    const before = (await h.store.listAudit({ limit: 1000 })).entries.length;
    for (const role of ['viewer', 'operator'] as const) {
      const res = await h.call('GET', `/api/devices/${enc(id)}?includeSecrets=true`, { token: h.tokens[role] });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'FORBIDDEN');
      assert.ok(!res.body.includes('secret-'));
    }
    assert.equal((await h.store.listAudit({ limit: 1000 })).entries.length, before);
  });

  it('answers 404 DEVICE_NOT_FOUND for an unknown id, naming it', async () => {
    const res = await h.call('GET', `/api/devices/${enc('000B82-HT502-NOPE')}`);
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { code: 'DEVICE_NOT_FOUND', message: 'No device has the id "000B82-HT502-NOPE".' });
  });

  it('handles URL-encoded ids with spaces and slashes', async () => {
    const odd = await seedDevice(h.store, { productClass: 'GXV 3140/B', serialNumber: 'X+1' });
    const res = await h.call('GET', `/api/devices/${enc(odd)}`);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().id, '000B82-GXV 3140/B-X+1');
    const tag = await h.call('PUT', `/api/devices/${enc(odd)}/tags/odd`);
    assert.equal(tag.statusCode, 200);
  });

  it('pre-registers a device (201), refuses a duplicate (409), and keeps credentials for admins', async () => {
    const body = { oui: '000B82', productClass: 'HT814', serialNumber: 'NEW1', manufacturer: 'Grandstream', tags: ['z', 'a', 'z'] };
    const res = await h.call('POST', '/api/devices', { token: h.tokens.operator, body });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().id, '000B82-HT814-NEW1');
    assert.deepEqual(res.json().tags, ['a', 'z']);
    assert.equal(res.headers.location, '/api/devices/000B82-HT814-NEW1');
    const dup = await h.call('POST', '/api/devices', { token: h.tokens.operator, body });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'DEVICE_EXISTS');
    const withCreds = { oui: '000B82', productClass: 'HT814', serialNumber: 'NEW2', credentials: { connectionRequestPassword: 'pw-NEW2' } };
    const refused = await h.call('POST', '/api/devices', { token: h.tokens.operator, body: withCreds });
    assert.equal(refused.statusCode, 403);
    const ok = await h.call('POST', '/api/devices', { body: withCreds });
    assert.equal(ok.statusCode, 201);
    assert.equal(ok.json().credentials.connectionRequestPasswordSet, true);
    assert.ok(!ok.body.includes('pw-NEW2'));
    // The audit entry keeps the request, with the password redacted.
    const audit = await h.store.listAudit({ action: 'device.create', target: '000B82-HT814-NEW2' });
    const created = audit.entries.find((e) => (e.detail as { status: number }).status === 201);
    assert.ok(created);
    assert.ok(!JSON.stringify(created).includes('pw-NEW2'));
    assert.match(JSON.stringify(created.detail), /\[redacted\]/);
  });

  it('answers 400 naming the field for a bad pre-registration', async () => {
    const res = await h.call('POST', '/api/devices', { body: { oui: 'xyz', productClass: 'HT814', serialNumber: 'S' } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /\/oui/);
    const missing = await h.call('POST', '/api/devices', { body: { oui: '000B82', productClass: 'HT814' } });
    assert.match(missing.json().message, /\/serialNumber: Expected required property/);
  });

  it('PATCH replaces tags and sets credentials (admin only for credentials)', async () => {
    const tags = await h.call('PATCH', `/api/devices/${enc(id)}`, { token: h.tokens.operator, body: { tags: ['b', 'a'] } });
    assert.equal(tags.statusCode, 200);
    assert.deepEqual(tags.json().tags, ['a', 'b']);
    const creds = await h.call('PATCH', `/api/devices/${enc(id)}`, { token: h.tokens.operator, body: { credentials: { acsPassword: 'x' } } });
    assert.equal(creds.statusCode, 403);
    const cleared = await h.call('PATCH', `/api/devices/${enc(id)}`, { body: { credentials: { acsPassword: null } } });
    assert.equal(cleared.statusCode, 200);
    assert.equal(cleared.json().credentials.acsPasswordSet, false);
    assert.equal(cleared.json().credentials.connectionRequestPasswordSet, true);
    const empty = await h.call('PATCH', `/api/devices/${enc(id)}`, { body: {} });
    assert.equal(empty.statusCode, 400);
    const unknown = await h.call('PATCH', `/api/devices/${enc('000B82-X-Y')}`, { body: { tags: [] } });
    assert.equal(unknown.statusCode, 404);
  });

  it('DELETE removes the device (204), then 404; 409 while the device is in a session', async () => {
    const victim = await seedDevice(h.store, { productClass: 'HT502', serialNumber: 'DEL1' });
    h.acs.inSession.add(victim);
    const busy = await h.call('DELETE', `/api/devices/${enc(victim)}`);
    assert.equal(busy.statusCode, 409);
    assert.equal(busy.json().code, 'DEVICE_IN_SESSION');
    h.acs.inSession.delete(victim);
    const res = await h.call('DELETE', `/api/devices/${enc(victim)}`);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal(await h.store.getDevice(victim), null);
    const again = await h.call('DELETE', `/api/devices/${enc(victim)}`);
    assert.equal(again.statusCode, 404);
  });
});

describe('device parameters, tags and events', () => {
  let h: Harness;
  let id: string;
  before(async () => {
    h = await setup();
    id = await seedDevice(
      h.store,
      { productClass: 'HT502', serialNumber: 'P1' },
      {
        'Device.DeviceInfo.SoftwareVersion': '1.0.3.10',
        'Device.ManagementServer.URL': 'http://acs.example.net:7547/',
        'Device.ManagementServer.ConnectionRequestPassword': 'cr-pass-XYZ',
        'Device.ManagementServer.ConnectionRequestUsername': 'cruser',
        'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthPassword': 'sip-pass-XYZ',
        'Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword': '',
      },
    );
  });
  after(() => h.close());

  it('lists parameters sorted, filtered by prefix', async () => {
    const res = await h.call('GET', `/api/devices/${enc(id)}/parameters?prefix=${encodeURIComponent('Device.ManagementServer.')}`, { token: h.tokens.viewer });
    assert.equal(res.statusCode, 200);
    const names = res.json().parameters.map((p: { name: string }) => p.name);
    assert.deepEqual(names, ['Device.ManagementServer.ConnectionRequestPassword', 'Device.ManagementServer.ConnectionRequestUsername', 'Device.ManagementServer.URL']);
  });

  it('hides secret parameter values unless an admin asks (audited)', async () => {
    const res = await h.call('GET', `/api/devices/${enc(id)}/parameters`, { token: h.tokens.viewer });
    const values = Object.fromEntries(res.json().parameters.map((p: { name: string; value: string }) => [p.name, p.value]));
    assert.equal(values['Device.ManagementServer.ConnectionRequestPassword'], '[redacted]');
    assert.equal(values['Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthPassword'], '[redacted]');
    assert.equal(values['Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword'], '', 'an empty secret stays visibly empty');
    assert.equal(values['Device.ManagementServer.ConnectionRequestUsername'], 'cruser');
    assert.ok(!res.body.includes('XYZ'));
    const viewerAsks = await h.call('GET', `/api/devices/${enc(id)}/parameters?includeSecrets=true`, { token: h.tokens.viewer });
    assert.equal(viewerAsks.statusCode, 403);
    const admin = await h.call('GET', `/api/devices/${enc(id)}/parameters?includeSecrets=true`);
    assert.ok(admin.body.includes('cr-pass-XYZ') && admin.body.includes('sip-pass-XYZ'));
    const audit = await h.store.listAudit({ action: 'secrets.read', target: id });
    assert.equal(audit.entries.length, 1);
    assert.equal((audit.entries[0].detail as { route: string }).route, '/api/devices/:id/parameters');
  });

  it('answers 404 for the parameters of an unknown device', async () => {
    const res = await h.call('GET', `/api/devices/${enc('000B82-NO-NO')}/parameters`);
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'DEVICE_NOT_FOUND');
  });

  it('adds tags idempotently and removes them', async () => {
    const a = await h.call('PUT', `/api/devices/${enc(id)}/tags/zeta`, { token: h.tokens.operator });
    const b = await h.call('PUT', `/api/devices/${enc(id)}/tags/alpha`, { token: h.tokens.operator });
    const c = await h.call('PUT', `/api/devices/${enc(id)}/tags/alpha`, { token: h.tokens.operator });
    assert.deepEqual([a.statusCode, b.statusCode, c.statusCode], [200, 200, 200]);
    assert.deepEqual(c.json(), { deviceId: id, tags: ['alpha', 'zeta'] });
    assert.deepEqual((await h.store.getDevice(id))?.tags, ['alpha', 'zeta']);
    const del = await h.call('DELETE', `/api/devices/${enc(id)}/tags/zeta`, { token: h.tokens.operator });
    assert.equal(del.statusCode, 200);
    assert.deepEqual(del.json().tags, ['alpha']);
    const gone = await h.call('DELETE', `/api/devices/${enc(id)}/tags/zeta`, { token: h.tokens.operator });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().code, 'TAG_NOT_FOUND');
    const bad = await h.call('PUT', `/api/devices/${enc(id)}/tags/${encodeURIComponent('a,b')}`, { token: h.tokens.operator });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message, /\/tag/);
    const noDevice = await h.call('PUT', `/api/devices/${enc('000B82-NO-NO')}/tags/x`, { token: h.tokens.operator });
    assert.equal(noDevice.statusCode, 404);
  });

  it('lists sessions with their events, newest first, paginated', async () => {
    for (let i = 0; i < 3; i++) {
      const at = new Date(Date.UTC(2025, 1, 1, i)).toISOString();
      await h.store.commitSession({
        at,
        device: { id, oui: '000B82', productClass: 'HT502', serialNumber: 'P1', manufacturer: 'Grandstream', lastContact: at },
        session: {
          deviceId: id,
          startedAt: at,
          endedAt: at,
          events: i === 0 ? [{ eventCode: '0 BOOTSTRAP', commandKey: '' }, { eventCode: '1 BOOT', commandKey: '' }] : [{ eventCode: '2 PERIODIC', commandKey: '' }],
          remoteAddress: '192.0.2.10',
          cwmpVersion: '1.2',
          outcome: 'completed',
          rpcCount: i,
          detail: null,
        },
      });
    }
    const first = await h.call('GET', `/api/devices/${enc(id)}/events?limit=2`, { token: h.tokens.viewer });
    assert.equal(first.statusCode, 200);
    const p1 = first.json();
    assert.equal(p1.sessions.length, 2);
    assert.equal(p1.sessions[0].startedAt, '2025-02-01T02:00:00.000Z');
    assert.deepEqual(p1.sessions[0].events, [{ eventCode: '2 PERIODIC', commandKey: '' }]);
    assert.notEqual(p1.nextCursor, null);
    const p2 = (await h.call('GET', `/api/devices/${enc(id)}/events?limit=2&cursor=${encodeURIComponent(p1.nextCursor)}`)).json();
    assert.equal(p2.sessions.length, 1);
    assert.deepEqual(p2.sessions[0].events.map((e: { eventCode: string }) => e.eventCode), ['0 BOOTSTRAP', '1 BOOT']);
    assert.equal(p2.nextCursor, null);
    const unknown = await h.call('GET', `/api/devices/${enc('000B82-NO-NO')}/events`);
    assert.equal(unknown.statusCode, 404);
  });
});
