import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStateStore } from '../../src/state/memory.js';
import { STATE_TTL_SECONDS } from '../../src/state/store.js';
import { tracksOf } from '../helpers/tracks.js';

/** A store on a hand-driven clock. */
function store(ttlMs = 1000) {
  const clock = { now: 10_000 };
  const s = new MemoryStateStore(ttlMs, () => clock.now);
  return { s, clock };
}

describe('MemoryStateStore expiry', () => {
  it('size() counts live keys only: expired tokens are purged without being read', async () => {
    const { s, clock } = store();
    for (let i = 0; i < 1000; i++) await s.setToken('pub', 'r', `u${i}`, 't');
    assert.equal(s.size(), 1000);
    clock.now += 1001;
    assert.equal(s.size(), 0);
  });
});

describe('MemoryStateStore peers', () => {
  it('addPeer returns true the first time and false for a duplicate', async () => {
    const { s } = store();
    assert.equal(await s.addPeer('pub', 'r', 'alice+1'), true);
    assert.equal(await s.addPeer('pub', 'r', 'alice+1'), false);
    assert.deepEqual(await s.listPeers('pub', 'r'), ['alice+1']);
  });

  it('keeps roles and rooms apart', async () => {
    const { s } = store();
    assert.equal(await s.addPeer('pub', 'r', 'alice+1'), true);
    assert.equal(await s.addPeer('sub', 'r', 'alice+1'), true);
    assert.equal(await s.addPeer('pub', 'r2', 'alice+1'), true);
    assert.deepEqual(await s.listPeers('pub', 'r'), ['alice+1']);
    assert.deepEqual(await s.listPeers('sub', 'r'), ['alice+1']);
    assert.deepEqual(await s.listPeers('pub', 'r2'), ['alice+1']);
    assert.deepEqual(await s.listPeers('sub', 'r2'), []);
    assert.equal(s.size(), 3);
  });

  it('lists peers in insertion order and removes them', async () => {
    const { s } = store();
    await s.addPeer('sub', 'r', 'a+1');
    await s.addPeer('sub', 'r', 'b+2');
    await s.addPeer('sub', 'r', 'c+3');
    assert.deepEqual(await s.listPeers('sub', 'r'), ['a+1', 'b+2', 'c+3']);
    await s.removePeer('sub', 'r', 'b+2');
    assert.deepEqual(await s.listPeers('sub', 'r'), ['a+1', 'c+3']);
    // the removed full id can join again
    assert.equal(await s.addPeer('sub', 'r', 'b+2'), true);
    assert.deepEqual(await s.listPeers('sub', 'r'), ['a+1', 'c+3', 'b+2']);
  });

  it('removing an absent peer or from an unknown room is a no-op', async () => {
    const { s } = store();
    await s.removePeer('pub', 'nowhere', 'x+1');
    await s.addPeer('pub', 'r', 'a+1');
    await s.removePeer('pub', 'r', 'x+1');
    assert.deepEqual(await s.listPeers('pub', 'r'), ['a+1']);
    assert.equal(s.size(), 1);
  });

  it('deletes the list key when its last peer leaves', async () => {
    const { s } = store();
    await s.addPeer('pub', 'r', 'a+1');
    assert.equal(s.size(), 1);
    await s.removePeer('pub', 'r', 'a+1');
    assert.equal(s.size(), 0);
    assert.deepEqual(await s.listPeers('pub', 'r'), []);
  });
});

describe('MemoryStateStore keys', () => {
  it('a token set for room a#b, id c does not admit room a, id b#c', async () => {
    const { s } = store();
    await s.setToken('pub', 'a#b', 'c', 'secret');
    assert.equal(await s.getToken('pub', 'a', 'b#c'), null);
    assert.equal(await s.getToken('pub', 'a#b', 'c'), 'secret');
    assert.equal(await s.addPeer('pub', 'a#b', 'c+1'), true);
    assert.deepEqual(await s.listPeers('pub', 'a'), []);
  });
});

describe('MemoryStateStore media', () => {
  it('stores, reads and removes per-publisher track counts', async () => {
    const { s } = store();
    await s.setMedia('r', 'alice+1', tracksOf(1, 2));
    await s.setMedia('r', 'bob+2', tracksOf(1, 0));
    await s.setMedia('other', 'carol+3', tracksOf(0, 1));
    assert.deepEqual(
      await s.getMedia('r'),
      new Map([
        ['alice+1', tracksOf(1, 2)],
        ['bob+2', tracksOf(1, 0)],
      ]),
    );
    await s.setMedia('r', 'alice+1', tracksOf(0, 1));
    assert.deepEqual((await s.getMedia('r')).get('alice+1'), tracksOf(0, 1));
    await s.removeMedia('r', 'alice+1');
    assert.deepEqual(await s.getMedia('r'), new Map([['bob+2', tracksOf(1, 0)]]));
    assert.deepEqual(await s.getMedia('other'), new Map([['carol+3', tracksOf(0, 1)]]));
  });

  it('returns an empty map for an unknown room and ignores removal there', async () => {
    const { s } = store();
    assert.deepEqual(await s.getMedia('nowhere'), new Map());
    await s.removeMedia('nowhere', 'x+1');
    assert.equal(s.size(), 0);
  });

  it('keeps publisher ids containing # intact', async () => {
    const { s } = store();
    await s.setMedia('r', 'a#b+c#d', tracksOf(1, 1));
    assert.deepEqual(await s.getMedia('r'), new Map([['a#b+c#d', tracksOf(1, 1)]]));
    await s.removeMedia('r', 'a#b+c#d');
    assert.equal(s.size(), 0);
  });
});

