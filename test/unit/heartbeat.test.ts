import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartbeatMonitor, restartDelay } from '../../src/heartbeat.js';

const opts = { intervalMs: 500, missLimit: 3, startupGraceMs: 5000 };

/** A monitor on a clock the test moves; `beat` advances it by one interval first. */
function monitor() {
  let t = 1000;
  const m = new HeartbeatMonitor(opts, () => t);
  return {
    m,
    beat: () => {
      t += opts.intervalMs;
      return m.beat();
    },
  };
}

describe('heartbeat monitor', () => {
  it('a child that answers every ping is never dead', () => {
    const { m, beat } = monitor();
    for (let i = 0; i < 100; i++) {
      const b = beat();
      assert.equal(b.kind, 'ping');
      if (b.kind === 'ping') m.answer(b.seq);
    }
  });

  it('missLimit pings in a row unanswered: dead, with how long it was silent', () => {
    const { m, beat } = monitor();
    const first = beat();
    assert.equal(first.kind, 'ping');
    if (first.kind === 'ping') m.answer(first.seq);
    assert.equal(beat().kind, 'ping'); // unanswered from here on
    assert.equal(beat().kind, 'ping'); // 1 missed
    assert.equal(beat().kind, 'ping'); // 2 missed
    const dead = beat(); // 3 missed
    assert.deepEqual(dead, { kind: 'dead', missed: 3, silentMs: 2000, answeredOnce: true });
  });

  it('one answer resets the count; an answer to an older ping does not count', () => {
    const { m, beat } = monitor();
    const b1 = beat();
    if (b1.kind === 'ping') m.answer(b1.seq);
    beat();
    beat();
    const b4 = beat(); // 2 missed so far
    if (b4.kind === 'ping') m.answer(b4.seq - 1); // late answer to the previous ping
    assert.equal(beat().kind, 'dead');
    const { m: m2, beat: beat2 } = monitor();
    const c1 = beat2();
    if (c1.kind === 'ping') m2.answer(c1.seq);
    beat2();
    const c3 = beat2();
    if (c3.kind === 'ping') m2.answer(c3.seq); // answered again: count back to 0
    for (let i = 0; i < opts.missLimit - 1; i++) assert.equal(beat2().kind, 'ping');
  });

  it('a starting child that has not answered yet gets the startup grace, then counts', () => {
    const { beat } = monitor();
    // 5000 ms of grace at 500 ms a beat: misses count from the 11th beat on, dead at the 13th
    const kinds = Array.from({ length: 13 }, () => beat().kind);
    assert.deepEqual(kinds.slice(0, 12), Array(12).fill('ping'));
    assert.equal(kinds[12], 'dead');
  });
});

describe('restart delay', () => {
  it('first restart at once, a crash loop doubles up to 10 s, a long life resets it', () => {
    let d = restartDelay(0, 100);
    assert.equal(d, 500);
    const seen = [d];
    for (let i = 0; i < 6; i++) seen.push((d = restartDelay(d, 100)));
    assert.deepEqual(seen, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.equal(restartDelay(d, 60_000), 500);
    // a child that got as far as listening (killed for a wedge 3 s in) is no crash loop
    assert.equal(restartDelay(8000, 3000, true), 500);
  });
});
