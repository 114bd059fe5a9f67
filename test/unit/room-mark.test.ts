import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStateStore } from '../../src/state/memory.js';

describe('MemoryStateStore room marks and room list', () => {
  it('the first mark wins; the mark goes only when both lists are empty, once', async () => {
    const s = new MemoryStateStore();
    await s.addPeer('pub', 'r#1', 'alice');
    assert.equal(await s.markRoom('r#1'), true);
    assert.equal(await s.markRoom('r#1'), false);
    await s.addPeer('sub', 'r#1', 'bob');
    await s.removePeer('pub', 'r#1', 'alice');
    assert.equal(await s.unmarkRoomIfEmpty('r#1'), false, 'bob is still there');
    await s.removePeer('sub', 'r#1', 'bob');
    assert.equal(await s.unmarkRoomIfEmpty('r#1'), true);
    assert.equal(await s.unmarkRoomIfEmpty('r#1'), false, 'only one caller finishes the room');
    assert.equal(s.size(), 0, 'nothing left behind');
  });

  it('lists rooms with a peer in either list, names decoded', async () => {
    const s = new MemoryStateStore();
    await s.addPeer('pub', 'a%b', 'x');
    await s.addPeer('sub', 'c#d', 'y');
    await s.addPeer('sub', 'a%b', 'z');
    await s.setToken('pub', 'only-token', 'x', 't');
    assert.deepEqual((await s.listRooms()).sort(), ['a%b', 'c#d']);
  });
});
