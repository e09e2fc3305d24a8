/**
 * The storage contract: behaviour every `Store` backend must show. A backend's test file calls
 * `runStoreContract('sqlite', () => openEmptyStore())`; `makeStore` must return a new, EMPTY store
 * each time (the suite closes it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { StoreError, makeDeviceId, redactDevice, type DeviceWrite, type FaultQuery, type SessionCommit, type Store } from './types.ts';

const T0 = '2025-01-01T00:00:00.000Z';
const T1 = '2025-01-01T00:05:00.000Z';
const T2 = '2025-01-02T00:00:00.000Z';

function identity(serial: string, productClass = 'HT502') {
  return { manufacturer: 'Grandstream', oui: '000B82', productClass, serialNumber: serial };
}

function deviceWrite(serial: string, extra: Partial<DeviceWrite> = {}, productClass = 'HT502'): DeviceWrite {
  const id = identity(serial, productClass);
  return { id: makeDeviceId(id), ...id, ...extra };
}

function inform(serial: string, at: string, extra: Partial<SessionCommit> = {}, productClass = 'HT502'): SessionCommit {
  return { at, device: deviceWrite(serial, { lastContact: at }, productClass), ...extra };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function rejectsWith(p: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof StoreError && err.code === code);
}

/** Registers the contract tests for one backend. */
export function runStoreContract(name: string, makeStore: () => Promise<Store>): void {
  const withStore = (fn: (store: Store) => Promise<void>) => async () => {
    const store = await makeStore();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  describe(`Store contract: ${name}`, () => {
    describe('devices', () => {
      it('commitSession() creates a device on first contact and keeps firstContact afterwards', withStore(async (store) => {
        const r1 = await store.commitSession(inform('A1', T0));
        assert.equal(r1.created, true);
        const r2 = await store.commitSession(inform('A1', T1));
        assert.equal(r2.created, false);
        const d = await store.getDevice('000B82-HT502-A1');
        assert.ok(d);
        assert.equal(d.firstContact, T0);
        assert.equal(d.lastContact, T1);
        assert.equal(d.serialNumber, 'A1');
        assert.deepEqual(d.tags, []);
        assert.equal(d.credentials.acsPassword, null);
      }));

      it('commitSession() leaves fields that the write omits and clears fields set to null', withStore(async (store) => {
        await store.commitSession({ at: T0, device: deviceWrite('A1', { lastContact: T0, softwareVersion: '1.0', sourceAddress: '10.0.0.1', lastBoot: T0 }) });
        await store.commitSession({ at: T1, device: deviceWrite('A1', { lastContact: T1, sourceAddress: null }) });
        const d = await store.getDevice('000B82-HT502-A1');
        assert.equal(d?.softwareVersion, '1.0');
        assert.equal(d?.lastBoot, T0);
        assert.equal(d?.sourceAddress, null);
      }));

      it('a commit after getDevice() writes what changed since the read (commits, tag changes, deletion)', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        const sw = (v: string, at: string) => ({ at, device: deviceWrite('A1', { lastContact: at, softwareVersion: v }) });
        await store.commitSession(sw('1.0', T0));
        assert.equal((await store.getDevice(id))?.softwareVersion, '1.0');
        await store.commitSession(sw('2.0', T1));
        // no read in between: the value read before the last commit must not count as the stored one
        await store.commitSession(sw('1.0', T2));
        assert.equal((await store.getDevice(id))?.softwareVersion, '1.0');
        await store.updateDevice(id, { tags: ['a'] });
        await store.commitSession(sw('1.0', T0));
        assert.deepEqual((await store.getDevice(id))?.tags, ['a']);
        assert.equal(await store.deleteDevice(id), true);
        const again = await store.commitSession(sw('1.0', T1));
        assert.equal(again.created, true);
        const d = await store.getDevice(id);
        assert.equal(d?.firstContact, T1);
        assert.deepEqual(d?.tags, []);
      }));

      it('getDevice() resolves null for an unknown id', withStore(async (store) => {
        assert.equal(await store.getDevice('nope'), null);
      }));

      it('createDevice() pre-registers with credentials and tags; a duplicate is a conflict', withStore(async (store) => {
        const d = await store.createDevice({
          ...identity('P1'),
          tags: ['lab', ' lab ', 'b'],
          credentials: { acsUsername: 'u', acsPassword: 'secret', connectionRequestPassword: 'crp' },
        });
        assert.equal(d.id, '000B82-HT502-P1');
        assert.deepEqual(d.tags, ['b', 'lab']);
        assert.equal(d.firstContact, null);
        assert.equal(d.credentials.acsPassword, 'secret');
        assert.equal(d.credentials.connectionRequestUsername, null);
        await rejectsWith(store.createDevice(identity('P1')), 'conflict');
        const red = redactDevice(d);
        assert.equal(JSON.stringify(red).includes('secret'), false);
        assert.equal(red.credentials.acsPasswordSet, true);
      }));

      it('createDevice() at an Inform stores what it tells, as the session commit would; that commit then changes nothing', withStore(async (store) => {
        const contact = { lastContact: T0, lastBootstrap: T0, sourceAddress: '192.0.2.7', softwareVersion: '1.0.3.10', connectionRequestUrl: 'http://192.0.2.7:7547/', cwmpVersion: '1.4' };
        const d = await store.createDevice({ ...identity('C1'), tags: ['new'], contact });
        assert.equal(d.firstContact, T0);
        assert.equal(d.lastContact, T0);
        assert.equal(d.lastBootstrap, T0);
        assert.equal(d.lastBoot, null);
        assert.equal(d.sourceAddress, '192.0.2.7');
        assert.equal(d.softwareVersion, '1.0.3.10');
        assert.equal(d.hardwareVersion, null);
        assert.equal(d.connectionRequestUrl, 'http://192.0.2.7:7547/');
        assert.equal(d.cwmpVersion, '1.4');
        assert.deepEqual(await store.getDevice(d.id), d);
        // the session's own commit of the same Inform: the device as registered
        const r = await store.commitSession({ at: T0, device: { ...deviceWrite('C1'), ...contact } });
        assert.equal(r.created, false);
        assert.deepEqual(await store.getDevice(d.id), d);
        // a later session moves lastContact only
        await store.commitSession(inform('C1', T1));
        assert.deepEqual(await store.getDevice(d.id), { ...d, lastContact: T1 });
      }));

      it('createDevice() conflicts with a device a session created, and with a concurrent twin; works again after deleteDevice()', withStore(async (store) => {
        const id = '000B82-HT502-P1';
        await store.commitSession(inform('P1', T0));
        await rejectsWith(store.createDevice(identity('P1')), 'conflict');
        assert.equal((await store.getDevice(id))?.firstContact, T0);
        assert.equal(await store.deleteDevice(id), true);
        const twins = await Promise.allSettled([store.createDevice({ ...identity('P1'), tags: ['a'] }), store.createDevice({ ...identity('P1'), tags: ['b'] })]);
        assert.deepEqual(twins.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
        const won = twins.find((r) => r.status === 'fulfilled');
        const lost = twins.find((r) => r.status === 'rejected');
        assert.ok(lost?.status === 'rejected' && lost.reason instanceof StoreError && lost.reason.code === 'conflict');
        // the returned device is the stored one
        assert.ok(won?.status === 'fulfilled');
        assert.deepEqual(await store.getDevice(id), won.value);
        assert.deepEqual((await store.queryDevices({ tags: won.value.tags })).devices.map((d) => d.id), [id]);
        // a session of the pre-registered device keeps its tags and credentials
        await store.commitSession(inform('P1', T1));
        const d = await store.getDevice(id);
        assert.deepEqual(d?.tags, won.value.tags);
        assert.equal(d?.firstContact, T1);
      }));

      it('updateDevice() changes tags and credentials partially; null clears; unknown device -> null', withStore(async (store) => {
        await store.createDevice({ ...identity('P1'), credentials: { acsUsername: 'u', acsPassword: 'p' } });
        const d = await store.updateDevice('000B82-HT502-P1', { tags: ['x'], credentials: { acsPassword: null, connectionRequestUsername: 'cr' } });
        assert.deepEqual(d?.tags, ['x']);
        assert.equal(d?.credentials.acsUsername, 'u');
        assert.equal(d?.credentials.acsPassword, null);
        assert.equal(d?.credentials.connectionRequestUsername, 'cr');
        assert.equal(await store.updateDevice('missing', { tags: [] }), null);
        await rejectsWith(store.updateDevice('000B82-HT502-P1', { tags: ['a,b'] }), 'invalid');
      }));

      it('addTags()/removeTags() change tags atomically; concurrent changes are all kept; unknown device -> null', withStore(async (store) => {
        await store.createDevice(identity('T1'));
        const id = '000B82-HT502-T1';
        assert.deepEqual((await store.addTags(id, ['b', 'a', 'a']))?.tags, ['a', 'b']);
        await Promise.all(['c', 'd', 'e', 'f'].map((t) => store.addTags(id, [t])));
        assert.deepEqual((await store.getDevice(id))?.tags, ['a', 'b', 'c', 'd', 'e', 'f']);
        await Promise.all([store.removeTags(id, ['a']), store.removeTags(id, ['c', 'missing']), store.addTags(id, ['g'])]);
        assert.deepEqual((await store.getDevice(id))?.tags, ['b', 'd', 'e', 'f', 'g']);
        assert.equal((await store.queryDevices({ tags: ['g'] })).devices.length, 1);
        assert.equal((await store.queryDevices({ tags: ['a'] })).devices.length, 0);
        assert.equal(await store.addTags('missing', ['x']), null);
        assert.equal(await store.removeTags('missing', ['x']), null);
        await rejectsWith(store.addTags(id, ['a,b']), 'invalid');
      }));

      it('deleteDevice() removes the device and everything attached to it', withStore(async (store) => {
        await store.commitSession(inform('A1', T0, { parameters: [{ name: 'Device.X', value: '1' }] }));
        const task = await store.createTask({ deviceId: '000B82-HT502-A1', payload: { type: 'reboot' } });
        await store.commitSession(inform('A1', T1, {
          faults: [{ deviceId: '000B82-HT502-A1', taskId: task.id, source: 'cpe', code: '9001', message: 'denied', detail: null, at: T1 }],
          session: { deviceId: '000B82-HT502-A1', startedAt: T1, endedAt: T1, events: [], remoteAddress: null, cwmpVersion: '1.2', outcome: 'completed', rpcCount: 0, detail: null },
        }));
        assert.equal(await store.deleteDevice('000B82-HT502-A1'), true);
        assert.equal(await store.getDevice('000B82-HT502-A1'), null);
        assert.deepEqual(await store.getParameters('000B82-HT502-A1'), []);
        assert.equal(await store.getTask(task.id), null);
        assert.equal((await store.listFaults({ deviceId: '000B82-HT502-A1' })).faults.length, 0);
        assert.equal((await store.listSessions({ deviceId: '000B82-HT502-A1' })).sessions.length, 0);
        assert.equal(await store.deleteDevice('000B82-HT502-A1'), false);
      }));
    });

    describe('parameters', () => {
      it('stores values with partial knowledge: GPN writable, GPA attributes, GPV values merge', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        await store.commitSession(inform('A1', T0, {
          parameters: [
            { name: 'Device.DeviceInfo.', writable: false },
            { name: 'Device.DeviceInfo.SoftwareVersion', value: '1.0.3', type: 'string' },
          ],
        }));
        await store.commitSession(inform('A1', T1, {
          parameters: [
            { name: 'Device.DeviceInfo.SoftwareVersion', writable: false },
            { name: 'Device.DeviceInfo.ProvisioningCode', notification: 2, accessList: ['Subscriber'] },
          ],
        }));
        const all = await store.getParameters(id);
        assert.deepEqual(all.map((p) => p.name), ['Device.DeviceInfo.', 'Device.DeviceInfo.ProvisioningCode', 'Device.DeviceInfo.SoftwareVersion']);
        const [obj, prov, sw] = all;
        assert.equal(obj.object, true);
        assert.equal(obj.writable, false);
        assert.equal(sw.value, '1.0.3');
        assert.equal(sw.type, 'string');
        assert.equal(sw.writable, false);
        assert.equal(sw.object, false);
        assert.equal(sw.updatedAt, T1);
        assert.equal(prov.value, null);
        assert.equal(prov.notification, 2);
        assert.deepEqual(prov.accessList, ['Subscriber']);
      }));

      it('a commit after a by-name read writes what changed since (reads never hide later writes or deletes)', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        const names = ['Device.P.a', 'Device.P.b', 'Device.P.c'];
        const values = async () => (await store.getParameters(id, { names })).map((p) => `${p.name}=${p.value}@${p.updatedAt}`);
        await store.commitSession(inform('A1', T0, { parameters: [{ name: 'Device.P.a', value: '1' }, { name: 'Device.P.b', value: '2' }] }));
        assert.deepEqual(await values(), [`Device.P.a=1@${T0}`, `Device.P.b=2@${T0}`]);
        // same a (touched), new b, first c: each as if nothing had been read
        await store.commitSession(inform('A1', T1, { parameters: [{ name: 'Device.P.a', value: '1' }, { name: 'Device.P.b', value: '20' }, { name: 'Device.P.c', value: '3' }] }));
        assert.deepEqual(await values(), [`Device.P.a=1@${T1}`, `Device.P.b=20@${T1}`, `Device.P.c=3@${T1}`]);
        // a wipe after the read: b is written again although it equals what was read
        await store.commitSession(inform('A1', T2, { parameterDeletes: [{ prefix: 'Device.P.' }], parameters: [{ name: 'Device.P.b', value: '20' }] }));
        assert.deepEqual(await values(), [`Device.P.b=20@${T2}`]);
        // a single-name read, then a commit bringing back a value read before the wipe
        assert.deepEqual((await store.getParameters(id, { names: ['Device.P.a'] })).length, 0);
        await store.commitSession(inform('A1', T0, { parameters: [{ name: 'Device.P.a', value: '1' }] }));
        assert.deepEqual(await values(), [`Device.P.a=1@${T0}`, `Device.P.b=20@${T2}`]);
        // deleting the device (right after a read) forgets its parameters: the same value is stored anew
        assert.equal(await store.deleteDevice(id), true);
        await store.commitSession(inform('A1', T1, { parameters: [{ name: 'Device.P.b', value: '20' }] }));
        assert.deepEqual(await values(), [`Device.P.b=20@${T1}`]);
      }));

      it('a commit of many parameters with different field sets stores each as given and merges into stored rows', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        // 129 values (more than one statement's worth of rows, and a last one alone), objects, attributes
        const values = Array.from({ length: 129 }, (_, i) => ({ name: `Device.V.${String(i).padStart(3, '0')}`, value: `v${i}`, type: 'string' }));
        await store.commitSession(inform('A1', T0, {
          parameters: [
            ...values,
            { name: 'Device.V.', writable: false },
            { name: 'Device.W.', writable: true },
            { name: 'Device.W.a', notification: 2, accessList: ['Subscriber'] },
            { name: 'Device.W.b', notification: 0, accessList: [] },
            { name: 'Device.W.c', value: null, type: null },
          ],
        }));
        const all = await store.getParameters(id);
        assert.equal(all.length, 129 + 5);
        const byName = new Map(all.map((p) => [p.name, p]));
        for (const [i, v] of values.entries()) {
          const p = byName.get(v.name);
          assert.deepEqual([p?.value, p?.type, p?.writable, p?.object, p?.updatedAt], [`v${i}`, 'string', null, false, T0], v.name);
        }
        assert.deepEqual([byName.get('Device.V.')?.object, byName.get('Device.V.')?.writable, byName.get('Device.W.')?.writable], [true, false, true]);
        assert.deepEqual([byName.get('Device.W.a')?.notification, byName.get('Device.W.a')?.accessList, byName.get('Device.W.a')?.value], [2, ['Subscriber'], null]);
        assert.deepEqual([byName.get('Device.W.b')?.notification, byName.get('Device.W.b')?.accessList], [0, []]);
        assert.deepEqual([byName.get('Device.W.c')?.value, byName.get('Device.W.c')?.type], [null, null]);
        // later: new values for some, attributes for others; fields not given are kept
        await store.commitSession(inform('A1', T1, {
          parameters: [
            { name: 'Device.V.000', value: 'new0', type: 'string' },
            { name: 'Device.V.001', value: 'new1', type: 'string' },
            { name: 'Device.V.002', writable: true },
            { name: 'Device.V.003', writable: true },
            { name: 'Device.W.a', value: 'x', type: 'int' },
          ],
        }));
        const again = new Map((await store.getParameters(id)).map((p) => [p.name, p]));
        assert.deepEqual([again.get('Device.V.000')?.value, again.get('Device.V.000')?.updatedAt], ['new0', T1]);
        assert.equal(again.get('Device.V.001')?.value, 'new1');
        assert.deepEqual([again.get('Device.V.002')?.value, again.get('Device.V.002')?.writable, again.get('Device.V.002')?.updatedAt], ['v2', true, T1]);
        assert.deepEqual([again.get('Device.W.a')?.value, again.get('Device.W.a')?.type, again.get('Device.W.a')?.notification, again.get('Device.W.a')?.accessList], ['x', 'int', 2, ['Subscriber']]);
        assert.deepEqual([again.get('Device.V.128')?.value, again.get('Device.V.128')?.updatedAt], ['v128', T0]);
      }));

      it('getParameters() selects by prefix and by names', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        await store.commitSession(inform('A1', T0, {
          parameters: [
            { name: 'Device.A.x', value: '1' },
            { name: 'Device.A.y', value: '2' },
            { name: 'Device.AB.z', value: '3' },
            { name: 'Device.B.x', value: '4' },
          ],
        }));
        assert.deepEqual((await store.getParameters(id, { prefix: 'Device.A.' })).map((p) => p.value), ['1', '2']);
        assert.deepEqual((await store.getParameters(id, { names: ['Device.B.x', 'Device.A.x', 'Device.none'] })).map((p) => p.name), ['Device.A.x', 'Device.B.x']);
        assert.equal((await store.getParameters(id)).length, 4);
        assert.deepEqual(await store.getParameters('other'), []);
      }));

      it('parameterDeletes removes a sub-tree, keeping `except` names, before the writes', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        await store.commitSession(inform('A1', T0, {
          parameters: [
            { name: 'Device.L.', writable: true },
            { name: 'Device.L.1.', writable: true },
            { name: 'Device.L.1.Name', value: 'one' },
            { name: 'Device.L.2.', writable: true },
            { name: 'Device.L.2.Name', value: 'two' },
            { name: 'Device.L2.keep', value: 'k' },
          ],
        }));
        await store.commitSession(inform('A1', T1, { parameterDeletes: [{ prefix: 'Device.L.2.' }] }));
        assert.deepEqual((await store.getParameters(id)).map((p) => p.name), ['Device.L.', 'Device.L.1.', 'Device.L.1.Name', 'Device.L2.keep']);
        await store.commitSession(inform('A1', T2, {
          parameterDeletes: [{ prefix: 'Device.L.', except: ['Device.L.', 'Device.L.1.'] }],
          parameters: [{ name: 'Device.L.3.Name', value: 'three' }],
        }));
        assert.deepEqual((await store.getParameters(id)).map((p) => p.name), ['Device.L.', 'Device.L.1.', 'Device.L.3.Name', 'Device.L2.keep']);
      }));
    });

    describe('commitSession atomicity and records', () => {
      it('stores the session record and faults and returns the session id', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        const r = await store.commitSession(inform('A1', T0, {
          session: { deviceId: id, startedAt: T0, endedAt: T1, events: [{ eventCode: '0 BOOTSTRAP', commandKey: '' }], remoteAddress: '10.0.0.9', cwmpVersion: '1.0', outcome: 'completed', rpcCount: 2, detail: null },
          faults: [{ deviceId: id, taskId: null, source: 'acs', code: '8003', message: 'bad', detail: { x: 1 }, at: T0 }],
        }));
        assert.ok(r.sessionId);
        const { sessions } = await store.listSessions({ deviceId: id });
        assert.equal(sessions.length, 1);
        assert.equal(sessions[0].id, r.sessionId);
        assert.deepEqual(sessions[0].events, [{ eventCode: '0 BOOTSTRAP', commandKey: '' }]);
        assert.equal(sessions[0].rpcCount, 2);
        const { faults } = await store.listFaults({ deviceId: id });
        assert.equal(faults[0].code, '8003');
        assert.deepEqual(faults[0].detail, { x: 1 });
      }));

      it('a commit that fails part-way leaves nothing behind', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        await store.commitSession(inform('A1', T0, { parameters: [{ name: 'Device.X', value: 'old' }] }));
        await assert.rejects(store.commitSession(inform('A1', T1, {
          parameters: [{ name: 'Device.X', value: 'new' }],
          parameterDeletes: [{ prefix: 'not-an-object-path' }],
        })));
        const [x] = await store.getParameters(id, { names: ['Device.X'] });
        assert.equal(x.value, 'old');
        assert.equal((await store.getDevice(id))?.lastContact, T0);
      }));

      it('rejects a device write without identity', withStore(async (store) => {
        await rejectsWith(store.commitSession({ at: T0, device: { id: '', manufacturer: '', oui: '', productClass: '', serialNumber: '' } }), 'invalid');
      }));

      it('listSessions() pages newest first with a cursor', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        for (let i = 0; i < 5; i++) {
          await store.commitSession(inform('A1', T0, { session: { deviceId: id, startedAt: `2025-01-01T00:00:0${i}.000Z`, endedAt: null, events: [], remoteAddress: null, cwmpVersion: null, outcome: 'completed', rpcCount: i, detail: null } }));
        }
        const p1 = await store.listSessions({ deviceId: id, limit: 3 });
        assert.deepEqual(p1.sessions.map((s) => s.rpcCount), [4, 3, 2]);
        assert.ok(p1.nextCursor);
        const p2 = await store.listSessions({ deviceId: id, limit: 3, cursor: p1.nextCursor });
        assert.deepEqual(p2.sessions.map((s) => s.rpcCount), [1, 0]);
        assert.equal(p2.nextCursor, null);
      }));
    });

    describe('session lock', () => {
      it('one owner at a time; re-entrant for the same owner; free after release', withStore(async (store) => {
        assert.deepEqual(await store.acquireSessionLock('dev', 'a', 10_000), { acquired: true });
        const busy = await store.acquireSessionLock('dev', 'b', 10_000);
        assert.equal(busy.acquired, false);
        if (!busy.acquired) assert.equal(busy.holder, 'a');
        assert.deepEqual(await store.acquireSessionLock('dev', 'a', 10_000), { acquired: true });
        assert.equal(await store.releaseSessionLock('dev', 'b'), false);
        assert.equal(await store.releaseSessionLock('dev', 'a'), true);
        assert.deepEqual(await store.acquireSessionLock('dev', 'b', 10_000), { acquired: true });
        assert.deepEqual(await store.acquireSessionLock('other', 'a', 10_000), { acquired: true });
      }));

      it('an expired lock can be taken over and the old owner cannot refresh it', withStore(async (store) => {
        // generous TTL: a loaded machine may take tens of ms between two calls
        await store.acquireSessionLock('dev', 'a', 300);
        assert.equal(await store.refreshSessionLock('dev', 'a', 300), true);
        await new Promise((r) => setTimeout(r, 400));
        assert.deepEqual(await store.acquireSessionLock('dev', 'b', 10_000), { acquired: true });
        assert.equal(await store.refreshSessionLock('dev', 'a', 10_000), false);
      }));

      it('clearSessionLocks() frees every lock', withStore(async (store) => {
        await store.acquireSessionLock('d1', 'a', 60_000);
        await store.acquireSessionLock('d2', 'b', 60_000);
        assert.equal(await store.clearSessionLocks(), 2);
        assert.deepEqual(await store.acquireSessionLock('d1', 'c', 60_000), { acquired: true });
        assert.equal(await store.clearSessionLocks(), 1);
      }));

      it('commitSession() can release the lock in the same transaction', withStore(async (store) => {
        await store.acquireSessionLock('000B82-HT502-A1', 'a', 10_000);
        await store.commitSession(inform('A1', T0, { releaseLock: { owner: 'a' } }));
        assert.deepEqual(await store.acquireSessionLock('000B82-HT502-A1', 'b', 10_000), { acquired: true });
      }));
    });

    describe('tasks', () => {
      it('createTask() queues a pending task; unknown device -> not_found', withStore(async (store) => {
        await store.commitSession(inform('A1', T0));
        const t = await store.createTask({ deviceId: '000B82-HT502-A1', payload: { type: 'getParameterValues', names: ['Device.'] }, createdAt: T0 });
        assert.equal(t.status, 'pending');
        assert.equal(t.type, 'getParameterValues');
        assert.deepEqual(t.payload, { type: 'getParameterValues', names: ['Device.'] });
        assert.equal(t.attempts, 0);
        assert.equal(t.maxAttempts, 3);
        assert.equal(t.createdAt, T0);
        assert.equal(t.connectionRequest, false);
        assert.deepEqual(await store.getTask(t.id), t);
        await rejectsWith(store.createTask({ deviceId: 'none', payload: { type: 'reboot' } }), 'not_found');
        assert.equal(await store.getTask('no-such-id'), null);
      }));

      it('createTask() follows the device: created, read, deleted, created again; a failed session commit creates none', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        const task = () => store.createTask({ deviceId: id, payload: { type: 'reboot' } });
        await rejectsWith(task(), 'not_found');
        await store.createDevice(identity('A1'));
        assert.equal((await task()).deviceId, id);
        assert.ok(await store.getDevice(id));
        assert.equal(await store.deleteDevice(id), true);
        await rejectsWith(task(), 'not_found');
        // a session commit of a new device that fails part-way: the device does not exist
        await assert.rejects(store.commitSession(inform('A1', T0, { parameterDeletes: [{ prefix: 'bad' }] })));
        assert.equal(await store.getDevice(id), null);
        await rejectsWith(task(), 'not_found');
        await store.commitSession(inform('A1', T0));
        assert.equal((await task()).status, 'pending');
        assert.equal((await store.listTasks({ deviceId: id })).tasks.length, 1);
      }));

      it('createTask() with `running` inserts the task started: running, attempts 1, startedAt; a bad time is invalid', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        await store.commitSession(inform('A1', T0));
        const pending = await store.createTask({ deviceId: id, payload: { type: 'reboot' }, createdAt: T0 });
        const t = await store.createTask({ deviceId: id, payload: { type: 'getParameterValues', names: ['Device.'] }, createdAt: T0, maxAttempts: 2, running: { at: T1 } });
        assert.equal(t.status, 'running');
        assert.equal(t.attempts, 1);
        assert.equal(t.maxAttempts, 2);
        assert.equal(t.startedAt, T1);
        assert.equal(t.nextAttemptAt, null);
        assert.equal(t.finishedAt, null);
        assert.equal(t.createdAt, T0);
        // the returned task is the stored one, and a new session finds it (orphaned if its session died)
        assert.deepEqual(await store.getTask(t.id), t);
        assert.deepEqual((await store.tasksToRun(id)).map((x) => [x.id, x.status]), [[pending.id, 'pending'], [t.id, 'running']]);
        await store.updateTasks([{ id: t.id, status: 'done', finishedAt: T2, result: { ok: true } }]);
        assert.equal((await store.getTask(t.id))?.attempts, 1);
        assert.deepEqual((await store.tasksToRun(id)).map((x) => x.id), [pending.id]);
        // a running task of a device without tasks makes it runnable too
        await store.commitSession(inform('B1', T0));
        const b = await store.createTask({ deviceId: '000B82-HT502-B1', payload: { type: 'reboot' }, running: { at: T1 } });
        assert.deepEqual((await store.tasksToRun('000B82-HT502-B1')).map((x) => x.id), [b.id]);
        for (const at of ['yesterday', '2025-01-01T00:00:00', '', '2025-13-01T00:00:00Z', 42 as unknown as string]) {
          await rejectsWith(store.createTask({ deviceId: id, payload: { type: 'reboot' }, running: { at } }), 'invalid');
        }
        // the same timestamps are accepted by every backend: an offset with or without a colon, a fraction
        for (const at of ['2025-01-01T02:00:00+02:00', '2025-01-01T02:00:00+0200', '2025-01-01T00:00:00.123456Z']) {
          const ok = await store.createTask({ deviceId: id, payload: { type: 'reboot' }, running: { at } });
          assert.equal(Date.parse(ok.startedAt ?? ''), Date.parse(at), at);
        }
        await rejectsWith(store.createTask({ deviceId: 'none', payload: { type: 'reboot' }, running: { at: T1 } }), 'not_found');
        assert.equal((await store.listTasks({ deviceId: id })).tasks.length, 5);
      }));

      it('tasksToRun() returns pending and running tasks in queue order', withStore(async (store) => {
        await store.commitSession(inform('A1', T0));
        await store.commitSession(inform('B1', T0));
        const id = '000B82-HT502-A1';
        const a = await store.createTask({ deviceId: id, payload: { type: 'reboot' } });
        const b = await store.createTask({ deviceId: id, payload: { type: 'factoryReset' } });
        const c = await store.createTask({ deviceId: id, payload: { type: 'getRPCMethods' } });
        await store.createTask({ deviceId: '000B82-HT502-B1', payload: { type: 'reboot' } });
        await store.updateTasks([{ id: a.id, status: 'running', attempts: 1, startedAt: T1 }, { id: b.id, status: 'done', finishedAt: T1, result: { ok: true } }]);
        const run = await store.tasksToRun(id);
        assert.deepEqual(run.map((t) => t.id), [a.id, c.id]);
        assert.equal(run[0].status, 'running');
        assert.equal(run[0].attempts, 1);
        assert.equal(run[0].startedAt, T1);
        const done = await store.getTask(b.id);
        assert.deepEqual(done?.result, { ok: true });
      }));

      it('tasksToRun() follows every change: first task, all finished, one set back to pending, device deleted', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        await store.commitSession(inform('A1', T0));
        assert.deepEqual(await store.tasksToRun(id), []);
        const a = await store.createTask({ deviceId: id, payload: { type: 'reboot' } });
        assert.deepEqual((await store.tasksToRun(id)).map((t) => t.id), [a.id]);
        await store.commitSession(inform('A1', T1, { taskUpdates: [{ id: a.id, status: 'failed', finishedAt: T1 }] }));
        assert.deepEqual(await store.tasksToRun(id), []);
        // a task of a device that had none left comes back (e.g. a retry decided late)
        await store.updateTasks([{ id: a.id, status: 'pending', finishedAt: null }]);
        assert.deepEqual((await store.tasksToRun(id)).map((t) => t.id), [a.id]);
        assert.equal(await store.deleteDevice(id), true);
        assert.deepEqual(await store.tasksToRun(id), []);
        await store.commitSession(inform('A1', T2));
        const b = await store.createTask({ deviceId: id, payload: { type: 'reboot' } });
        assert.deepEqual((await store.tasksToRun(id)).map((t) => t.id), [b.id]);
      }));

      it('commitSession() applies task updates with the rest', withStore(async (store) => {
        await store.commitSession(inform('A1', T0));
        const t = await store.createTask({ deviceId: '000B82-HT502-A1', payload: { type: 'reboot' } });
        await store.commitSession(inform('A1', T1, { taskUpdates: [{ id: t.id, status: 'failed', faultCode: 9001, faultString: 'denied', finishedAt: T1, nextAttemptAt: null }] }));
        const f = await store.getTask(t.id);
        assert.equal(f?.status, 'failed');
        assert.equal(f?.faultCode, 9001);
        assert.equal(f?.faultString, 'denied');
        assert.equal(f?.finishedAt, T1);
        assert.deepEqual(await store.tasksToRun('000B82-HT502-A1'), []);
      }));

      it('cancelTask() cancels unfinished tasks only', withStore(async (store) => {
        await store.commitSession(inform('A1', T0));
        const a = await store.createTask({ deviceId: '000B82-HT502-A1', payload: { type: 'reboot' } });
        const b = await store.createTask({ deviceId: '000B82-HT502-A1', payload: { type: 'reboot' } });
        await store.updateTasks([{ id: b.id, status: 'done' }]);
        const ca = await store.cancelTask(a.id, T1);
        assert.equal(ca?.status, 'cancelled');
        assert.equal(ca?.finishedAt, T1);
        assert.equal((await store.cancelTask(b.id))?.status, 'done');
        assert.equal(await store.cancelTask('999999'), null);
      }));

      it('listTasks() filters by device/status/type and pages with a cursor', withStore(async (store) => {
        await store.commitSession(inform('A1', T0));
        await store.commitSession(inform('B1', T0));
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await store.createTask({ deviceId: '000B82-HT502-A1', payload: { type: i % 2 ? 'reboot' : 'getRPCMethods' } })).id);
        await store.createTask({ deviceId: '000B82-HT502-B1', payload: { type: 'reboot' } });
        await store.updateTasks([{ id: ids[0], status: 'done' }]);
        const p1 = await store.listTasks({ deviceId: '000B82-HT502-A1', limit: 2 });
        assert.deepEqual(p1.tasks.map((t) => t.id), ids.slice(0, 2));
        const p2 = await store.listTasks({ deviceId: '000B82-HT502-A1', limit: 2, cursor: p1.nextCursor! });
        assert.deepEqual(p2.tasks.map((t) => t.id), ids.slice(2, 4));
        const p3 = await store.listTasks({ deviceId: '000B82-HT502-A1', limit: 2, cursor: p2.nextCursor! });
        assert.deepEqual(p3.tasks.map((t) => t.id), ids.slice(4));
        assert.equal(p3.nextCursor, null);
        assert.equal((await store.listTasks({ status: ['pending'] })).tasks.length, 5);
        assert.equal((await store.listTasks({ type: 'reboot' })).tasks.length, 3);
        assert.deepEqual((await store.listTasks({ deviceId: '000B82-HT502-A1', order: 'desc', limit: 1 })).tasks.map((t) => t.id), [ids[4]]);
        await rejectsWith(store.listTasks({ cursor: 'garbage!' }), 'invalid');
      }));
    });

    describe('device search', () => {
      async function fleet(store: Store): Promise<void> {
        const rows: [string, string, string, string, number][] = [
          ['S1', 'HT502', '1.0.3', T0, 100],
          ['S2', 'HT502', '1.0.4', T1, 25],
          ['S3', 'GXP2160', '1.0.4', T2, 7],
          ['S4', 'GXP2160', '2.0', T2, -3],
        ];
        for (const [serial, pc, sw, at, up] of rows) {
          await store.commitSession({
            at,
            device: deviceWrite(serial, { lastContact: at, softwareVersion: sw }, pc),
            parameters: [
              { name: 'Device.DeviceInfo.UpTime', value: String(up), type: 'unsignedInt' },
              { name: 'Device.DeviceInfo.ProvisioningCode', value: `site-${serial.toLowerCase()}` },
            ],
          });
        }
        await store.commitSession({ at: T0, device: deviceWrite('S5', {}, 'HT502') });
        await store.updateDevice('000B82-HT502-S1', { tags: ['lab', 'east'] });
        await store.updateDevice('000B82-GXP2160-S3', { tags: ['lab'] });
      }
      const ids = (page: { devices: { serialNumber: string }[] }) => page.devices.map((d) => d.serialNumber);

      it('filters by product class, software version, tags, id substring', withStore(async (store) => {
        await fleet(store);
        assert.deepEqual(ids(await store.queryDevices({ productClass: 'HT502', sort: { field: 'serialNumber', direction: 'asc' } })), ['S1', 'S2', 'S5']);
        assert.deepEqual(ids(await store.queryDevices({ softwareVersion: '1.0.4', sort: { field: 'serialNumber', direction: 'asc' } })), ['S2', 'S3']);
        assert.deepEqual(ids(await store.queryDevices({ tags: ['lab'], sort: { field: 'serialNumber', direction: 'asc' } })), ['S1', 'S3']);
        assert.deepEqual(ids(await store.queryDevices({ tags: ['lab', 'east'] })), ['S1']);
        assert.deepEqual(ids(await store.queryDevices({ idContains: 'gxp2160-s4' })), ['S4']);
        assert.deepEqual(ids(await store.queryDevices({ ids: ['000B82-HT502-S2', 'x'] })), ['S2']);
        assert.deepEqual(ids(await store.queryDevices({ ids: [] })), []);
      }));

      it('filters by parameter values: eq, ne, prefix, numeric and text comparisons', withStore(async (store) => {
        await fleet(store);
        const q = async (op: 'eq' | 'ne' | 'prefix' | 'lt' | 'gt' | 'lte' | 'gte', name: string, value: string | number) =>
          ids(await store.queryDevices({ parameters: [{ name, op, value }], sort: { field: 'serialNumber', direction: 'asc' } }));
        assert.deepEqual(await q('eq', 'Device.DeviceInfo.ProvisioningCode', 'site-s2'), ['S2']);
        assert.deepEqual(await q('ne', 'Device.DeviceInfo.ProvisioningCode', 'site-s2'), ['S1', 'S3', 'S4']);
        assert.deepEqual(await q('prefix', 'Device.DeviceInfo.ProvisioningCode', 'site-'), ['S1', 'S2', 'S3', 'S4']);
        assert.deepEqual(await q('prefix', 'Device.DeviceInfo.ProvisioningCode', 'SITE-'), []);
        // numeric: 100 > 25 although "100" < "25" as text
        assert.deepEqual(await q('gt', 'Device.DeviceInfo.UpTime', 24), ['S1', 'S2']);
        assert.deepEqual(await q('lt', 'Device.DeviceInfo.UpTime', 7), ['S4']);
        assert.deepEqual(await q('lte', 'Device.DeviceInfo.UpTime', 7), ['S3', 'S4']);
        assert.deepEqual(await q('gte', 'Device.DeviceInfo.UpTime', 100), ['S1']);
        // text comparison when the value is a string
        assert.deepEqual(await q('lt', 'Device.DeviceInfo.UpTime', '3'), ['S1', 'S2', 'S4']);
        assert.deepEqual(ids(await store.queryDevices({
          parameters: [{ name: 'Device.DeviceInfo.UpTime', op: 'gt', value: 0 }, { name: 'Device.DeviceInfo.ProvisioningCode', op: 'eq', value: 'site-s3' }],
        })), ['S3']);
      }));

      it('filters by last contact range', withStore(async (store) => {
        await fleet(store);
        assert.deepEqual(ids(await store.queryDevices({ lastContactAfter: T1, sort: { field: 'serialNumber', direction: 'asc' } })), ['S2', 'S3', 'S4']);
        assert.deepEqual(ids(await store.queryDevices({ lastContactBefore: T1 })), ['S1']);
        assert.deepEqual(ids(await store.queryDevices({ lastContactAfter: T1, lastContactBefore: T2 })), ['S2']);
      }));

      it('sorts with nulls last, counts, and pages by offset and by cursor', withStore(async (store) => {
        await fleet(store);
        const desc = await store.queryDevices({ sort: { field: 'lastContact', direction: 'desc' }, count: true });
        assert.deepEqual(ids(desc), ['S3', 'S4', 'S2', 'S1', 'S5']);
        assert.equal(desc.total, 5);
        assert.deepEqual(ids(await store.queryDevices({ sort: { field: 'lastContact', direction: 'asc' } })), ['S1', 'S2', 'S3', 'S4', 'S5']);
        assert.deepEqual(ids(await store.queryDevices({ sort: { field: 'lastContact', direction: 'desc' }, limit: 2, offset: 2 })), ['S2', 'S1']);
        for (const sort of [
          { field: 'lastContact', direction: 'desc' },
          { field: 'lastContact', direction: 'asc' },
          { field: 'softwareVersion', direction: 'asc' },
          { field: 'id', direction: 'desc' },
        ] as const) {
          const all = ids(await store.queryDevices({ sort }));
          const paged: string[] = [];
          let cursor: string | undefined;
          for (let i = 0; i < 10; i++) {
            const page = await store.queryDevices({ sort, limit: 2, cursor });
            paged.push(...ids(page));
            if (!page.nextCursor) break;
            cursor = page.nextCursor;
          }
          assert.deepEqual(paged, all, `cursor paging with ${sort.field} ${sort.direction}`);
        }
        const page = await store.queryDevices({ productClass: 'HT502', limit: 1, count: true });
        assert.equal(page.devices.length, 1);
        assert.equal(page.total, 3);
        assert.equal(await store.countDevices({ productClass: 'GXP2160' }), 2);
        assert.equal(await store.countDevices({}), 5);
        await rejectsWith(store.queryDevices({ cursor: '%%%' }), 'invalid');
        await rejectsWith(store.queryDevices({ limit: -1 }), 'invalid');
      }));
    });

    describe('API tokens and audit', () => {
      it('stores token hashes, finds by hash, touches, revokes idempotently', withStore(async (store) => {
        const hash = sha256('token-1');
        const t = await store.createApiToken({ name: 'ci', role: 'operator', hash, createdAt: T0 });
        assert.equal(t.role, 'operator');
        assert.equal(t.revokedAt, null);
        assert.deepEqual(await store.findApiTokenByHash(hash), t);
        assert.equal(await store.findApiTokenByHash(sha256('other')), null);
        await rejectsWith(store.createApiToken({ name: 'dup', role: 'viewer', hash }), 'conflict');
        await rejectsWith(store.createApiToken({ name: 'bad', role: 'viewer', hash: 'plain-token' }), 'invalid');
        await store.touchApiToken(t.id, T1);
        assert.equal((await store.findApiTokenByHash(hash))?.lastUsedAt, T1);
        assert.equal((await store.revokeApiToken(t.id, T1))?.revokedAt, T1);
        assert.equal((await store.revokeApiToken(t.id, T2))?.revokedAt, T1);
        assert.equal(await store.revokeApiToken('12345'), null);
        assert.equal((await store.listApiTokens()).length, 1);
      }));

      it('appends audit entries and lists them newest first with filters', withStore(async (store) => {
        await store.appendAudit({ actor: 'admin', action: 'task.create', target: 'dev1', detail: { type: 'reboot' }, at: T0 });
        await store.appendAudit({ actor: 'ops', action: 'device.delete', target: 'dev2', detail: null, at: T1 });
        await store.appendAudit({ actor: 'admin', action: 'token.revoke', target: null, detail: null, at: T2 });
        const all = await store.listAudit({});
        assert.deepEqual(all.entries.map((e) => e.action), ['token.revoke', 'device.delete', 'task.create']);
        assert.deepEqual((await store.listAudit({ actor: 'admin' })).entries.map((e) => e.at), [T2, T0]);
        assert.deepEqual((await store.listAudit({ target: 'dev1' })).entries[0].detail, { type: 'reboot' });
        assert.deepEqual((await store.listAudit({ since: T1, until: T2 })).entries.map((e) => e.actor), ['ops']);
        const p1 = await store.listAudit({ limit: 2 });
        const p2 = await store.listAudit({ limit: 2, cursor: p1.nextCursor! });
        assert.deepEqual(p2.entries.map((e) => e.action), ['task.create']);
      }));
    });

    describe('faults', () => {
      it('lists newest first, filters by task, deletes by id and by device', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        const faults = [1, 2, 3].map((i) => ({ deviceId: id, taskId: i === 2 ? 't2' : null, source: 'cpe' as const, code: `900${i}`, message: `m${i}`, detail: null, at: T0 }));
        await store.commitSession(inform('A1', T0, { faults }));
        const list = await store.listFaults({ deviceId: id });
        assert.deepEqual(list.faults.map((f) => f.code), ['9003', '9002', '9001']);
        assert.deepEqual((await store.listFaults({ taskId: 't2' })).faults.map((f) => f.code), ['9002']);
        assert.equal(await store.deleteFaults({ ids: [list.faults[0].id] }), 1);
        assert.equal(await store.deleteFaults({ deviceId: id }), 2);
        assert.equal((await store.listFaults({})).faults.length, 0);
      }));

      it('filters by code and by time (since/until inclusive, any zone notation); bad times are invalid', withStore(async (store) => {
        const id = '000B82-HT502-A1';
        const at = (minute: number) => `2025-03-01T10:0${minute}:00.000Z`;
        const faults = [1, 2, 3].map((i) => ({ deviceId: id, taskId: null, source: 'cpe' as const, code: `900${i}`, message: `m${i}`, detail: null, at: at(i) }));
        await store.commitSession(inform('A1', T0, { faults }));
        const codes = async (q: FaultQuery) => (await store.listFaults(q)).faults.map((f) => f.code);
        assert.deepEqual(await codes({ code: ['9001', '9003', '9999'] }), ['9003', '9001']);
        assert.deepEqual(await codes({ code: [] }), []);
        assert.deepEqual(await codes({ since: at(2) }), ['9003', '9002']);
        assert.deepEqual(await codes({ until: at(2) }), ['9002', '9001']);
        assert.deepEqual(await codes({ since: '2025-03-01T12:02:00+02:00', until: '2025-03-01T10:02:30Z' }), ['9002']);
        assert.deepEqual(await codes({ code: ['9003'], since: at(1), until: at(2) }), []);
        await rejectsWith(store.listFaults({ since: 'yesterday' }), 'invalid');
        await rejectsWith(store.listFaults({ until: '2025-03-01T10:00:00' }), 'invalid');
      }));
    });

    it('rejects calls after close() with unavailable', async () => {
      const store = await makeStore();
      await store.close();
      await rejectsWith(store.getDevice('x'), 'unavailable');
      await store.close();
    });
  });
}
