/**
 * A never-seen device's first session through the real session engine and the real provisioning
 * service, on a SQLite store that records its statements: provisioning registers the device at its
 * Inform with what the Inform tells, so the session's commit has nothing left to write to its row.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionEngine } from '../../src/acs/session/engine.ts';
import { openProvisioning, type Provisioning } from '../../src/provisioning/runtime.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.ts';
import { ScriptedCpe, deviceIdOf, methodOf } from '../acs/engine-harness.ts';

describe('first contact through the engine and provisioning', () => {
  const statements: string[] = [];
  let dir: string;
  let store: SqliteStore;
  let provisioning: Provisioning;
  let engine: SessionEngine;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sb-register-'));
    store = openSqliteStore({ dataDir: dir, verbose: (sql) => statements.push(sql) });
    provisioning = openProvisioning({ store, dataDir: dir });
    engine = new SessionEngine({ store, hooks: provisioning.service });
  });
  after(async () => {
    await provisioning.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers the device with its Inform\'s fields; the session\'s commit does not write the row again', async () => {
    const cpe = new ScriptedCpe(engine, { remoteAddress: '10.0.0.9' });
    statements.length = 0;
    const end = await cpe.informAndEmpty({ serial: 'REG1', events: ['0 BOOTSTRAP', '1 BOOT'] });
    assert.equal(methodOf(end), '204', 'no presets: nothing to run');
    const device = await store.getDevice(deviceIdOf('REG1'));
    assert.ok(device, 'registered');
    assert.ok(device.firstContact !== null && device.lastContact === device.firstContact && device.lastBootstrap === device.firstContact && device.lastBoot === device.firstContact);
    assert.equal(device.sourceAddress, '10.0.0.9');
    assert.equal(device.softwareVersion, '1.0.3.10');
    assert.equal(device.hardwareVersion, 'V2.1A');
    assert.equal(device.connectionRequestUrl, 'http://10.0.0.5:7547/cr-REG1');
    const devices = (verb: string) => statements.filter((sql) => new RegExp(`^\\s*${verb}\\s+(INTO\\s+)?devices\\b`, 'i').test(sql)).length;
    assert.equal(devices('INSERT'), 1, 'registered once');
    assert.equal(devices('UPDATE'), 0, statements.filter((sql) => /devices/i.test(sql)).join('\n'));
    // the next session moves its contact time only
    const again = await cpe.informAndEmpty({ serial: 'REG1', events: ['2 PERIODIC'] });
    assert.equal(methodOf(again), '204');
    assert.equal((await store.getDevice(deviceIdOf('REG1')))?.firstContact, device.firstContact);
  });
});
