/**
 * overlayParameters (hooks.ts): what a session's planner sees is the stored tree with the session's
 * buffered deletes and writes applied as the engine's commit would apply them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ParameterWrite, StoredParameter } from '../store/types.ts';
import { overlayParameters } from './hooks.ts';

const AT = '2026-01-01T00:00:00.000Z';
const NOW = '2026-02-02T00:00:00.000Z';

function stored(name: string, value: string | null, extra: Partial<StoredParameter> = {}): StoredParameter {
  return { name, value, type: 'string', writable: true, notification: 1, accessList: ['Subscriber'], object: name.endsWith('.'), updatedAt: AT, ...extra };
}

describe('overlayParameters', () => {
  const tree = [stored('Device.B.', null), stored('Device.B.1.X', 'old'), stored('Device.B.2.X', 'two'), stored('Device.A', 'a')];

  it('returns the stored parameters sorted by name when nothing is buffered', () => {
    assert.deepEqual(overlayParameters(tree, [], []).map((p) => p.name), ['Device.A', 'Device.B.', 'Device.B.1.X', 'Device.B.2.X']);
  });

  it('applies deletes (except what they keep) before writes; a write keeps the fields it leaves undefined', () => {
    const writes: ParameterWrite[] = [
      { name: 'Device.A', value: 'new' },
      { name: 'Device.B.1.X', value: 'again', type: 'int' },
      { name: 'Device.C.', writable: false },
    ];
    const out = overlayParameters(tree, [{ prefix: 'Device.B.', except: ['Device.B.'] }], writes, {}, NOW);
    assert.deepEqual(out, [
      // kept fields of the stored row, the new value and time
      { ...stored('Device.A', 'new'), updatedAt: NOW },
      stored('Device.B.', null),
      // deleted, then written again: nothing of the stored row survives
      { name: 'Device.B.1.X', value: 'again', type: 'int', writable: null, notification: null, accessList: null, object: false, updatedAt: NOW },
      { name: 'Device.C.', value: null, type: null, writable: false, notification: null, accessList: null, object: true, updatedAt: NOW },
    ]);
  });

  it('a delete of the whole tree hides every stored row; later writes come back', () => {
    const out = overlayParameters(tree, [{ prefix: '' }], [{ name: 'Device.A', value: 'x' }], {}, NOW);
    assert.deepEqual(out.map((p) => [p.name, p.value]), [['Device.A', 'x']]);
  });

  it('keeps the stored time when the write has none to give', () => {
    assert.equal(overlayParameters(tree, [], [{ name: 'Device.A', value: 'x' }])[0].updatedAt, AT);
  });

  it('restricts the result to the selection (names and prefix), writes included', () => {
    const writes: ParameterWrite[] = [{ name: 'Device.B.3.X', value: '3' }, { name: 'Device.D', value: 'd' }];
    assert.deepEqual(overlayParameters(tree, [], writes, { prefix: 'Device.B.' }).map((p) => p.name), ['Device.B.', 'Device.B.1.X', 'Device.B.2.X', 'Device.B.3.X']);
    assert.deepEqual(overlayParameters(tree, [], writes, { names: ['Device.D', 'Device.A', 'Device.Nope'] }).map((p) => [p.name, p.value]), [['Device.A', 'a'], ['Device.D', 'd']]);
    assert.deepEqual(overlayParameters(tree, [], writes, { names: [] }), []);
    assert.deepEqual(overlayParameters(tree, [], writes, { prefix: 'Device.B.', names: ['Device.B.3.X', 'Device.A'] }).map((p) => p.name), ['Device.B.3.X']);
  });

  it('applies writes of one name in order (the last value wins)', () => {
    const out = overlayParameters([], [], [{ name: 'Device.A', value: '1', type: 'int' }, { name: 'Device.A', value: '2' }], {}, NOW);
    assert.deepEqual(out.map((p) => [p.value, p.type]), [['2', 'int']]);
  });

  it('does not change its inputs', () => {
    const copy = structuredClone(tree);
    overlayParameters(tree, [{ prefix: 'Device.B.' }], [{ name: 'Device.A', value: 'z' }], {}, NOW);
    assert.deepEqual(tree, copy);
  });
});
