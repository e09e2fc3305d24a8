import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acsNodeOptionsArg, cwmpThreadArg } from './harness.ts';
import { SWITCHBOARD_NODE_OPTIONS } from '../../src/cli/node-options.ts';

test('--acs-node-options: the switchboard options by default, none, or a list of options', () => {
  assert.deepEqual(acsNodeOptionsArg(undefined), [...SWITCHBOARD_NODE_OPTIONS]);
  assert.deepEqual(acsNodeOptionsArg('none'), []);
  assert.deepEqual(acsNodeOptionsArg(' --max-semi-space-size=128   --expose-gc '), ['--max-semi-space-size=128', '--expose-gc']);
  assert.throws(() => acsNodeOptionsArg('--expose-gc 64'), /--acs-node-options takes Node options.*"--expose-gc 64"/);
});

test('--cwmp-thread=on|off: on, off, on when absent, an error otherwise', () => {
  assert.equal(cwmpThreadArg('on'), true);
  assert.equal(cwmpThreadArg('off'), false);
  assert.equal(cwmpThreadArg(undefined), true);
  assert.throws(() => cwmpThreadArg('yes'), /--cwmp-thread must be on or off, got "yes"/);
});
