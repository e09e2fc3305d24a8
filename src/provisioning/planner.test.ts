/**
 * Planner unit tests (pure): a small simulated device answers the planner's steps so that whole
 * sessions can be played without any I/O.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { StoredParameter } from '../store/types.ts';
import type { Preset } from '../store/provisioning/types.ts';
import { desiredHash, NOT_MATCHING, resolveDesired, selectPresets, valueHash, type Contribution, type ResolvedDesired } from './desired.ts';
import {
  analyze,
  applyStepResult,
  emptyMemory,
  knownStateFrom,
  newPlanSession,
  nextStep,
  sameValue,
  stepPayload,
  type PlanSessionOptions,
  type PlanStep,
  type PlannerMemory,
  type StepResult,
} from './planner.ts';

const MS = 'Device.ManagementServer.';
const VP = 'Device.Services.VoiceService.1.VoiceProfile.';

function param(name: string, value: string | null, extra: Partial<StoredParameter> = {}): StoredParameter {
  return { name, value, type: 'string', writable: true, notification: null, accessList: null, object: name.endsWith('.'), updatedAt: '', ...extra };
}

function contribution(spec: Preset['desired'], weight = 0, name = 'p', revision = 1): Contribution {
  return { source: { kind: 'preset', id: `id-${name}`, name, revision }, weight, spec };
}

/** A minimal device: values, types, attributes, tables; answers planner steps like a CPE. */
class FakeDevice {
  values = new Map<string, { value: string; type: string; notification: number }>();
  refuse = new Map<string, number>();
  /** Accept writes of these names but keep the old value (a device that ignores a setting). */
  ignore = new Set<string>();
  calls: string[] = [];
  /** Names of every SetParameterValues received. */
  spvs: string[][] = [];
  constructor(entries: Record<string, string | [string, string]>) {
    for (const [k, v] of Object.entries(entries)) this.values.set(k, { value: Array.isArray(v) ? v[0] : v, type: Array.isArray(v) ? v[1] : 'string', notification: 0 });
  }
  instances(table: string): number[] {
    const out = new Set<number>();
    for (const k of this.values.keys()) {
      const m = new RegExp(`^${table.replace(/\./g, '\\.')}(\\d+)\\.`).exec(k);
      if (m) out.add(Number(m[1]));
    }
    return [...out].sort((a, b) => a - b);
  }
  /** Runs a step; returns the result and the writes the engine would store. */
  run(step: PlanStep): { result: StepResult; writes: StoredParameter[] } {
    const payload = stepPayload(step, 'k');
    this.calls.push(payload.type);
    const fault = (code: number, parameterFaults: { name: string; faultCode: number; faultString: string }[] = []) => ({ result: { ok: false as const, faultCode: code, faultString: `fault ${code}`, parameterFaults }, writes: [] });
    switch (payload.type) {
      case 'getParameterNames': {
        const inst = this.instances(payload.path);
        if (inst.length === 0 && ![...this.values.keys()].some((k) => k.startsWith(payload.path))) return fault(9005);
        const names = new Set<string>();
        for (const k of this.values.keys()) {
          if (!k.startsWith(payload.path)) continue;
          const rest = k.slice(payload.path.length);
          const dot = rest.indexOf('.');
          names.add(dot < 0 ? k : payload.path + rest.slice(0, dot + 1));
        }
        return { result: { ok: true, result: { parameters: [...names].map((n) => ({ name: n, writable: true })) } }, writes: [...names].map((n) => param(n, null, { type: null })) };
      }
      case 'getParameterValues': {
        const missing = payload.names.filter((n) => !this.values.has(n));
        if (missing.length > 0) return fault(9005);
        const list = payload.names.map((n) => ({ name: n, value: this.values.get(n)!.value, type: this.values.get(n)!.type }));
        return { result: { ok: true, result: { parameters: list } }, writes: list.map((p) => param(p.name, p.value, { type: p.type })) };
      }
      case 'setParameterValues': {
        this.spvs.push(payload.parameters.map((p) => p.name));
        const bad = payload.parameters.filter((p) => this.refuse.has(p.name) || !this.values.has(p.name));
        if (bad.length > 0) return fault(9003, bad.map((p) => ({ name: p.name, faultCode: this.refuse.get(p.name) ?? 9005, faultString: 'refused' })));
        for (const p of payload.parameters) if (!this.ignore.has(p.name)) this.values.get(p.name)!.value = String(p.value);
        return { result: { ok: true, result: { status: 0 } }, writes: payload.parameters.map((p) => param(p.name, String(p.value), { type: this.values.get(p.name)!.type })) };
      }
      case 'getParameterAttributes':
        return {
          result: { ok: true, result: {} },
          writes: payload.names.map((n) => ({ ...param(n, this.values.get(n)!.value), notification: this.values.get(n)!.notification, accessList: [] })),
        };
      case 'setParameterAttributes':
        for (const p of payload.parameters) this.values.get(p.name)!.notification = p.notification ?? 0;
        return { result: { ok: true, result: {} }, writes: payload.parameters.map((p) => ({ ...param(p.name, this.values.get(p.name)!.value), notification: p.notification ?? 0 })) };
      case 'addObject': {
        const n = Math.max(0, ...this.instances(payload.objectName)) + 1;
        for (const rel of ['Line.1.SIP.AuthUserName', 'Line.1.Enable']) this.values.set(`${payload.objectName}${n}.${rel}`, { value: '', type: 'string', notification: 0 });
        return { result: { ok: true, result: { instanceNumber: n, status: 0 } }, writes: [param(`${payload.objectName}${n}.`, null, { type: null })] };
      }
      default:
        throw new Error(`unexpected ${payload.type}`);
    }
  }
}

