import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acsNodeOptionsArg } from './harness.ts';
import { SWITCHBOARD_NODE_OPTIONS } from '../../src/cli/node-options.ts';

test('--acs-node-options: the switchboard options by default, none, or a list of options', () => {
  assert.deepEqual(acsNodeOptionsArg(undefined), [...SWITCHBOARD_NODE_OPTIONS]);
  assert.deepEqual(acsNodeOptionsArg('none'), []);
  assert.deepEqual(acsNodeOptionsArg(' --max-semi-space-size=128   --expose-gc '), ['--max-semi-space-size=128', '--expose-gc']);
  assert.throws(() => acsNodeOptionsArg('--expose-gc 64'), /--acs-node-options takes Node options.*"--expose-gc 64"/);
});
