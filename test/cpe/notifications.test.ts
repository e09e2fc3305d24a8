/**
 * Notifications: passive changes wait for the next Inform, active ones start a session (respecting
 * DefaultActiveNotificationThrottle), changes made by the ACS are not reported back, forced
 * (activeNotify) parameters are reported, and the simulated lines change Status / CallState / Stats
 * deterministically and are reported like any other parameter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Inform } from '../../src/cwmp/index.ts';
import { CpeAgent } from '../../src/cpe/agent.ts';
import { LineSimulator } from '../../src/cpe/line-sim.ts';
import { FakeScheduler } from '../../src/cpe/scheduler.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { startHarness } from './harness.ts';

const LINE1 = 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.';
const MS = 'Device.ManagementServer.';
const events = (i: Inform): string[] => i.event.map((e) => e.eventCode);
const value = (i: Inform, name: string): string | undefined => i.parameterList.find((p) => p.name === name)?.value;

function attr(name: string, notification: 0 | 1 | 2) {
  return { method: 'SetParameterAttributes' as const, parameterList: [{ name, notificationChange: true, notification, accessListChange: false, accessList: [] }] };
}

test('passive notification: a local change waits for the next Inform and is reported with 4 VALUE CHANGE', async () => {
  const h = await startHarness();
  try {
    await h.session([attr(`${LINE1}DirectoryNumber`, 1)]);
    const sessions = h.acs.sessions;
    assert.equal(h.agent.setLocalValue(`${LINE1}DirectoryNumber`, '5551234'), true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.acs.sessions, sessions, 'a passive change does not start a session');
    await h.session([]);
    const inform = h.acs.informs.at(-1)!;
    assert.ok(events(inform).includes('4 VALUE CHANGE'));
    assert.equal(value(inform, `${LINE1}DirectoryNumber`), '5551234');
    // Delivered: not in the Inform after.
    await h.session([]);
    assert.equal(value(h.acs.informs.at(-1)!, `${LINE1}DirectoryNumber`), undefined);
    assert.ok(!events(h.acs.informs.at(-1)!).includes('4 VALUE CHANGE'));
    await h.validateAll();
  } finally {
    await h.close();
  }
});

test('active notification starts a session; a change made by the ACS itself is not reported back', async () => {
  const h = await startHarness();
  try {
    await h.session([
      attr(`${LINE1}DirectoryNumber`, 2),
      { method: 'SetParameterValues', parameterList: [{ name: `${LINE1}DirectoryNumber`, value: '100', type: 'string' }], parameterKey: 'acs-set' },
    ]);
    await new Promise((r) => setTimeout(r, 200));
    const sessions = h.acs.sessions;
    assert.ok(!events(h.acs.informs.at(-1)!).includes('4 VALUE CHANGE'));
    const s = h.agent.nextSession();
    h.agent.setLocalValue(`${LINE1}DirectoryNumber`, '200');
    await s;
    assert.equal(h.acs.sessions, sessions + 1);
    const inform = h.acs.informs.at(-1)!;
    assert.deepEqual(events(inform), ['4 VALUE CHANGE']);
    assert.equal(value(inform, `${LINE1}DirectoryNumber`), '200');
  } finally {
    await h.close();
  }
});

test('DefaultActiveNotificationThrottle delays an active-notification session after the last one', async () => {
  const h = await startHarness();
  try {
    await h.session([
      attr(`${LINE1}DirectoryNumber`, 2),
      { method: 'SetParameterValues', parameterList: [{ name: `${MS}DefaultActiveNotificationThrottle`, value: '1', type: 'unsignedInt' }], parameterKey: 't' },
    ]);
    const ended = Date.now();
    const s = h.agent.nextSession();
    h.agent.setLocalValue(`${LINE1}DirectoryNumber`, '300');
    await s;
    const startedAfter = Date.now() - ended;
    assert.ok(startedAfter >= 900, `session started ${startedAfter} ms after the previous one`);
  } finally {
    await h.close();
  }
});

test('a forced active parameter (SoftwareVersion) is notified without any SetParameterAttributes', async () => {
  const h = await startHarness();
  try {
    const s = h.agent.nextSession();
    h.agent.setLocalValue('Device.DeviceInfo.SoftwareVersion', '1.0.11.1');
    await s;
    const inform = h.acs.informs.at(-1)!;
    assert.deepEqual(events(inform), ['4 VALUE CHANGE']);
    assert.equal(value(inform, 'Device.DeviceInfo.SoftwareVersion'), '1.0.11.1');
  } finally {
    await h.close();
  }
});

test('line simulation: Status, CallState and Stats counters change and are reported per their attributes', async () => {
  const h = await startHarness();
  const sim = new LineSimulator(h.agent, { after: (ms, f) => ({ at: 0, cancel: clearTimer(setTimeout(f, ms)) }) }, {
    seed: 42,
    meanGapMs: 20,
    minCallMs: 1000,
    maxCallMs: 2000,
    alertMs: 10,
    registerMs: 10,
    answerRate: 1,
    enableLines: true,
  });
  try {
    await h.session([attr(`${LINE1}Status`, 1), attr(`${LINE1}Stats.`, 1), attr(`${LINE1}CallState`, 1)]);
    sim.start();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && Number(h.agent.model.getValue(`${LINE1}Stats.TotalCallTime`) ?? 0) === 0) await new Promise((r) => setTimeout(r, 50));
    sim.stop();
    assert.equal(h.agent.model.getValue(`${LINE1}Status`), 'Up');
    const received = Number(h.agent.model.getValue(`${LINE1}Stats.IncomingCallsReceived`));
    const attempted = Number(h.agent.model.getValue(`${LINE1}Stats.OutgoingCallsAttempted`));
    assert.ok(received + attempted >= 1);
    assert.ok(Number(h.agent.model.getValue(`${LINE1}Stats.PacketsSent`)) > 0);
    await h.session([]);
    const inform = h.acs.informs.at(-1)!;
    assert.ok(events(inform).includes('4 VALUE CHANGE'));
    assert.equal(value(inform, `${LINE1}Status`), 'Up');
    assert.ok(value(inform, `${LINE1}Stats.TotalCallTime`) !== undefined);
    await h.validateAll();
  } finally {
    sim.stop();
    await h.close();
  }
});

function clearTimer(t: ReturnType<typeof setTimeout>): () => void {
  return () => clearTimeout(t);
}

test('line simulation is deterministic: the same seed and serial give the same counters', () => {
  const run = (seed: number): string[] => {
    const scheduler = new FakeScheduler(0);
    const agent = new CpeAgent({ profile: loadProfile('GXW4004'), serial: '000B82D00001' }, { scheduler, random: () => 0.5 });
    const sim = new LineSimulator(agent, scheduler, { seed, meanGapMs: 1000, minCallMs: 2000, maxCallMs: 60_000, enableLines: true });
    sim.start();
    scheduler.advance(10 * 60_000);
    sim.stop();
    return sim.lines().flatMap((l) => ['IncomingCallsReceived', 'OutgoingCallsAttempted', 'TotalCallTime'].map((c) => agent.model.getValue(`${l}Stats.${c}`) ?? ''));
  };
  const a = run(7);
  assert.deepEqual(run(7), a);
  assert.notDeepEqual(run(8), a);
  assert.ok(a.some((v) => Number(v) > 0));
});