/** The ACS side: what it knows, what it remembers. */
class Acs {
  known = new Map<string, StoredParameter>();
  memory: PlannerMemory = emptyMemory();
  faults: string[] = [];
  constructor(initial: StoredParameter[] = []) {
    for (const p of initial) this.known.set(p.name, p);
  }
  /** Plays one session; returns the RPC types sent. */
  session(desired: ResolvedDesired, device: FakeDevice, options: PlanSessionOptions = {}): string[] {
    const session = newPlanSession(options);
    const sent: string[] = [];
    for (;;) {
      const { step, effects } = nextStep(desired, knownStateFrom([...this.known.values()]), this.memory, session);
      this.apply(effects);
      if (!step) return sent;
      const { result, writes } = device.run(step);
      sent.push(stepPayload(step, '').type);
      if (!result.ok) this.faults.push(`${stepPayload(step, '').type}:${result.faultCode}`); // the engine records one fault per failed RPC
      for (const w of writes) this.known.set(w.name, { ...(this.known.get(w.name) ?? {}), ...w, value: w.value ?? this.known.get(w.name)?.value ?? null });
      this.apply(applyStepResult(step, result, session));
    }
  }
  apply(effects: ReturnType<typeof applyStepResult>): void {
    for (const m of effects.memory) {
      if (m.kind === 'applied') this.memory.applied.set(m.name, m.hash);
      else this.memory.refused.set(m.name, { hash: m.hash, faultCode: m.faultCode, faultString: m.faultString });
    }
    for (const f of effects.faults) this.faults.push(`record:${f.code}`);
  }
}

const ctx = { variables: {}, device: {} };

