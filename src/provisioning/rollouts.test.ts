/**
 * RolloutManager with several ACS instances on one provisioning store: every instance runs the
 * tick, yet a stage opens once, a rollout finishes once and no more devices are woken than can
 * download. Two SQLite connections to one file stand for the instances here (the PostgreSQL
 * store gives the same guarantees, see src/store/provisioning/contract.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from '../store/provisioning/sqlite.ts';
import type { Store } from '../store/types.ts';
import type { NewRolloutDevice, Rollout, RolloutSpec } from '../store/provisioning/types.ts';
import { RolloutManager } from './rollouts.ts';

const DEVICES = 4;

describe('RolloutManager on a shared store', () => {
  let dir: string;
  let core: Store;
  let stores: SqliteProvisioningStore[];
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const kicks: { instance: number; deviceId: string }[] = [];
  const finished: { instance: number; rollout: Rollout }[] = [];
  let managers: RolloutManager[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sb-rollouts-'));
    core = openSqliteStore({ dataDir: dir });
    stores = [0, 1].map(() => openSqliteProvisioningStore({ dataDir: dir, now: () => clock }));
    managers = stores.map(
      (p, instance) =>
        new RolloutManager({
          store: core,
          provisioning: p,
          fileBaseUrl: 'http://127.0.0.1:1',
          now: () => clock,
          connectionRequest: (deviceId) => {
            kicks.push({ instance, deviceId });
            return Promise.resolve();
          },
          onFinished: (rollout) => finished.push({ instance, rollout }),
        }),
    );
  });
  after(async () => {
    for (const p of stores) await p.close();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tickAll = () => Promise.all(managers.map((m) => m.tick()));

  it('wakes one device for one slot however many instances tick, and opens each stage once', async () => {
    const file = await stores[0].createFile({ name: 'fw.bin', fileType: '1 Firmware Upgrade Image', oui: null, productClass: null, version: '2.0', size: 1, sha256: 'a'.repeat(64), description: null, auth: { scheme: 'none', username: null, password: null } });
    const spec: RolloutSpec = { name: 'r', fileId: file.id, target: {}, stages: [{ count: 1 }, { percent: 100 }], maxConcurrent: 1, failureThreshold: { count: 2 } };
    const devices: NewRolloutDevice[] = Array.from({ length: DEVICES }, (_, i) => ({ deviceId: `d${i}`, position: i, stage: i === 0 ? 0 : 1, state: 'pending', fromVersion: '1.0', detail: null }));
    const r = await stores[0].createRollout(spec, devices);

    await tickAll();
    await tickAll();
    assert.deepEqual(kicks.map((k) => k.deviceId), ['d0'], 'the canary is woken once, by one instance');

    // d0's session (on instance 1) claims the slot and succeeds
    const plan = await managers[1].planDownload({ id: 'd0', oui: '000B82', productClass: 'HT502', softwareVersion: '1.0' }, false);
    assert.ok(plan, 'the canary gets its Download');
    assert.equal((await stores[0].getRolloutDevice(r.id, 'd0'))?.kickedAt, null, 'in session: no longer counted as being woken');
    await stores[1].updateRolloutDevice(r.id, 'd0', { state: 'succeeded', phase: null });

    // both instances evaluate at once: stage 1 opens once, and one device (one slot) is woken
    await Promise.all(managers.map((m) => m.evaluate(r.id)));
    assert.equal((await stores[0].getRollout(r.id))?.stageIndex, 1);
    await tickAll();
    await tickAll();
    assert.equal(kicks.length, 2, `one more kick: ${JSON.stringify(kicks)}`);

    // a minute later the woken device has not come: it may be woken again, still one at a time
    clock += 61_000;
    await tickAll();
    assert.equal(kicks.length, 3);
    assert.equal(kicks[2].deviceId, kicks[1].deviceId);

    // the rest succeed; both instances evaluate: the rollout finishes once
    await stores[0].updateRolloutDevices(r.id, { states: ['pending'] }, { state: 'succeeded' });
    await Promise.all([...managers.map((m) => m.evaluate(r.id)), ...managers.map((m) => m.evaluate(r.id))]);
    assert.equal((await stores[1].getRollout(r.id))?.state, 'completed');
    assert.equal(finished.length, 1, `finished once: ${JSON.stringify(finished.map((f) => f.instance))}`);
    // cancelling a finished rollout is refused on any instance
    await assert.rejects(managers[1].cancel(r.id), { name: 'RolloutError' });
  });

  it('kicks again at the next tick when a kick did not wake the device (deduplicated, or in session)', async () => {
    const file = (await stores[0].listFiles({})).items[0];
    const r = await stores[0].createRollout(
      { name: 'k', fileId: file.id, target: {}, stages: [{ percent: 100 }], maxConcurrent: 1, failureThreshold: { count: 5 } },
      [{ deviceId: 'k1', position: 0, stage: 0, state: 'pending', fromVersion: '1.0', detail: null }],
    );
    const answers = [
      { status: 'ok', transport: 'http', deduplicated: true },
      { status: 'ok', transport: 'session' },
      { status: 'ok', transport: 'http' },
      { status: 'ok', transport: 'http' },
    ];
    const sent: string[] = [];
    const m = new RolloutManager({
      store: core,
      provisioning: stores[0],
      fileBaseUrl: 'http://127.0.0.1:1',
      now: () => clock,
      connectionRequest: (deviceId) => {
        sent.push(deviceId);
        return Promise.resolve(answers[sent.length - 1]);
      },
    });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 4; i++) {
      await m.tick();
      await settle();
    }
    assert.deepEqual(sent, ['k1', 'k1', 'k1'], 'retried after the two answers that woke nothing, then waits for the session');
    assert.equal((await stores[0].getRolloutDevice(r.id, 'k1'))?.kickedAt, new Date(clock).toISOString());
    await stores[0].updateRollout(r.id, { state: 'cancelled' });
  });

  it('fails a timed-out download only while it is still downloading', async () => {
    const file = (await stores[0].listFiles({})).items[0];
    const r = await stores[0].createRollout(
      { name: 't', fileId: file.id, target: {}, stages: [{ percent: 100 }], maxConcurrent: 2, failureThreshold: { count: 5 }, downloadTimeoutSeconds: 10, kick: false },
      [{ deviceId: 'x', position: 0, stage: 0, state: 'pending', fromVersion: '1.0', detail: null }],
    );
    assert.ok(await stores[0].claimDownloadSlot(r.id, 'x', 2, { startedAt: new Date(clock).toISOString() }));
    // the device's session reports success on one instance just before the other's tick
    await stores[1].updateRolloutDevice(r.id, 'x', { state: 'succeeded' }, { states: ['downloading'] });
    clock += 11_000;
    await tickAll();
    assert.equal((await stores[0].getRolloutDevice(r.id, 'x'))?.state, 'succeeded');
  });
});
