import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDeviceQuery } from './device-query.ts';
import { openSqliteStore } from './index.ts';
import type { DeviceQuery } from '../types.ts';

const NAME = 'Device.DeviceInfo.SoftwareVersion';
const USER = 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthUserName';

describe('device queries by parameter value (SQLite)', () => {
  it('builds the EXISTS shape by default; the driving condition joins from the index (id order) or lists matches first', () => {
    const q: DeviceQuery = { parameters: [{ name: NAME, op: 'eq', value: '1.0' }, { name: USER, op: 'eq', value: 'u1' }] };
    const plain = buildDeviceQuery(q);
    assert.equal((plain.pageSql.match(/EXISTS \(SELECT 1 FROM parameters/g) ?? []).length, 2);
    const joined = buildDeviceQuery(q, { driver: 1 });
    assert.match(joined.pageSql, /FROM parameters pd JOIN devices d ON d\.id = pd\.device_id WHERE .*pd\.name = \? AND pd\.value = \?.* ORDER BY pd\.device_id ASC/);
    assert.equal((joined.pageSql.match(/EXISTS \(SELECT 1 FROM parameters/g) ?? []).length, 1);
    const sorted = buildDeviceQuery({ ...q, sort: { field: 'lastContact', direction: 'desc' } }, { driver: 1 });
    assert.match(sorted.pageSql, /FROM devices d WHERE .*d\.id IN \(SELECT p\.device_id FROM parameters p WHERE p\.name = \? AND p\.value = \?\)/);
    // same bound values whatever the shape, in the same order
    assert.deepEqual(joined.pageParams, plain.pageParams);
    assert.deepEqual(joined.countParams, plain.countParams);
    assert.throws(() => buildDeviceQuery({ parameters: [{ name: NAME, op: 'prefix', value: '1' }] }, { driver: 0 }), /eq/);
  });

  it('counts a lone parameter condition from the index, with the same result', () => {
    const alone = buildDeviceQuery({ parameters: [{ name: NAME, op: 'prefix', value: '1.' }] });
    assert.match(alone.countSql, /^SELECT COUNT\(\*\) AS n FROM parameters p WHERE p\.name = \? AND substr/);
    const withOther = buildDeviceQuery({ productClass: 'HT502', parameters: [{ name: NAME, op: 'eq', value: '1' }] });
    assert.match(withOther.countSql, /FROM devices d/);
  });

  it('answers like a brute-force model whether a condition is selective or not', async (t) => {
    const store = openSqliteStore({ file: ':memory:' });
    t.after(() => store.close());
    const devices = 240;
    const at = '2025-01-01T00:00:00.000Z';
    for (let n = 0; n < devices; n++) {
      const serial = `S${String(n).padStart(4, '0')}`;
      await store.commitSession({
        at,
        device: { id: `000B82-HT502-${serial}`, manufacturer: 'G', oui: '000B82', productClass: n % 3 === 0 ? 'HT503' : 'HT502', serialNumber: serial, lastContact: at },
        parameters: [
          { name: NAME, value: `1.0.${n % 4}`, type: 'string' },
          { name: USER, value: `u${n}`, type: 'string' },
        ],
      });
    }
    const all = (await store.queryDevices({ limit: 1000 })).devices;
    const value = async (id: string, name: string) => (await store.getParameters(id, { names: [name] }))[0]?.value ?? null;
    const model = new Map<string, { sw: string | null; user: string | null; pc: string }>();
    for (const d of all) model.set(d.id, { sw: await value(d.id, NAME), user: await value(d.id, USER), pc: d.productClass });
    const cases: { q: DeviceQuery; keep: (m: { sw: string | null; user: string | null; pc: string }) => boolean }[] = [
      { q: { parameters: [{ name: USER, op: 'eq', value: 'u17' }] }, keep: (m) => m.user === 'u17' },
      { q: { parameters: [{ name: NAME, op: 'eq', value: '1.0.2' }] }, keep: (m) => m.sw === '1.0.2' },
      { q: { parameters: [{ name: NAME, op: 'eq', value: '1.0.2' }, { name: USER, op: 'eq', value: 'u18' }] }, keep: (m) => m.sw === '1.0.2' && m.user === 'u18' },
      { q: { parameters: [{ name: NAME, op: 'eq', value: '1.0.2' }, { name: USER, op: 'eq', value: 'u17' }] }, keep: () => false },
      { q: { productClass: 'HT503', parameters: [{ name: NAME, op: 'eq', value: '1.0.0' }] }, keep: (m) => m.pc === 'HT503' && m.sw === '1.0.0' },
      { q: { parameters: [{ name: USER, op: 'eq', value: 'nobody' }] }, keep: () => false },
      { q: { parameters: [{ name: NAME, op: 'eq', value: '1.0.1' }], sort: { field: 'id', direction: 'desc' } }, keep: (m) => m.sw === '1.0.1' },
      { q: { parameters: [{ name: NAME, op: 'eq', value: '1.0.3' }, { name: NAME, op: 'ne', value: 'x' }], sort: { field: 'serialNumber', direction: 'asc' } }, keep: (m) => m.sw === '1.0.3' },
    ];
    for (const { q, keep } of cases) {
      const expected = [...model.entries()].filter(([, m]) => keep(m)).map(([id]) => id).sort();
      if (q.sort?.direction === 'desc') expected.reverse();
      // page through with a small limit to exercise cursors on both shapes
      const got: string[] = [];
      let cursor: string | undefined;
      let total = -1;
      do {
        const page = await store.queryDevices({ ...q, limit: 7, cursor, count: true });
        got.push(...page.devices.map((d) => d.id));
        total = page.total!;
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      assert.deepEqual(got, expected, JSON.stringify(q));
      assert.equal(total, expected.length, JSON.stringify(q));
      assert.equal(await store.countDevices(q), expected.length, JSON.stringify(q));
    }
  });
});