describe('planner: values', () => {
  const desired = resolveDesired([contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }, { name: `${MS}PeriodicInformEnable`, value: true }] })], ctx);

  it('asks for unknown values in ONE GetParameterValues, then sets only what differs in ONE SetParameterValues, then verifies', () => {
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'], [`${MS}PeriodicInformEnable`]: ['1', 'boolean'] });
    const acs = new Acs();
    assert.deepEqual(acs.session(desired, device), ['getParameterValues', 'setParameterValues', 'getParameterValues']);
    assert.equal(device.values.get(`${MS}PeriodicInformInterval`)!.value, '600');
    // the SPV carried only the differing value (Enable is already "1" = true)
    assert.deepEqual(device.spvs, [[`${MS}PeriodicInformInterval`]]);
    assert.equal(acs.faults.length, 0);
    // second session: everything known and equal: no RPC at all
    assert.deepEqual(acs.session(desired, device), []);
  });

  it('sends nothing when the stored values already match (booleans and numbers by type)', () => {
    const acs = new Acs([param(`${MS}PeriodicInformInterval`, '0600', { type: 'unsignedInt' }), param(`${MS}PeriodicInformEnable`, 'true', { type: 'boolean' })]);
    assert.deepEqual(acs.session(desired, new FakeDevice({})), []);
  });

  it('a refused value yields one fault and is not sent again until the preset changes', () => {
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'], [`${MS}PeriodicInformEnable`]: ['0', 'boolean'] });
    device.refuse.set(`${MS}PeriodicInformInterval`, 9007);
    const acs = new Acs();
    const first = acs.session(desired, device);
    // GPV, SPV (refused: both rejected atomically), SPV of the other value, verify
    assert.deepEqual(first, ['getParameterValues', 'setParameterValues', 'setParameterValues', 'getParameterValues']);
    assert.deepEqual(device.spvs, [[`${MS}PeriodicInformInterval`, `${MS}PeriodicInformEnable`], [`${MS}PeriodicInformEnable`]]);
    assert.deepEqual(acs.faults, ['setParameterValues:9003']);
    assert.equal(device.values.get(`${MS}PeriodicInformEnable`)!.value, 'true');
    assert.equal(acs.memory.refused.get(`${MS}PeriodicInformInterval`)?.faultCode, 9007);
    for (let i = 0; i < 3; i++) assert.deepEqual(acs.session(desired, device), [], `session ${i + 2}`);
    assert.equal(acs.faults.length, 1);
    // a new preset revision: tried again (and refused again, once)
    const changed = resolveDesired([contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }, { name: `${MS}PeriodicInformEnable`, value: true }] }, 0, 'p', 2)], ctx);
    assert.deepEqual(acs.session(changed, device), ['setParameterValues']);
    assert.equal(acs.faults.length, 2);
    assert.deepEqual(acs.session(changed, device), []);
  });

  it('records a value the device accepted but did not apply, once', () => {
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'], [`${MS}PeriodicInformEnable`]: ['1', 'boolean'] });
    device.ignore.add(`${MS}PeriodicInformInterval`);
    const acs = new Acs();
    acs.session(desired, device);
    assert.deepEqual(acs.faults, ['record:provisioning_verify_mismatch']);
    assert.deepEqual(acs.session(desired, device), []);
    assert.equal(acs.faults.length, 1);
  });

  it('finds the one unknown name of a failed batched read with GetParameterNames, not by retrying blindly', () => {
    const d = resolveDesired([contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }, { name: `${MS}X_Nope`, value: 'x' }] })], ctx);
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'] });
    const acs = new Acs();
    const rpcs = acs.session(d, device);
    assert.deepEqual(rpcs, ['getParameterValues', 'getParameterNames', 'getParameterValues', 'setParameterValues', 'getParameterValues']);
    assert.deepEqual(acs.faults, ['getParameterValues:9005', 'record:9005']);
    assert.equal(device.values.get(`${MS}PeriodicInformInterval`)!.value, '600');
    assert.deepEqual(acs.session(d, device), []);
  });

  it('never reads secrets; sets them once and compares with what it set', () => {
    const d = resolveDesired([contribution({ parameters: [{ name: `${MS}ConnectionRequestPassword`, value: 's3cret' }] })], ctx);
    const device = new FakeDevice({ [`${MS}ConnectionRequestPassword`]: '' });
    const acs = new Acs();
    assert.deepEqual(acs.session(d, device), ['setParameterValues']);
    assert.equal(acs.memory.applied.get(`${MS}ConnectionRequestPassword`), valueHash(`${MS}ConnectionRequestPassword`, 's3cret'));
    assert.deepEqual(acs.session(d, device), []);
    const d2 = resolveDesired([contribution({ parameters: [{ name: `${MS}ConnectionRequestPassword`, value: 'other' }] })], ctx);
    assert.deepEqual(acs.session(d2, device), ['setParameterValues']);
  });

  it('splits a batch the device refused without saying which value, to apply the others', () => {
    const d = resolveDesired([contribution({ parameters: ['A', 'B', 'C', 'D'].map((x) => ({ name: `Device.X.${x}`, value: 'v' })) })], ctx);
    const known = ['A', 'B', 'C', 'D'].map((x) => param(`Device.X.${x}`, 'old'));
    const session = newPlanSession();
    const memory = emptyMemory();
    const first = nextStep(d, knownStateFrom(known), memory, session).step!;
    assert.equal(first.kind, 'set-values');
    const effects = applyStepResult(first, { ok: false, faultCode: 9007, faultString: 'bad value', parameterFaults: [] }, session);
    assert.equal(effects.memory.length, 0);
    const second = nextStep(d, knownStateFrom(known), memory, session).step!;
    assert.equal(second.kind, 'set-values');
    assert.deepEqual(second.kind === 'set-values' && second.values.map((v) => v.name), ['Device.X.A', 'Device.X.B']);
  });

  it('hashes values as earlier versions stored them (memory written before stays valid)', () => {
    const sha = (parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
    const source = { kind: 'preset' as const, id: 'id-p', name: 'p', revision: 3 };
    assert.equal(desiredHash(`${MS}URL`, 'http://acs "x"', source), sha([`${MS}URL`, 'http://acs "x"', 'preset', 'id-p', 3]));
    assert.equal(valueHash(`${MS}PeriodicInformInterval`, 600), sha([`${MS}PeriodicInformInterval`, '600']));
    assert.notEqual(desiredHash('A', 'v', source), desiredHash('A', 'v', { ...source, revision: 4 }));
  });

  it('remembers a refusal by the desired hash of the value and its source revision, and skips that value while it stands', () => {
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'], [`${MS}PeriodicInformEnable`]: ['1', 'boolean'] });
    device.refuse.set(`${MS}PeriodicInformInterval`, 9007);
    const acs = new Acs();
    acs.session(desired, device);
    const d = desired.values.get(`${MS}PeriodicInformInterval`)!;
    assert.equal(acs.memory.refused.get(`${MS}PeriodicInformInterval`)?.hash, desiredHash(d.name, d.value, d.source));
    const analysis = analyze(desired, knownStateFrom([param(`${MS}PeriodicInformInterval`, '300')]), acs.memory, newPlanSession());
    const diff = analysis.values.find((v) => v.name === `${MS}PeriodicInformInterval`)!;
    assert.equal(diff.status, 'refused');
    assert.equal(diff.hash, desiredHash(d.name, d.value, d.source));
  });

  it('compares values by type', () => {
    assert.equal(sameValue(true, '1', 'boolean'), true);
    assert.equal(sameValue('false', '0', 'boolean'), true);
    assert.equal(sameValue(300, '0300', 'unsignedInt'), true);
    assert.equal(sameValue('2025-01-01T00:00:00Z', '2025-01-01T00:00:00.000Z', 'dateTime'), true);
    assert.equal(sameValue('abc', 'ABC', 'string'), false);
    assert.equal(sameValue('', '0', 'unsignedInt'), false);
  });
});