describe('MemoryStateStore tokens', () => {
  it('sets, overwrites and reads tokens per role, room and id', async () => {
    const { s } = store();
    assert.equal(await s.getToken('pub', 'r', 'alice'), null);
    await s.setToken('pub', 'r', 'alice', 't1');
    assert.equal(await s.getToken('pub', 'r', 'alice'), 't1');
    assert.equal(await s.getToken('sub', 'r', 'alice'), null);
    assert.equal(await s.getToken('pub', 'r2', 'alice'), null);
    assert.equal(await s.getToken('pub', 'r', 'bob'), null);
    await s.setToken('pub', 'r', 'alice', 't2');
    assert.equal(await s.getToken('pub', 'r', 'alice'), 't2');
    assert.equal(s.size(), 1);
  });

  it('stores an empty token as an empty string, not as missing', async () => {
    const { s } = store();
    await s.setToken('sub', 'r', 'bob', '');
    assert.equal(await s.getToken('sub', 'r', 'bob'), '');
  });
});

describe('MemoryStateStore expiry', () => {
  it('defaults to the 24 h ttl', async () => {
    assert.equal(STATE_TTL_SECONDS, 86400);
    let now = 0;
    const s = new MemoryStateStore(undefined, () => now);
    await s.setToken('pub', 'r', 'a', 't');
    now = 86400 * 1000 - 1;
    assert.equal(await s.getToken('pub', 'r', 'a'), 't');
    now = 86400 * 1000;
    assert.equal(await s.getToken('pub', 'r', 'a'), null);
  });

  it('expires tokens after the ttl', async () => {
    const { s, clock } = store(1000);
    await s.setToken('pub', 'r', 'alice', 't');
    clock.now += 999;
    assert.equal(await s.getToken('pub', 'r', 'alice'), 't');
    clock.now += 1;
    assert.equal(await s.getToken('pub', 'r', 'alice'), null);
    assert.equal(s.size(), 0);
  });

  it('expires peer lists after the ttl, so the full id can join again', async () => {
    const { s, clock } = store(1000);
    await s.addPeer('pub', 'r', 'a+1');
    clock.now += 1000;
    assert.deepEqual(await s.listPeers('pub', 'r'), []);
    assert.equal(await s.addPeer('pub', 'r', 'a+1'), true);
    assert.deepEqual(await s.listPeers('pub', 'r'), ['a+1']);
  });

  it('an expired list does not resurrect its old members on addPeer', async () => {
    const { s, clock } = store(1000);
    await s.addPeer('pub', 'r', 'old+1');
    clock.now += 5000;
    assert.equal(await s.addPeer('pub', 'r', 'new+2'), true);
    assert.deepEqual(await s.listPeers('pub', 'r'), ['new+2']);
  });

  it('refreshes the ttl of a list on every addPeer', async () => {
    const { s, clock } = store(1000);
    await s.addPeer('sub', 'r', 'a+1');
    clock.now += 800;
    await s.addPeer('sub', 'r', 'b+2');
    clock.now += 800; // 1600 after the first add, 800 after the second
    assert.deepEqual(await s.listPeers('sub', 'r'), ['a+1', 'b+2']);
    clock.now += 200;
    assert.deepEqual(await s.listPeers('sub', 'r'), []);
  });

  it('expires media hashes after the ttl and refreshes them on setMedia', async () => {
    const { s, clock } = store(1000);
    await s.setMedia('r', 'a+1', tracksOf(1, 1));
    clock.now += 900;
    await s.setMedia('r', 'b+2', tracksOf(1, 0));
    clock.now += 900;
    assert.equal((await s.getMedia('r')).size, 2);
    clock.now += 100;
    assert.deepEqual(await s.getMedia('r'), new Map());
    assert.equal(s.size(), 0);
  });

  it('a removal on an expired key does not throw and drops it', async () => {
    const { s, clock } = store(1000);
    await s.addPeer('pub', 'r', 'a+1');
    await s.setMedia('r', 'a+1', tracksOf(1, 1));
    clock.now += 1000;
    await s.removePeer('pub', 'r', 'a+1');
    await s.removeMedia('r', 'a+1');
    assert.equal(s.size(), 0);
  });
});

describe('MemoryStateStore size and close', () => {
  it('returns to 0 once everything is removed', async () => {
    const { s, clock } = store();
    await s.addPeer('pub', 'r', 'a+1');
    await s.addPeer('sub', 'r', 'b+1');
    await s.setMedia('r', 'a+1', tracksOf(1, 1));
    await s.setToken('pub', 'r', 'a', 't');
    assert.equal(s.size(), 4);
    await s.removeMedia('r', 'a+1');
    await s.removePeer('sub', 'r', 'b+1');
    await s.removePeer('pub', 'r', 'a+1');
    assert.equal(s.size(), 1);
    clock.now += 1000;
    assert.equal(await s.getToken('pub', 'r', 'a'), null);
    assert.equal(s.size(), 0);
  });

  it('close() drops everything', async () => {
    const { s } = store();
    await s.addPeer('pub', 'r', 'a+1');
    await s.setMedia('r', 'a+1', tracksOf(1, 1));
    await s.setToken('pub', 'r', 'a', 't');
    await s.close();
    assert.equal(s.size(), 0);
    assert.deepEqual(await s.listPeers('pub', 'r'), []);
    assert.equal(await s.getToken('pub', 'r', 'a'), null);
  });
});
