import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SWITCHBOARD_NODE_OPTIONS } from './node-options.ts';

const root = new URL('../../', import.meta.url);

test('npm start passes the ACS node options to node', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, `node ${SWITCHBOARD_NODE_OPTIONS.join(' ')} bin/switchboard.mjs acs`);
});

test('the switchboard command passes them through its shebang', () => {
  const first = readFileSync(new URL('bin/switchboard.mjs', root), 'utf8').split('\n')[0];
  assert.equal(first, `#!/usr/bin/env -S node ${SWITCHBOARD_NODE_OPTIONS.join(' ')}`);
});

test('this node accepts them and they enlarge the young generation', () => {
  // V8 grows the young generation (up to its bound) while many objects survive a scavenge: keep
  // a ring of recent objects alive, as a busy server keeps its in-flight sessions
  const probe = `const v8 = require('node:v8'); const ring = new Array(500000); let keep = 0;
    for (let i = 0; i < 4e6; i++) { const o = { i, s: 'x' + i }; ring[i % ring.length] = o; keep += o.s.length; }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(JSON.stringify({ size: s.space_size, keep }));`;
  const run = (options: readonly string[]) => {
    const r = spawnSync(process.execPath, [...options, '-e', probe], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { size: number }).size;
  };
  const tuned = run(SWITCHBOARD_NODE_OPTIONS);
  const plain = run([]);
  assert.ok(tuned > plain, `new space with ${SWITCHBOARD_NODE_OPTIONS.join(' ')}: ${tuned} B, without: ${plain} B`);
});

test('the command runs with them (help exits 0)', () => {
  const out = execFileSync(new URL('bin/switchboard.mjs', root).pathname, ['--help'], { encoding: 'utf8' });
  assert.match(out, /acs/);
});