describe('planner: a device the ACS has never seen', () => {
  const desired = resolveDesired([contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }, { name: `${MS}PeriodicInformEnable`, value: true }] })], ctx);
  const neverSeen = { neverSeen: true };

  it('writes every plain value without reading first, then verifies; the next session sends nothing', () => {
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'], [`${MS}PeriodicInformEnable`]: ['1', 'boolean'] });
    const acs = new Acs();
    assert.deepEqual(acs.session(desired, device, neverSeen), ['setParameterValues', 'getParameterValues']);
    // both values in the one write (the equal one too: it was not read)
    assert.deepEqual(device.spvs, [[`${MS}PeriodicInformInterval`, `${MS}PeriodicInformEnable`]]);
    assert.equal(device.values.get(`${MS}PeriodicInformInterval`)!.value, '600');
    assert.equal(acs.faults.length, 0);
    assert.deepEqual(acs.session(desired, device), []);
  });

  it('plans the first write from the same analysis a fresh one gives once the read is skipped', () => {
    const d = resolveDesired([contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }, { name: `${MS}ConnectionRequestPassword`, value: 'pw' }] })], ctx);
    const session = newPlanSession(neverSeen);
    const known = knownStateFrom([]);
    const { step, analysis } = nextStep(d, known, emptyMemory(), session);
    assert.equal(step?.kind, 'set-values');
    const fresh = analyze(d, known, emptyMemory(), session);
    assert.deepEqual(analysis.values.map((v) => [v.name, v.status]), fresh.values.map((v) => [v.name, v.status]));
    assert.deepEqual(analysis.values.map((v) => [v.name, v.status]), [[`${MS}PeriodicInformInterval`, 'differs'], [`${MS}ConnectionRequestPassword`, 'differs']]);
    assert.deepEqual([analysis.toRead, fresh.toRead], [[], []]);
  });

  it('a name the device lacks is refused by the write (one fault), the others are written and verified', () => {
    const d = resolveDesired([contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }, { name: `${MS}X_Nope`, value: 'x' }] })], ctx);
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'] });
    const acs = new Acs();
    assert.deepEqual(acs.session(d, device, neverSeen), ['setParameterValues', 'setParameterValues', 'getParameterValues']);
    assert.deepEqual(acs.faults, ['setParameterValues:9003']);
    assert.equal(acs.memory.refused.get(`${MS}X_Nope`)?.faultCode, 9005);
    assert.equal(device.values.get(`${MS}PeriodicInformInterval`)!.value, '600');
    assert.deepEqual(acs.session(d, device), []);
  });

  it('still reads first when tables are desired (matching needs the instance keys)', () => {
    const account = (user: string) => ({ values: { 'Line.1.SIP.AuthUserName': user, 'Line.1.Enable': 'Enabled' } });
    const d = resolveDesired(
      [contribution({ parameters: [{ name: `${MS}PeriodicInformInterval`, value: 600 }], objects: [{ path: VP, key: ['Line.1.SIP.AuthUserName'], instances: [account('1001')] }] })],
      ctx,
    );
    // the interval already has the desired value: read, it is not written
    const fresh = () => new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['600', 'unsignedInt'], [`${VP}1.Line.1.SIP.AuthUserName`]: '', [`${VP}1.Line.1.Enable`]: 'Disabled' });
    const [a, b] = [fresh(), fresh()];
    const seen = new Acs().session(d, a);
    assert.deepEqual(new Acs().session(d, b, neverSeen), seen);
    assert.deepEqual(b.spvs, a.spvs);
    assert.ok(!b.spvs.flat().includes(`${MS}PeriodicInformInterval`));
  });

  it('a device seen before is read first', () => {
    const device = new FakeDevice({ [`${MS}PeriodicInformInterval`]: ['300', 'unsignedInt'], [`${MS}PeriodicInformEnable`]: ['1', 'boolean'] });
    assert.deepEqual(new Acs().session(desired, device, { neverSeen: false })[0], 'getParameterValues');
  });
});

