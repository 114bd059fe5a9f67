/**
 * The rooms scenario works (a short run, not its figures): 2 rooms of 2 participants on
 * our server and on Janus; every participant receives the other's audio and video in the
 * window, nobody receives their own, and each target gives one row with a CPU figure.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { rooms } from '../../bench/small-rooms.js';

describe('bench rooms (smoke)', () => {
  after(() => {
    nodeDataChannel.cleanup(); // the clients' native threads would keep the process alive
  });

  it('2 rooms × 2 participants, weever then Janus: every received track gets media', async () => {
    const rows = await rooms({
      rooms: 2,
      participants: 2,
      target: 'both',
      seconds: 2,
      warmup: 1,
      settle: 0,
      workers: 1,
      videoBitrate: 300_000,
      fps: 15,
    });
    assert.deepEqual(
      rows.map((r) => r.target),
      ['weever', 'janus'],
    );
    for (const r of rows) {
      assert.equal(r.publishers, 4, r.target);
      assert.equal(r.subscribers, 4, r.target);
      assert.equal(r.failures, 0, r.target);
      // 2 rooms × 2 subscribers × 1 other participant × (audio + video); one's own media would make more
      assert.equal(r.expectedTracks, 8);
      assert.equal(r.receivingTracks, 8, r.target);
      assert.ok(r.serverCpuUsPerPacket !== null && r.serverCpuUsPerPacket > 0, r.target);
    }
  });
});
