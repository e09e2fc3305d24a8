import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentMap } from './recent.ts';

describe('RecentMap', () => {
  it('forgets the least recently remembered entry when full; set() refreshes an entry', () => {
    const m = new RecentMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.set('a', 10); // a becomes the most recent
    m.set('c', 3); // evicts b
    assert.equal(m.get('b'), undefined);
    assert.equal(m.get('a'), 10);
    assert.equal(m.get('c'), 3);
    assert.equal(m.size, 2);
  });

  it('take() removes and returns; delete() removes; a bad capacity is refused', () => {
    const m = new RecentMap<string, number>(3);
    m.set('a', 1);
    assert.equal(m.take('a'), 1);
    assert.equal(m.take('a'), undefined);
    m.set('b', 2);
    m.delete('b');
    assert.equal(m.get('b'), undefined);
    assert.equal(m.size, 0);
    assert.throws(() => new RecentMap(0), RangeError);
  });
});