describe('planner: attributes', () => {
  it('reads unknown attributes once, then sets only those that differ', () => {
    const d = resolveDesired([contribution({ attributes: [{ name: `${MS}A`, notification: 2 }, { name: `${MS}B`, notification: 1 }] })], ctx);
    const device = new FakeDevice({ [`${MS}A`]: 'x', [`${MS}B`]: 'y' });
    device.values.get(`${MS}B`)!.notification = 1;
    const acs = new Acs([param(`${MS}A`, 'x'), param(`${MS}B`, 'y')]);
    assert.deepEqual(acs.session(d, device), ['getParameterAttributes', 'setParameterAttributes']);
    assert.equal(device.values.get(`${MS}A`)!.notification, 2);
    assert.deepEqual(acs.session(d, device), []);
  });
});

describe('planner: object instances', () => {
  const account = (user: string) => ({ values: { 'Line.1.SIP.AuthUserName': user, 'Line.1.Enable': 'Enabled' } });

  it('matches instances by key, reuses free ones, adds missing ones, reads keys and values in one batch', () => {
    const d = resolveDesired([contribution({ objects: [{ path: VP, key: ['Line.1.SIP.AuthUserName'], instances: [account('1001'), account('1002'), account('1003')] }] })], ctx);
    const device = new FakeDevice({
      [`${VP}1.Line.1.SIP.AuthUserName`]: '1002',
      [`${VP}1.Line.1.Enable`]: 'Enabled',
      [`${VP}2.Line.1.SIP.AuthUserName`]: '',
      [`${VP}2.Line.1.Enable`]: 'Disabled',
    });
    const acs = new Acs();
    const rpcs = acs.session(d, device);
    assert.deepEqual(rpcs, ['getParameterNames', 'getParameterValues', 'addObject', 'getParameterValues', 'setParameterValues', 'getParameterValues']);
    // 1002 stayed on instance 1 (its key matched), 1001 took the free instance 2, 1003 got a new one
    assert.equal(device.values.get(`${VP}1.Line.1.SIP.AuthUserName`)!.value, '1002');
    assert.equal(device.values.get(`${VP}2.Line.1.SIP.AuthUserName`)!.value, '1001');
    assert.equal(device.values.get(`${VP}3.Line.1.SIP.AuthUserName`)!.value, '1003');
    assert.equal(device.values.get(`${VP}2.Line.1.Enable`)!.value, 'Enabled');
    assert.deepEqual(acs.session(d, device), []);
  });

  it('without a key, takes instances in number order (account N = instance N)', () => {
    const d = resolveDesired([contribution({ objects: [{ path: VP, create: false, instances: [account('a'), account('b'), account('c')] }] })], ctx);
    const device = new FakeDevice({ [`${VP}1.Line.1.SIP.AuthUserName`]: 'x', [`${VP}1.Line.1.Enable`]: 'x', [`${VP}2.Line.1.SIP.AuthUserName`]: 'y', [`${VP}2.Line.1.Enable`]: 'y' });
    const acs = new Acs();
    acs.session(d, device);
    assert.equal(device.values.get(`${VP}1.Line.1.SIP.AuthUserName`)!.value, 'a');
    assert.equal(device.values.get(`${VP}2.Line.1.SIP.AuthUserName`)!.value, 'b');
    assert.equal(device.instances(VP).length, 2, 'create false: no AddObject');
    const analysis = analyze(d, knownStateFrom([...acs.known.values()]), acs.memory, newPlanSession());
    assert.deepEqual(analysis.tables[0].skipped, [{ index: 2, reason: 'no free instance and create is false' }]);
  });

  it('skips an instance whose key is unresolved and says why', () => {
    const d = resolveDesired(
      [contribution({ objects: [{ path: VP, key: ['Line.1.SIP.AuthUserName'], instances: [account('{{ u1 }}'), account('{{ u2 }}')] }] })],
      { variables: { u1: '1001' }, device: {} },
    );
    assert.equal(d.issues.length, 1);
    assert.equal(d.issues[0].kind, 'unresolved');
    const device = new FakeDevice({ [`${VP}1.Line.1.SIP.AuthUserName`]: '', [`${VP}1.Line.1.Enable`]: '' });
    const acs = new Acs();
    acs.session(d, device);
    assert.equal(device.values.get(`${VP}1.Line.1.SIP.AuthUserName`)!.value, '1001');
    assert.equal(device.instances(VP).length, 1);
  });
});

