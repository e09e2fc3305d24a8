import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACS_PARTS, GC_PART, RUNTIME_PART, timeByPart } from './cpuprofile.ts';

const ROOT = 'file:///repo';
/** A frame: id, function, url, children. */
const node = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url }, children });

describe('timeByPart', () => {
  it('charges library and native time to the innermost repository part, GC and runtime apart, idle left out', () => {
    const profile = {
      nodes: [
        node(1, '(root)', '', [2, 6, 7, 8, 9]),
        node(2, 'flush', `${ROOT}/src/store/sqlite/index.ts`, [3]),
        node(3, 'transaction', `${ROOT}/node_modules/better-sqlite3/lib/transaction.js`, [4]),
        node(4, 'putDeviceMemory', `${ROOT}/src/store/provisioning/sqlite.ts`, [5]),
        node(5, 'run', ''),
        node(6, 'plan', `${ROOT}/src/provisioning/service.ts`),
        node(7, 'writev', ''),
        node(8, '(garbage collector)', ''),
        node(9, '(idle)', ''),
      ],
      samples: [3, 5, 5, 6, 7, 8, 9, 9],
      timeDeltas: [1000, 1000, 1000, 2000, 1000, 4000, 50000, 50000],
    };
    const lines = new Map(timeByPart(profile, ACS_PARTS).map((l) => [l.part, l]));
    assert.equal(lines.get(ACS_PARTS[0].name)?.ms, 1, 'better-sqlite3 under the core store');
    assert.equal(lines.get(ACS_PARTS[1].name)?.ms, 2, 'native run under the provisioning store');
    assert.equal(lines.get(ACS_PARTS[2].name)?.ms, 2);
    assert.equal(lines.get(RUNTIME_PART)?.ms, 1, 'no repository frame above writev');
    assert.equal(lines.get(GC_PART)?.ms, 4);
    assert.equal(lines.get(GC_PART)?.percent, 40, 'percent of busy time (idle left out)');
    assert.equal([...lines.values()].reduce((s, l) => s + l.ms, 0), 10);
  });
});
