import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyKindSnapshot, type KindSnapshot, type ShardSnapshot } from '../../src/clients.js';
import { addSnapshots, report, type Totals } from '../../src/report.js';
import type { LoadOptions } from '../../src/run.js';
import { DelayHistogram } from '../../src/stats.js';

const kind = (over: Partial<KindSnapshot>): KindSnapshot => ({ ...emptyKindSnapshot(), ...over });
const shard = (audio: Partial<KindSnapshot>, video: Partial<KindSnapshot>): ShardSnapshot => ({
  publishers: 1,
  subscribers: 2,
  failures: [],
  keyframeRequests: 1,
  keyframesSent: 3,
  audio: kind(audio),
  video: kind(video),
});
const options: LoadOptions = {
  url: 'http://127.0.0.1:1',
  room: 'r',
  publishers: 2,
  subscribers: 4,
  video: true,
  audio: true,
  videoBitrate: 1e6,
  fps: 30,
  keyframeInterval: 2,
  duration: 10,
  workers: 2,
  target: 'weever',
};

describe('load report', () => {
  it('adds the shards up: counters summed, jitter max kept, delay histograms merged', () => {
    const h1 = new DelayHistogram();
    h1.add(1);
    const h2 = new DelayHistogram();
    h2.add(3);
    const t = addSnapshots([
      shard({}, { tracks: 2, packets: 100, jitterMsSum: 1, jitterMsMax: 0.6, delay: h1.bins }),
      shard({}, { tracks: 2, packets: 50, jitterMsSum: 2, jitterMsMax: 1.5, delay: h2.bins }),
    ]);
    assert.deepEqual([t.publishers, t.subscribers, t.keyframesSent, t.video.packets, t.video.tracks], [2, 4, 6, 150, 4]);
    assert.equal(t.video.jitterMsMax, 1.5);
    assert.equal(new DelayHistogram(t.video.delay).count, 2);
  });

  it('input loss from the server counters, output loss from sequence numbers, rates over the window', () => {
    const at = (ms: number, sent: number, serverVideo: number, expected: number, lost: number): Totals => ({
      at: ms,
      ...addSnapshots([shard({ sentPackets: 0 }, { sentPackets: sent, tracks: 4, packets: expected - lost, expected, lost })]),
      serverReceived: { audio: 0, video: serverVideo },
      server: { cpuMicros: ms * 100, forwardedPackets: (expected - lost) * 1, rssBytes: 100 * 2 ** 20 },
    });
    const start = at(1000, 1000, 1000, 4000, 0);
    const end = at(11_000, 2000, 1990, 8000, 40); // 10 s: 1000 sent, 990 reached the server, 40 of 4000 lost
    const r = report(options, end, start);
    assert.equal(r.seconds, 10);
    assert.equal(r.video!.sentPacketsPerSecond, 100);
    assert.equal(r.video!.inputLossPercent, 1);
    assert.equal(r.video!.outputLossPercent, 1);
    assert.equal(r.video!.receivedPacketsPerSecond, 396);
    assert.equal(r.inputLossPercent, 1);
    assert.deepEqual(r.server, { cpuPercent: 10, cpuUsPerForwardedPacket: 252.53, forwardedPacketsPerSecond: 396, rssMiB: 100 });
  });

  it('without a private API input loss is unknown (null), not zero', () => {
    const end: Totals = { at: 0, ...addSnapshots([shard({}, { sentPackets: 10 })]) };
    const r = report(options, end);
    assert.equal(r.inputLossPercent, null);
    assert.equal(r.video!.inputLossPercent, null);
    assert.equal(r.server, undefined);
  });
});