describe('desired state', () => {
  const preset = (over: Partial<Preset>): Preset => ({
    id: over.name ?? 'p',
    name: 'p',
    enabled: true,
    weight: 0,
    precondition: {},
    triggers: ['always'],
    desired: {},
    revision: 1,
    createdAt: '',
    updatedAt: '',
    ...over,
  });
  const facts = { id: 'd', oui: '000B82', productClass: 'HT502', manufacturer: 'Grandstream', serialNumber: 's', softwareVersion: '1.0.3.10', tags: ['lab'], parameter: () => undefined };

  it('selects by precondition (version compared numerically), trigger and schedule', () => {
    const presets = [
      preset({ name: 'old', precondition: { softwareVersion: { lt: '1.0.10.0' } } }),
      preset({ name: 'new', precondition: { softwareVersion: { gte: '1.0.10.0' } } }),
      preset({ name: 'boot-only', triggers: ['boot'] }),
      preset({ name: 'gxp', precondition: { productClass: ['GXP2140'] } }),
      preset({ name: 'not-lab', precondition: { tags: { none: ['lab'] } } }),
      preset({ name: 'nightly', triggers: [], schedule: { window: { start: '02:00', end: '04:00' } } }),
      preset({ name: 'off', enabled: false }),
    ];
    const at3am = Date.parse('2025-06-01T03:00:00Z');
    const sel = selectPresets(presets, { facts, events: ['2 PERIODIC'], nowMs: at3am, lastScheduledRun: new Map() });
    assert.deepEqual(sel.filter((s) => s.applies).map((s) => s.preset.name), ['old', 'nightly']);
    const boot = selectPresets(presets, { facts, events: ['1 BOOT'], nowMs: Date.parse('2025-06-01T12:00:00Z'), lastScheduledRun: new Map() });
    assert.deepEqual(boot.filter((s) => s.applies).map((s) => s.preset.name), ['old', 'boot-only']);
    assert.match(boot.find((s) => s.preset.name === 'new')!.reasons[0], /software version 1.0.3.10 is outside/);
    // without explanations (a session): the same selection, one short reason for a precondition that fails
    const quick = selectPresets(presets, { facts, events: ['1 BOOT'], nowMs: Date.parse('2025-06-01T12:00:00Z'), lastScheduledRun: new Map(), explain: false });
    assert.deepEqual(quick.map((s) => [s.preset.name, s.applies, s.bySchedule]), boot.map((s) => [s.preset.name, s.applies, s.bySchedule]));
    assert.deepEqual(quick.find((s) => s.preset.name === 'new')!.reasons, [NOT_MATCHING]);
    assert.deepEqual(quick.find((s) => s.preset.name === 'off')!.reasons, ['disabled']);
  });

  it('shares plain desired values between devices (same preset revision), never templated ones', () => {
    const spec: Preset['desired'] = { parameters: [{ name: 'Device.A', value: 'plain' }, { name: 'Device.B', value: '{{ x }}' }] };
    const one = resolveDesired([contribution(spec)], { variables: { x: '1' }, device: {} });
    const two = resolveDesired([contribution(spec)], { variables: { x: '2' }, device: {} });
    assert.equal(one.values.get('Device.A'), two.values.get('Device.A'));
    assert.deepEqual([one.values.get('Device.B')!.value, two.values.get('Device.B')!.value], ['1', '2']);
    const edited = resolveDesired([contribution(spec, 0, 'p', 2)], { variables: { x: '1' }, device: {} });
    assert.notEqual(edited.values.get('Device.A'), one.values.get('Device.A'));
    assert.equal(edited.values.get('Device.A')!.source.revision, 2);
  });

  it('lets the heavier preset win a parameter and reports the override', () => {
    const d = resolveDesired(
      [contribution({ parameters: [{ name: 'Device.A', value: 'heavy' }] }, 10, 'heavy'), contribution({ parameters: [{ name: 'Device.A', value: 'light' }, { name: 'Device.B', value: 1 }] }, 1, 'light')],
      ctx,
    );
    assert.equal(d.values.get('Device.A')!.value, 'heavy');
    assert.equal(d.values.get('Device.B')!.value, 1);
    assert.deepEqual(d.issues.map((i) => i.kind), ['overridden']);
  });
});
