/**
 * The soak scenario works (a short run, not its figures): cohorts leaving all four ways,
 * every subscriber receiving, and the server holding nothing after the idle time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { soak } from '../../bench/soak.js';

describe('bench soak (smoke)', () => {
  it('20 s of churn (DELETE, STOP, vanish, kill -9): subscribers receive, then peers/timers/keys 0 and fds back', async () => {
    const r = (await soak({
      minutes: 1 / 3,
      publishers: 1,
      subscribers: 2,
      maxCohorts: 4,
      lifeMin: 3,
      lifeMax: 5,
      sample: 2,
      // A SIGKILLed subscriber whose publisher was released first has no media to be silent
      // on; ICE consent ends it: 30 s after the last answered check, checks every 4–6 s.
      idle: 45,
      stopWhenZero: true,
      settle: 2,
      videoBitrate: 200_000,
      fps: 15,
    })) as {
      byMode: Record<string, number>;
      connected: { subscribers: number };
      subscribersReceivingAll: number;
      baseline: { fds: number };
      end: { peers: number; timers: number; storeKeys: number; fds: number };
      zeroAfterIdleSeconds: number | null;
    };
    for (const m of ['delete', 'stop', 'vanish', 'kill']) assert.ok(r.byMode[m]! >= 1, `a cohort left by ${m}`);
    assert.ok(r.connected.subscribers >= 8);
    // a connection may fail on the client's DTLS race (weever-target.ts); those that connected receive
    assert.equal(r.subscribersReceivingAll, r.connected.subscribers);
    assert.deepEqual([r.end.peers, r.end.timers, r.end.storeKeys], [0, 0, 0]);
    assert.ok(r.zeroAfterIdleSeconds !== null);
    assert.ok(r.end.fds <= r.baseline.fds + 3, `fds ${r.baseline.fds} → ${r.end.fds}`);
  });
});
