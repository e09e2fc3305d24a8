import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acsNodeOptionsArg, onOffArg } from './harness.ts';
import { SWITCHBOARD_NODE_OPTIONS } from '../../src/cli/node-options.ts';

test('--acs-node-options: the switchboard options by default, none, or a list of options', () => {
  assert.deepEqual(acsNodeOptionsArg(undefined), [...SWITCHBOARD_NODE_OPTIONS]);
  assert.deepEqual(acsNodeOptionsArg('none'), []);
  assert.deepEqual(acsNodeOptionsArg(' --max-semi-space-size=128   --expose-gc '), ['--max-semi-space-size=128', '--expose-gc']);
  assert.throws(() => acsNodeOptionsArg('--expose-gc 64'), /--acs-node-options takes Node options.*"--expose-gc 64"/);
});

test('--name=on|off options: on, off, the fallback when absent, an error otherwise', () => {
  assert.equal(onOffArg('cwmp-thread', 'on', false), true);
  assert.equal(onOffArg('cwmp-thread', 'off', true), false);
  assert.equal(onOffArg('cwmp-thread', undefined, true), true);
  assert.throws(() => onOffArg('cwmp-thread', 'yes', true), /--cwmp-thread must be on or off, got "yes"/);
});
