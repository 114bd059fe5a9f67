import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DelayHistogram, histogramBin, Jitter, percentile, SequenceCounter } from '../../src/stats.js';

describe('SequenceCounter: loss from sequence numbers', () => {
  it('counts gaps as loss', () => {
    const s = new SequenceCounter();
    for (const q of [10, 11, 13, 14, 17]) s.add(q);
    assert.deepEqual([s.received, s.expected, s.lost], [5, 8, 3]);
  });

  it('is wrap-aware: 65534 → 1 is 4 packets, not 65 000 lost', () => {
    const s = new SequenceCounter();
    for (const q of [65533, 65534, 65535, 0, 2]) s.add(q);
    assert.deepEqual([s.expected, s.lost], [6, 1]);
  });

  it('counts several wraps', () => {
    const s = new SequenceCounter();
    let seq = 60_000;
    for (let i = 0; i < 200_000; i++) {
      if (i % 1000 !== 999) s.add(seq); // one in a thousand lost
      seq = (seq + 1) & 0xffff;
    }
    assert.equal(s.expected, 200_000 - 1); // the last one (i = 199 999) was lost: not expected yet
    assert.equal(s.lost, 199);
  });

  it('a reordered packet fills its gap; duplicates are counted apart, not as received', () => {
    const s = new SequenceCounter();
    for (const q of [1, 2, 4, 3, 4, 2]) s.add(q);
    assert.deepEqual([s.received, s.lost, s.duplicates], [4, 0, 2]);
  });

  it('a packet older than the first one seen extends the stream backwards', () => {
    const s = new SequenceCounter();
    for (const q of [5, 6, 3]) s.add(q);
    assert.deepEqual([s.expected, s.lost], [4, 1]);
  });
});

describe('Jitter (RFC 3550 §6.4.1)', () => {
  it('is zero for packets arriving exactly at their timestamp spacing', () => {
    const j = new Jitter(48_000);
    for (let i = 0; i < 100; i++) j.add(1_700_000_000_000 + i * 20, (4_294_000_000 + i * 960) >>> 0); // wraps the timestamp
    assert.ok(j.ms() < 1e-6, String(j.ms()));
  });

  it('converges to the mean deviation: alternating ±2 ms arrivals give J ≈ 4 ms', () => {
    const j = new Jitter(90_000);
    for (let i = 0; i < 2000; i++) j.add(i * 33 + (i % 2 ? 2 : -2), i * 33 * 90);
    assert.ok(Math.abs(j.ms() - 4) < 0.05, String(j.ms()));
  });
});

describe('delay percentiles', () => {
  it('percentile: nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 95), 95);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('histogram: 10 µs bins below 100 ms, 1 ms above; merges and windows add up', () => {
    assert.equal(histogramBin(0.004), 0);
    assert.equal(histogramBin(0.5), 50);
    assert.equal(histogramBin(150), 10_050);
    const h = new DelayHistogram();
    for (let i = 1; i <= 1000; i++) h.add(i / 100); // 0.01 … 10 ms
    assert.equal(h.percentile(50), 5.01);
    assert.equal(h.percentile(99), 9.91);
    const before = h.bins.slice();
    const other = new DelayHistogram();
    for (let i = 0; i < 10; i++) other.add(500);
    h.merge(other.bins);
    assert.equal(h.count, 1010);
    assert.equal(h.percentile(100), 501);
    const w = h.since(before);
    assert.equal(w.count, 10);
    assert.equal(w.percentile(50), 501);
    assert.ok(Number.isNaN(new DelayHistogram().percentile(50)));
  });
});
