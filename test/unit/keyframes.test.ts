import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { KeyframeThrottle } from '../../src/media/keyframes.js';

describe('KeyframeThrottle (mock timers, default clock)', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it('fires the first request immediately', () => {
    let sent = 0;
    const k = new KeyframeThrottle(() => sent++, 500);
    k.request();
    assert.equal(sent, 1);
    assert.equal(k.requests, 1);
    assert.equal(k.sent, 1);
    k.close();
  });

  it('defers a request inside the window to the end of the window', () => {
    const at: number[] = [];
    const k = new KeyframeThrottle(() => at.push(Date.now()), 500);
    k.request(); // t=0
    mock.timers.tick(200);
    k.request(); // t=200: deferred to t=500
    assert.deepEqual(at, [1_000_000]);
    mock.timers.tick(299);
    assert.deepEqual(at, [1_000_000]);
    mock.timers.tick(1);
    assert.deepEqual(at, [1_000_000, 1_000_500]);
    assert.equal(k.requests, 2);
    assert.equal(k.sent, 2);
  });

  it('keeps at most one deferred request per window', () => {
    let sent = 0;
    const k = new KeyframeThrottle(() => sent++, 500);
    k.request();
    mock.timers.tick(100);
    k.request();
    mock.timers.tick(100);
    k.request();
    k.request();
    assert.equal(sent, 1);
    mock.timers.tick(300);
    assert.equal(sent, 2);
    mock.timers.tick(5000);
    assert.equal(sent, 2);
    assert.equal(k.requests, 4);
    assert.equal(k.sent, 2);
  });

  it('starts a new window at the deferred send', () => {
    const at: number[] = [];
    const k = new KeyframeThrottle(() => at.push(Date.now() - 1_000_000), 500);
    k.request(); // 0
    mock.timers.tick(100);
    k.request(); // deferred to 500
    mock.timers.tick(400);
    assert.deepEqual(at, [0, 500]);
    mock.timers.tick(100);
    k.request(); // t=600, inside the window started at 500 → 1000
    mock.timers.tick(399);
    assert.deepEqual(at, [0, 500]);
    mock.timers.tick(1);
    assert.deepEqual(at, [0, 500, 1000]);
  });

  it('fires immediately again once the window has passed', () => {
    let sent = 0;
    const k = new KeyframeThrottle(() => sent++, 500);
    k.request();
    mock.timers.tick(500);
    k.request();
    assert.equal(sent, 2);
    mock.timers.tick(10_000);
    assert.equal(sent, 2);
  });

  it('close() cancels a pending request', () => {
    let sent = 0;
    const k = new KeyframeThrottle(() => sent++, 500);
    k.request();
    mock.timers.tick(100);
    k.request();
    k.close();
    mock.timers.tick(10_000);
    assert.equal(sent, 1);
    assert.equal(k.sent, 1);
    assert.equal(k.requests, 2);
  });

  it('requests after close() are ignored', () => {
    let sent = 0;
    const k = new KeyframeThrottle(() => sent++, 500);
    k.close();
    k.request();
    mock.timers.tick(10_000);
    assert.equal(sent, 0);
  });

  it('close() without anything pending is harmless and repeatable', () => {
    let sent = 0;
    const k = new KeyframeThrottle(() => sent++, 500);
    k.close();
    k.close();
    assert.equal(sent, 0);
  });
});

describe('KeyframeThrottle (injected clock)', () => {
  it('uses the injected now() for the window', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let now = 50;
      let sent = 0;
      const k = new KeyframeThrottle(
        () => sent++,
        1000,
        () => now,
      );
      k.request();
      now = 1049;
      k.request(); // 1 ms left → deferred
      assert.equal(sent, 1);
      mock.timers.tick(1);
      assert.equal(sent, 2);
      now = 3000;
      k.request();
      assert.equal(sent, 3);
    } finally {
      mock.timers.reset();
    }
  });

  it('fires every request immediately with a zero interval', () => {
    let sent = 0;
    const k = new KeyframeThrottle(
      () => sent++,
      0,
      () => 7,
    );
    k.request();
    k.request();
    k.request();
    assert.equal(sent, 3);
  });
});
