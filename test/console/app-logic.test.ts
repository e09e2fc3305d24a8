/**
 * The console's pure logic, in node: search box parsing, rollout stages, the parameter tree index,
 * online status, query strings, bulk action summaries.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queryString } from '../../src/console/app/api.ts';
import { ago, contactStatus, DEFAULT_RULE } from '../../src/console/app/format.ts';
import { parseSearch, parseStages } from '../../src/console/app/parse.ts';
import { describeBulk, describeTaskAnswer, forEachDevice } from '../../src/console/app/tasks.ts';
import { buildIndex } from '../../src/console/app/tree.ts';
import type { Parameter, Task } from '../../src/console/app/types.ts';

describe('search box', () => {
  it('turns Name=value and friends into parameter conditions', () => {
    assert.deepEqual(parseSearch('Device.DeviceInfo.SoftwareVersion=1.0.11.6'), { where: 'Device.DeviceInfo.SoftwareVersion eq 1.0.11.6' });
    assert.deepEqual(parseSearch(' Device.A.B != x y '), { where: 'Device.A.B ne x y' });
    assert.deepEqual(parseSearch('Device.A.B^=sip.'), { where: 'Device.A.B prefix sip.' });
    assert.deepEqual(parseSearch('Device.ManagementServer.PeriodicInformInterval>=300'), { where: 'Device.ManagementServer.PeriodicInformInterval gte 300' });
    assert.deepEqual(parseSearch('Device.A.B lt 5'), { where: 'Device.A.B lt 5' });
    assert.deepEqual(parseSearch('Device.A.B='), { where: 'Device.A.B eq ' }, 'an empty value is a value');
  });

  it('searches ids otherwise (serials, versions, words)', () => {
    assert.deepEqual(parseSearch('000B82-GXP2140'), { q: '000B82-GXP2140' });
    assert.deepEqual(parseSearch('1.0.11.6'), { q: '1.0.11.6' });
    assert.deepEqual(parseSearch('HT502'), { q: 'HT502' });
    assert.deepEqual(parseSearch('   '), {});
  });
});

describe('rollout stages', () => {
  it('reads counts and percentages', () => {
    assert.deepEqual(parseStages('1, 10%, 100%'), { stages: [{ count: 1 }, { percent: 10 }, { percent: 100 }] });
    assert.deepEqual(parseStages('2.5%'), { stages: [{ percent: 2.5 }] });
  });
  it('says what is wrong', () => {
    assert.deepEqual(parseStages(''), { error: 'Give at least one stage, e.g. "1, 10%, 100%".' });
    assert.deepEqual(parseStages('1, ten'), { error: '"ten" is not a device count or a percentage.' });
  });
});

function param(name: string, value: string | null = null): Parameter {
  return { name, value, type: name.endsWith('.') ? null : 'string', writable: true, notification: null, accessList: null, object: name.endsWith('.'), updatedAt: '2025-01-01T00:00:00.000Z' };
}

describe('parameter tree index', () => {
  it('nests by path, invents missing objects and sorts instance numbers numerically', () => {
    const index = buildIndex([
      param('Device.Services.VoiceService.1.VoiceProfile.10.Enable', '1'),
      param('Device.Services.VoiceService.1.VoiceProfile.2.Enable', '1'),
      param('Device.DeviceInfo.ModelName', 'GXP2140'),
      param('Device.DeviceInfo.'),
    ]);
    assert.deepEqual(index.roots.map((n) => n.path), ['Device.']);
    assert.deepEqual(index.children.get('Device.')!.map((n) => n.label), ['DeviceInfo.', 'Services.']);
    assert.deepEqual(index.children.get('Device.Services.VoiceService.1.VoiceProfile.')!.map((n) => n.label), ['2.', '10.']);
    const info = index.children.get('Device.')![0];
    assert.notEqual(info.param, null, 'a listed object keeps its parameter');
    assert.equal(index.children.get('Device.')![1].param, null, 'an invented object has none');
    assert.equal(index.byName.get('Device.DeviceInfo.ModelName')?.value, 'GXP2140');
  });
});

describe('online status', () => {
  const now = Date.parse('2025-06-01T12:00:00.000Z');
  it('uses the device interval when known, else the default; never for no contact', () => {
    const ago = (s: number) => new Date(now - s * 1000).toISOString();
    // default 300 s × 2 + 60 s = 660 s
    assert.equal(contactStatus(ago(659), DEFAULT_RULE, null, now), 'online');
    assert.equal(contactStatus(ago(661), DEFAULT_RULE, null, now), 'offline');
    assert.equal(contactStatus(ago(3000), DEFAULT_RULE, 3600, now), 'online');
    assert.equal(contactStatus(null, DEFAULT_RULE, null, now), 'never');
  });
  it('says how long ago', () => {
    assert.equal(ago(new Date(now - 90_000).toISOString(), now), '2 min ago');
    assert.equal(ago(new Date(now - 3 * 3_600_000).toISOString(), now), '3 h ago');
    assert.equal(ago(null, now), 'never');
  });
});

describe('query strings', () => {
  it('repeats keys for arrays and leaves out empty values', () => {
    assert.equal(queryString({ where: ['a eq 1', 'b eq 2'], q: '', limit: 50, cursor: undefined }), '?where=a+eq+1&where=b+eq+2&limit=50');
    assert.equal(queryString({}), '');
  });
});

describe('action outcomes', () => {
  it('summarises bulk actions, saying a shared reason once', async () => {
    const result = await forEachDevice(['a', 'b', 'c'], async (id) => {
      if (id !== 'a') throw new Error('refused');
    });
    assert.deepEqual(result.ok, ['a']);
    const outcome = describeBulk('Reboot queued', result);
    assert.equal(outcome.kind, 'error');
    assert.equal(outcome.text, 'Reboot queued on 1 of 3 devices. 2 failed: Something went wrong: refused');
    assert.deepEqual(describeBulk('Tag added', { ok: ['a'], failed: [] }), { kind: 'success', text: 'Tag added on 1 of 1 device.' });
  });

  it('runs bulk work with bounded concurrency', async () => {
    let running = 0;
    let peak = 0;
    await forEachDevice(Array.from({ length: 20 }, (_, i) => String(i)), async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    }, 4);
    assert.equal(peak, 4);
  });

  it('describes task answers: done, failed with the fault, queued with an unreachable device', () => {
    const task = (over: Partial<Task>): Task => ({ id: '1', deviceId: 'd', type: 'reboot', payload: {}, status: 'done', result: null, faultCode: null, faultString: null, attempts: 1, maxAttempts: 3, createdAt: '', startedAt: null, finishedAt: null, connectionRequest: true, ...over });
    assert.deepEqual(describeTaskAnswer({ task: task({}) }), { kind: 'success', text: 'The reboot is done.' });
    assert.equal(describeTaskAnswer({ task: task({ status: 'failed', type: 'setParameterValues', faultCode: 9007, faultString: 'Invalid parameter value' }) }).text, 'Setting the value failed (fault 9007: Invalid parameter value).');
    const queued = describeTaskAnswer({ task: task({ status: 'pending' }), connectionRequest: { status: 'unreachable', transport: 'http', detail: 'connect ECONNREFUSED' } });
    assert.equal(queued.kind, 'info');
    assert.match(queued.text, /could not be reached now \(unreachable: connect ECONNREFUSED\)/);
  });
});
