/**
 * Event retention (across a failed session and across a restart), the retry back-off on a fake
 * clock, persistence of pending transfers, and durability of an acknowledged change across SIGKILL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Inform } from '../../src/cwmp/index.ts';
import { CpeAgent, type PersistedCpeState } from '../../src/cpe/agent.ts';
import { FileStateStore } from '../../src/cpe/persistence.ts';
import { retryRange } from '../../src/cpe/retry.ts';
import { FakeScheduler, RealScheduler } from '../../src/cpe/scheduler.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { ScriptedAcs } from './scripted-acs.ts';

const MS = 'Device.ManagementServer.';
const codes = (i: Inform): string[] => i.event.map((e) => (e.commandKey ? `${e.eventCode}|${e.commandKey}` : e.eventCode));

/** An ACS that answers every Inform with HTTP 500 while `down` is true. */
function flakyAcs(state: { down: boolean }): ScriptedAcs {
  const acs: ScriptedAcs = new ScriptedAcs({
    beforeReply: (_req, res, post) => {
      if (state.down && post.message?.method === 'Inform') {
        acs.received.push(post);
        res.writeHead(500, { 'content-length': 0 }).end();
        return true;
      }
      return false;
    },
  });
  return acs;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sb-cpe-events-'));
}

test('retry back-off follows m·k^(n-1)..m·k^n on a fake clock, RetryCount counts attempts, success resets it', async () => {
  const state = { down: true };
  const acs = await flakyAcs(state).listen();
  const scheduler = new FakeScheduler(Date.UTC(2025, 0, 1));
  const agent = new CpeAgent(
    { profile: loadProfile('HT502'), serial: '000B82B00001', provisioning: { acsUrl: acs.url, periodicInformEnable: false } },
    { scheduler, random: () => 0.5 },
  );
  try {
    agent.start();
    let session = agent.nextSession();
    scheduler.advance(0);
    assert.equal((await session).ok, false);
    const informsRetryCounts: number[] = [];
    for (let n = 1; n <= 11; n++) {
      const { minSeconds, maxSeconds } = retryRange(n);
      const expected = Math.round((minSeconds + 0.5 * (maxSeconds - minSeconds)) * 1000);
      const due = scheduler.nextDue();
      assert.equal(due! - scheduler.now(), expected, `wait before retry ${n}`);
      assert.ok(expected >= minSeconds * 1000 && expected <= maxSeconds * 1000);
      scheduler.advance(expected - 1);
      assert.equal(agent.isInSession, false, 'no retry before the wait is over');
      if (n === 11) state.down = false;
      session = agent.nextSession();
      scheduler.advance(1);
      const r = await session;
      informsRetryCounts.push(acs.received.filter((p) => p.message?.method === 'Inform').at(-1)!.message === null ? -1 : (acs.received.filter((p) => p.message?.method === 'Inform').at(-1)!.message as Inform).retryCount);
      assert.equal(r.ok, n === 11);
    }
    assert.deepEqual(informsRetryCounts, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // Retries 10 and later use the 10th range (2560-5120 s with the defaults).
    assert.deepEqual(retryRange(11), retryRange(10));
    assert.equal(agent.currentRetryCount, 0);
    // The events of the first attempt were retained all along and delivered by the successful one.
    assert.deepEqual(codes(acs.informs.at(-1)!).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
    assert.deepEqual(agent.pendingEvents(), []);
  } finally {
    await agent.stop();
    await acs.close();
  }
});

test('the back-off uses CWMPRetryMinimumWaitInterval and CWMPRetryIntervalMultiplier from the data model', async () => {
  const acs = await flakyAcs({ down: true }).listen();
  const scheduler = new FakeScheduler(Date.UTC(2025, 0, 1));
  const agent = new CpeAgent({ profile: loadProfile('GXP2110'), serial: '000B82B00002', provisioning: { acsUrl: acs.url } }, { scheduler, random: () => 0 });
  try {
    agent.model.setLocal(`${MS}CWMPRetryMinimumWaitInterval`, '30');
    agent.model.setLocal(`${MS}CWMPRetryIntervalMultiplier`, '3000');
    agent.start();
    let s = agent.nextSession();
    scheduler.advance(0);
    await s;
    assert.equal(scheduler.nextDue()! - scheduler.now(), 30_000);
    s = agent.nextSession();
    scheduler.advance(30_000);
    await s;
    assert.equal(scheduler.nextDue()! - scheduler.now(), 90_000);
  } finally {
    await agent.stop();
    await acs.close();
  }
});

test('a failed session keeps its events but drops 6 CONNECTION REQUEST; a new event retries at once', async () => {
  const state = { down: true };
  const acs = await flakyAcs(state).listen();
  const scheduler = new FakeScheduler(Date.UTC(2025, 0, 1));
  const agent = new CpeAgent(
    { profile: loadProfile('GXP2140'), serial: '000B82B00003', provisioning: { acsUrl: acs.url }, crRateLimit: { burst: 10, windowMs: 1000 } },
    { scheduler, random: () => 0.5 },
  );
  try {
    agent.start();
    let s = agent.nextSession();
    scheduler.advance(0);
    await s;
    agent.connectionRequest('http');
    s = agent.nextSession();
    scheduler.advance(0);
    await s;
    const sent = acs.informs.length ? acs.informs : [];
    assert.equal(sent.length, 0, 'the ACS never answered an Inform');
    const second = acs.received.filter((p) => p.message?.method === 'Inform').at(-1)!.message as Inform;
    assert.ok(codes(second).includes('6 CONNECTION REQUEST'));
    assert.ok(!agent.pendingEvents().some((e) => e.eventCode === '6 CONNECTION REQUEST'), 'never retried');
    assert.deepEqual(agent.pendingEvents().map((e) => e.eventCode), ['0 BOOTSTRAP', '1 BOOT']);
    state.down = false;
    // ScheduleInform-like new event: retry right away instead of waiting for the back-off.
    s = agent.nextSession();
    agent.requestSession('scheduled');
    scheduler.advance(0);
    assert.equal((await s).ok, true);
    assert.deepEqual(codes(acs.informs[0]).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
    assert.ok(!codes(acs.informs[0]).includes('6 CONNECTION REQUEST'));
  } finally {
    await agent.stop();
    await acs.close();
  }
});

test('across a restart: BOOTSTRAP, M ScheduleInform and queued transfers survive; PERIODIC does not', async () => {
  const dir = tempDir();
  const state = { down: false };
  const acs = await flakyAcs(state).listen();
  const mk = (): CpeAgent =>
    new CpeAgent(
      {
        profile: loadProfile('GXP2140'),
        serial: '000B82B00004',
        store: new FileStateStore<PersistedCpeState>(dir),
        provisioning: { acsUrl: acs.url, periodicInformEnable: true, periodicInformInterval: 1 },
        rebootDurationMs: 10,
      },
      { scheduler: new RealScheduler(), random: Math.random, onSend: () => undefined },
    );
  let agent = mk();
  try {
    let s = agent.nextSession();
    agent.start();
    assert.equal((await s).ok, true);
    // The ACS queues a delayed download and a ScheduleInform far in the future, then goes down.
    acs.queue.push(
      {
        method: 'Download',
        commandKey: 'dl-late',
        fileType: '1 Firmware Upgrade Image',
        url: 'http://127.0.0.1:9/fw.bin',
        username: '',
        password: '',
        fileSize: 0,
        targetFileName: '',
        delaySeconds: 3600,
        successURL: '',
        failureURL: '',
      },
      { method: 'ScheduleInform', delaySeconds: 7200, commandKey: 'si-late' },
    );
    s = agent.nextSession();
    agent.connectionRequest('http');
    await s;
    state.down = true;
    // The next periodic inform fails: 2 PERIODIC stays pending.
    s = agent.nextSession();
    assert.equal((await s).ok, false);
    assert.ok(agent.pendingEvents().some((e) => e.eventCode === '2 PERIODIC'));
    await agent.stop();

    // "Power cycle": a new process reads the state directory.
    agent = mk();
    const saved = new FileStateStore<PersistedCpeState>(dir).load()!;
    assert.ok(saved.events.some((e) => e.eventCode === '2 PERIODIC'));
    assert.equal(saved.transfers.length, 1);
    assert.equal(saved.scheduledInforms[0].commandKey, 'si-late');
    state.down = false;
    s = agent.nextSession();
    agent.start();
    assert.equal((await s).ok, true);
    const inform = acs.informs.at(-1)!;
    assert.ok(codes(inform).includes('1 BOOT'));
    assert.ok(!codes(inform).includes('0 BOOTSTRAP'), 'the ACS URL did not change: no new BOOTSTRAP');
    assert.ok(!codes(inform).includes('2 PERIODIC'), 'PERIODIC is not kept across a reboot');
    assert.equal(codes(inform).filter((c) => c === '1 BOOT').length, 1);
    assert.deepEqual(agent.queuedTransfers().map((t) => t.commandKey), ['dl-late']);
    acs.queue.push({ method: 'GetAllQueuedTransfers' });
    s = agent.nextSession();
    agent.connectionRequest('http');
    await s;
    const ans = acs.answers.at(-1)!.message as { transferList: { commandKey: string }[] };
    assert.deepEqual(ans.transferList.map((t) => t.commandKey), ['dl-late']);
  } finally {
    await agent.stop();
    await acs.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pending BOOTSTRAP survives a restart when the first contact failed', async () => {
  const dir = tempDir();
  const state = { down: true };
  const acs = await flakyAcs(state).listen();
  const mk = (): CpeAgent =>
    new CpeAgent(
      { profile: loadProfile('HT503'), serial: '000B82B00005', store: new FileStateStore<PersistedCpeState>(dir), provisioning: { acsUrl: acs.url } },
      { scheduler: new RealScheduler(), random: () => 0.99 },
    );
  let agent = mk();
  try {
    let s = agent.nextSession();
    agent.start();
    assert.equal((await s).ok, false);
    await agent.stop();
    state.down = false;
    agent = mk();
    s = agent.nextSession();
    agent.start();
    assert.equal((await s).ok, true);
    assert.deepEqual(codes(acs.informs[0]).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
    // RetryCount counts from the last boot.
    assert.equal(acs.informs[0].retryCount, 0);
  } finally {
    await agent.stop();
    await acs.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an ACS URL change raises BOOTSTRAP and discards what was pending for the old ACS', async () => {
  const acs1 = await new ScriptedAcs().listen();
  const acs2 = await new ScriptedAcs().listen();
  const agent = new CpeAgent({ profile: loadProfile('GXP2140'), serial: '000B82B00006', provisioning: { acsUrl: acs1.url } }, { scheduler: new RealScheduler(), random: Math.random });
  try {
    let s = agent.nextSession();
    agent.start();
    await s;
    acs1.queue.push(
      { method: 'ScheduleInform', delaySeconds: 3600, commandKey: 'old-acs' },
      { method: 'SetParameterValues', parameterList: [{ name: `${MS}URL`, value: acs2.url, type: 'string' }], parameterKey: 'move' },
    );
    s = agent.nextSession();
    agent.connectionRequest('http');
    await s;
    s = agent.nextSession();
    await s;
    assert.equal(acs2.informs.length, 1);
    assert.deepEqual(codes(acs2.informs[0]), ['0 BOOTSTRAP']);
    assert.equal(acs2.informs[0].parameterList.find((p) => p.name === `${MS}ParameterKey`)?.value, 'move');
  } finally {
    await agent.stop();
    await acs1.close();
    await acs2.close();
  }
});

test('SIGKILL right after an acknowledged SetParameterValues loses nothing', async () => {
  const dir = tempDir();
  const bin = fileURLToPath(new URL('../../bin/switchboard.mjs', import.meta.url));
  let child: ReturnType<typeof spawn> | null = null;
  let killedAt = 0;
  const acs: ScriptedAcs = new ScriptedAcs({
    beforeReply: (_req, _res, post) => {
      if (post.message?.method === 'SetParameterValuesResponse' && child) {
        // The CPE answered: from now on the change must be durable. Kill it before the session ends.
        child.kill('SIGKILL');
        killedAt = Date.now();
      }
      return false;
    },
  });
  await acs.listen();
  acs.queue.push({
    method: 'SetParameterValues',
    parameterList: [{ name: 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.DirectoryNumber', value: '4242', type: 'string' }],
    parameterKey: 'durable',
  });
  try {
    child = spawn(process.execPath, [bin, 'cpe', '--acs', acs.url, '--model', 'GXP2140', '--serial', '000B82B00007', '--state-dir', dir, '--conn-port', '0', '--host', '127.0.0.1', '--quiet'], {
      stdio: 'ignore',
    });
    const exited = new Promise<void>((r) => child!.on('exit', () => r()));
    await exited;
    assert.ok(killedAt > 0, 'the CPE was killed after answering');
    const saved = new FileStateStore<PersistedCpeState>(dir).load();
    assert.ok(saved, 'state file present');
    assert.equal(saved.model.values['Device.Services.VoiceService.1.VoiceProfile.1.Line.1.DirectoryNumber'], '4242');
    assert.equal(saved.model.parameterKey, 'durable');
    // The BOOTSTRAP was acknowledged by the InformResponse: it is not pending any more.
    assert.ok(!saved.events.some((e) => e.eventCode === '0 BOOTSTRAP'));
  } finally {
    child?.kill('SIGKILL');
    await acs.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('periodic informs follow PeriodicInformTime + n * PeriodicInformInterval; an interval change re-arms the timer', async () => {
  const acs = await new ScriptedAcs().listen();
  const start = Date.UTC(2025, 0, 1, 12, 0, 0);
  const scheduler = new FakeScheduler(start);
  const agent = new CpeAgent(
    { profile: loadProfile('HT502'), serial: '000B82B00008', provisioning: { acsUrl: acs.url, periodicInformEnable: true, periodicInformInterval: 60 } },
    { scheduler, random: () => 0.5 },
  );
  try {
    agent.model.setLocal(`${MS}PeriodicInformTime`, new Date(start - 45_000).toISOString().replace(/\.\d+Z$/, 'Z'));
    agent.start();
    assert.equal(agent.nextPeriodicInform(), start + 15_000, 'phase from PeriodicInformTime');
    let s = agent.nextSession();
    scheduler.advance(0);
    await s;
    s = agent.nextSession();
    scheduler.advance(15_000);
    await s;
    assert.deepEqual(codes(acs.informs.at(-1)!), ['2 PERIODIC']);
    assert.equal(agent.nextPeriodicInform(), start + 75_000);
    // The ACS changes the interval: the timer is re-armed at once.
    acs.queue.push({ method: 'SetParameterValues', parameterList: [{ name: `${MS}PeriodicInformInterval`, value: '600', type: 'unsignedInt' }], parameterKey: 'p' });
    s = agent.nextSession();
    agent.connectionRequest('http');
    scheduler.advance(0);
    await s;
    // Still phased on PeriodicInformTime (start - 45 s): the next multiple of 600 s after it.
    assert.equal(agent.nextPeriodicInform(), start - 45_000 + 600_000);
  } finally {
    await agent.stop();
    await acs.close();
  }
});

test('RequestDownload on a schedule: 9 REQUEST DOWNLOAD, the RPC with Model and Version, delivered on its response', async () => {
  const acs = await new ScriptedAcs().listen();
  const scheduler = new FakeScheduler(Date.UTC(2025, 0, 1));
  const agent = new CpeAgent(
    { profile: loadProfile('GXV3140'), serial: '000B82B00009', provisioning: { acsUrl: acs.url }, requestDownloadIntervalMs: 3_600_000 },
    { scheduler, random: () => 0.5 },
  );
  try {
    agent.start();
    let s = agent.nextSession();
    scheduler.advance(0);
    await s;
    s = agent.nextSession();
    scheduler.advance(3_600_000);
    await s;
    assert.deepEqual(codes(acs.informs.at(-1)!), ['9 REQUEST DOWNLOAD']);
    const rd = acs.received.find((p) => p.message?.method === 'RequestDownload')?.message as { fileType: string; fileTypeArg: { name: string; value: string }[] };
    assert.equal(rd.fileType, '1 Firmware Upgrade Image');
    assert.deepEqual(rd.fileTypeArg, [
      { name: 'Model', value: 'GXV3140' },
      { name: 'Version', value: agent.model.getValue('Device.DeviceInfo.SoftwareVersion') },
    ]);
    assert.deepEqual(agent.pendingEvents(), []);
  } finally {
    await agent.stop();
    await acs.close();
  }
});
