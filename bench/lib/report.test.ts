import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchArgs, emitResult, formatTable, machineInfo, machineLine } from './report.ts';

test('emitResult writes <dir>/<name>.json and prints the same object as one last line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const printed: string[] = [];
  t.mock.method(console, 'log', (line: string) => printed.push(line));
  const result = { bench: 'x', sessionsPerSec: 1234.5, nested: { p99Ms: 9 }, list: [1, 2] };
  const file = emitResult('x', result, join(dir, 'sub'));
  assert.equal(file, join(dir, 'sub', 'x.json'));
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), result);
  assert.equal(printed.length, 1);
  assert.ok(!printed[0].includes('\n'));
  assert.deepEqual(JSON.parse(printed[0]), result);
  // a second run replaces the file
  emitResult('x', { bench: 'x', v: 2 }, join(dir, 'sub'));
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { bench: 'x', v: 2 });
});

test('formatTable aligns columns and formats numbers', () => {
  const lines = formatTable(['name', 'value'], [
    ['a', 1234567],
    ['longer name', 1.5],
    ['nan', Number.NaN],
  ]);
  assert.deepEqual(lines, ['name             value', '-----------  ---------', 'a            1,234,567', 'longer name        1.5', 'nan                  -']);
});

test('BenchArgs counts may be 0; negative, fractional and empty counts are refused', () => {
  assert.equal(new BenchArgs(['--history=0']).count('history', 600), 0);
  assert.equal(new BenchArgs(['--history=500']).count('history', 600), 500);
  assert.equal(new BenchArgs([]).count('history', 600), 600);
  for (const bad of ['-1', '1.5', 'lots', '']) assert.throws(() => new BenchArgs([`--history=${bad}`]).count('history', 600), /--history must be a whole number/);
});

test('BenchArgs reads --name=value and --name value, flags, and refuses bad numbers', () => {
  const a = new BenchArgs(['--devices=50', '--concurrency', '8', '--cpu-prof', '--rate=2.5']);
  assert.equal(a.number('devices', 1), 50);
  assert.equal(a.number('concurrency', 1), 8);
  assert.equal(a.number('missing', 7), 7);
  assert.equal(a.number('rate', 1, true), 2.5);
  assert.throws(() => a.number('rate', 1), /positive integer/);
  assert.equal(a.flag('cpu-prof'), true);
  assert.equal(a.flag('devices'), true);
  assert.equal(a.flag('nope'), false);
  assert.equal(a.string('client', 'lean'), 'lean');
  assert.throws(() => new BenchArgs(['--devices=0']).number('devices', 1), /positive/);
  assert.throws(() => new BenchArgs(['--devices=abc']).number('devices', 1), /--devices/);
  assert.equal(new BenchArgs(['--devices', '--x']).value('devices'), undefined);
});

test('machineInfo describes this machine', () => {
  const m = machineInfo();
  assert.ok(m.nproc >= 1);
  assert.ok(m.memoryMiB > 0);
  assert.match(m.node, /^v\d+/);
  assert.equal(m.loadAverage.length, 3);
  assert.match(machineLine(m), /CPUs .* MiB, Node v\d+.*load average at start/);
});
