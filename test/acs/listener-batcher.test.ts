/**
 * messageBatcher (src/acs/http/listener-common.mjs): how the listener thread and the main thread
 * gather the messages of one event-loop turn into one post. The crossing itself is
 * listener-thread.test.ts and http.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { messageBatcher } from '../../src/acs/http/listener-common.mjs';

describe('messageBatcher', () => {
  it('posts the messages of one turn once, in order, at the end of the turn', async () => {
    const posted: number[][] = [];
    const b = messageBatcher<number>((batch) => posted.push(batch));
    b.push(1);
    b.push(2);
    b.push(3);
    assert.deepEqual(posted, [], 'nothing is posted during the turn');
    await nextTurn();
    assert.deepEqual(posted, [[1, 2, 3]]);
    b.push(4);
    await nextTurn();
    assert.deepEqual(posted, [[1, 2, 3], [4]], 'a later turn posts a batch of its own');
    await nextTurn();
    assert.equal(posted.length, 2, 'a turn without messages posts nothing');
  });

  it('flush posts what waits at once; clear forgets it', async () => {
    const posted: string[][] = [];
    const b = messageBatcher<string>((batch) => posted.push(batch));
    b.push('a');
    b.flush();
    assert.deepEqual(posted, [['a']]);
    b.push('b');
    b.clear();
    await nextTurn();
    assert.deepEqual(posted, [['a']], 'the cleared message is not posted');
    b.push('c');
    await nextTurn();
    assert.deepEqual(posted, [['a'], ['c']], 'the batcher goes on after a clear');
  });
});
