/**
 * The downlink estimate from sends and receiver reports, with a fake clock (issue 18, item 3):
 * loss thresholds, the policer's delivered rate, probing (when, how much, spacing, backoff,
 * success, failure, NACK abort), REMB. Then the estimator and allocator together against a
 * simulated nftables policer, as in the acceptance test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AllocTrack, allocate, type Layer } from '../../src/media/bandwidth/allocator.js';
import { DownlinkEstimator, type DownlinkEstimatorOptions } from '../../src/media/bandwidth/downlink-estimator.js';

const VIDEO = 0x1111;
const AUDIO = 0x2222;
const STEP_MS = 10;

/** A subscriber leg driven in 10 ms steps: media at a rate, plus a probe's padding when `wanted` is given. */
class Leg {
  t = 0;
  readonly est: DownlinkEstimator;
  private readonly ext = new Map<number, number>();
  /** padding rates returned while stepping, one per step */
  padding: number[] = [];

  constructor(options?: DownlinkEstimatorOptions) {
    this.est = new DownlinkEstimator(options);
  }

  /** Sends `bps` (plus padding when probing towards `wanted`) in [t, until), in ≤ 1200-byte packets. */
  run(until: number, bps: number, wanted?: number, exact = false): void {
    this.padding = [];
    for (; this.t < until; this.t += STEP_MS) {
      const pad = wanted === undefined ? 0 : this.est.probe(this.t, wanted, exact);
      this.padding.push(pad);
      let bytes = ((bps + pad) * STEP_MS) / 8000;
      while (bytes > 0) {
        const n = Math.min(1200, bytes);
        this.est.onSent(n, this.t);
        bytes -= n;
      }
    }
  }

  /** A report block for `ssrc` at t with this loss, covering `packets` more packets. */
  rr(loss: number, ssrc = VIDEO, packets = 100): void {
    const ext = (this.ext.get(ssrc) ?? 1000) + packets;
    this.ext.set(ssrc, ext);
    this.est.onReceiverReport(ssrc, Math.round(loss * 256), ext, this.t);
  }
}

/** A leg whose first clean report at 1 s, with 190 kbit/s sent, left the 300 kbit/s start estimate. */
function judgedAtStart(options?: DownlinkEstimatorOptions): Leg {
  const leg = new Leg(options);
  leg.run(1000, 190_000);
  leg.rr(0);
  assert.equal(leg.est.estimateBps, 300_000);
  return leg;
}

const near = (actual: number, expected: number, share: number) =>
  assert.ok(Math.abs(actual - expected) <= expected * share, `${actual} not within ${share * 100} % of ${expected}`);

describe('DownlinkEstimator: loss', () => {
  it('starts at 300 kbit/s', () => {
    assert.equal(new DownlinkEstimator().estimateBps, 300_000);
    assert.equal(new DownlinkEstimator({ startBps: 1_000_000 }).estimateBps, 1_000_000);
  });

  it('climbs to what a loss-free path delivered, and keeps it while nothing is lost', () => {
    const leg = new Leg();
    leg.run(1000, 1_500_000);
    leg.rr(0);
    assert.equal(leg.est.estimateBps, 1_500_000);
    leg.run(2000, 1_500_000);
    leg.rr(0);
    assert.equal(leg.est.estimateBps, 1_500_000);
    // sending less says nothing about the path
    leg.run(3000, 800_000);
    leg.rr(0.01);
    assert.equal(leg.est.estimateBps, 1_500_000);
    assert.equal(leg.est.decreases, 0);
  });

  it('settles 10 % under a 400 kbit/s policer under 1.5 Mbit/s in one report', () => {
    const leg = new Leg();
    leg.run(1000, 1_500_000);
    leg.rr(0);
    leg.run(2000, 1_500_000);
    // a policer passes 400k of 1.5M: loss 1 − 0.4/1.5
    leg.rr(1 - 0.4 / 1.5);
    near(leg.est.estimateBps, 360_000, 0.2);
    assert.equal(leg.est.estimateBps, 358_594); // 1.5M × (1 − 188/256) × 0.9
    assert.equal(leg.est.decreases, 1);
    // the next report, the same
    leg.run(3000, 1_500_000);
    leg.rr(1 - 0.4 / 1.5);
    assert.equal(leg.est.estimateBps, 358_594);
  });

  it('a lossy report never raises the estimate (a policer lets a burst through first), nor starts a hold', () => {
    const leg = new Leg();
    leg.run(1000, 1_500_000);
    leg.rr(1 - 0.4 / 1.5);
    assert.equal(leg.est.estimateBps, 300_000);
    assert.equal(leg.est.decreases, 0);
  });

  it('takes the loss over a path outage (no report for 2.5 s) for what it is: no decrease', () => {
    const leg = new Leg({ startBps: 1_000_000 });
    leg.run(1000, 800_000);
    leg.rr(0);
    leg.run(9000, 800_000); // everything dropped both ways for 8 s: no report
    leg.rr(0.95, VIDEO, 1000);
    assert.equal(leg.est.estimateBps, 1_000_000);
    leg.run(10_000, 800_000);
    leg.rr(0.5);
    assert.equal(leg.est.estimateBps, 360_000, 'the path back, loss is judged again');
  });

  it('decreases at most once a second', () => {
    const leg = new Leg({ startBps: 2_000_000 });
    leg.run(1000, 1_500_000);
    leg.rr(0.5);
    assert.equal(leg.est.estimateBps, 675_000);
    leg.run(1500, 1_500_000);
    leg.rr(0.75);
    assert.equal(leg.est.estimateBps, 675_000, 'held: those packets left before the decrease could act');
    leg.run(2100, 1_000_000);
    leg.rr(0.75);
    assert.equal(leg.est.estimateBps, 225_000);
  });

  it('holds between 2 % and 10 % loss', () => {
    const leg = new Leg();
    leg.run(1000, 1_000_000);
    leg.rr(0);
    leg.run(2000, 2_000_000);
    leg.rr(0.05);
    assert.equal(leg.est.estimateBps, 1_000_000);
    leg.run(3000, 2_000_000);
    leg.rr(0.098);
    assert.equal(leg.est.estimateBps, 1_000_000);
    leg.run(4000, 2_000_000);
    leg.rr(0.015);
    assert.equal(leg.est.estimateBps, 1_000_000, 'clean, but the 2 s before it were not');
    leg.run(5000, 2_000_000);
    leg.rr(0.015);
    assert.equal(leg.est.estimateBps, 1_968_750); // [3000, 5000) clean: 2M × (1 − 4/256)
  });

  it('rises on a clean report to no more than was sent over the 2 s before it (a burst allowance)', () => {
    const leg = new Leg();
    leg.run(2000, 200_000);
    leg.rr(0);
    assert.equal(leg.est.estimateBps, 300_000);
    leg.run(2750, 200_000);
    leg.run(3000, 1_400_000); // a keyframe burst inside a quarter second, all of it through
    leg.rr(0);
    // the report's interval says 500k, the 2 s before it 350k
    assert.equal(leg.est.estimateBps, 350_000);
  });

  it('sums reports closer than 250 ms (the report blocks of NACK packets)', () => {
    const leg = new Leg();
    leg.run(1000, 1_000_000);
    leg.rr(0);
    leg.run(1100, 1_000_000);
    leg.rr(0.5, VIDEO, 10);
    assert.equal(leg.est.estimateBps, 1_000_000);
    leg.run(1300, 1_000_000);
    leg.rr(0.25, VIDEO, 30);
    // loss over [1000, 1300): (0.5·10 + 0.25·30) / 40 = 0.3125
    assert.equal(leg.est.estimateBps, 618_750);
  });

  it('ignores a report over too few packets', () => {
    const leg = new Leg();
    leg.run(1000, 1_000_000);
    leg.rr(0);
    leg.run(2000, 1_000_000);
    leg.rr(0.5, VIDEO, 4);
    assert.equal(leg.est.estimateBps, 1_000_000);
  });

  it('takes the reports of every DownTrack SSRC, each over its own interval', () => {
    const leg = new Leg();
    leg.run(1000, 1_000_000);
    leg.rr(0, VIDEO);
    leg.run(5000, 1_000_000);
    leg.rr(0, AUDIO, 250);
    leg.run(6000, 500_000);
    // the audio report covers [5000, 6000) only after its first: 500k × (1 − 0.5)
    leg.rr(0.5, AUDIO, 50);
    assert.equal(leg.est.estimateBps, 225_000);
  });

  it('does not rise on a clean report whose interval another track saw loss in', () => {
    const leg = new Leg();
    leg.run(1000, 1_000_000);
    leg.rr(0, VIDEO);
    leg.rr(0, AUDIO);
    leg.run(2000, 2_000_000);
    leg.rr(0.75, VIDEO);
    assert.equal(leg.est.estimateBps, 450_000);
    leg.run(3000, 2_000_000);
    // the audio report over [1000, 3000): its packets got through, the video's did not
    leg.rr(0, AUDIO);
    assert.equal(leg.est.estimateBps, 450_000);
    // the video's next report, clean over [2000, 3000), but within 2 s of the lossy one
    leg.rr(0, VIDEO);
    assert.equal(leg.est.estimateBps, 450_000);
    leg.run(5000, 2_000_000);
    leg.rr(0, VIDEO);
    // clean for 2 s now, but nothing rises above a decrease until a probe passes (next test)
    assert.equal(leg.est.estimateBps, 450_000);
  });

  it('after a decrease or a probe, only a probe raises it: clean reports do not (a policer lets 2 s over its rate through)', () => {
    const leg = new Leg();
    leg.run(1000, 1_000_000);
    leg.rr(0);
    leg.run(2000, 1_000_000);
    leg.rr(0.5); // a policer: 500k arrived
    assert.equal(leg.est.estimateBps, 450_000);
    // 2 s at 480k, all of it through (a policer's burst allowance covers that much): no raise
    leg.run(4000, 480_000);
    leg.rr(0);
    leg.run(5000, 480_000);
    leg.rr(0);
    assert.equal(leg.est.estimateBps, 450_000);
    // a probe for 1M passes (300k + 1.1M − the 480k sent before it = 920k… sent): the estimate
    // is no more than was probed, nor than was wanted, and it is the new ceiling
    leg.run(6000, 300_000, 1_000_000);
    leg.run(6100, 300_000);
    leg.rr(0);
    assert.equal(leg.est.probeSuccesses, 1);
    assert.equal(leg.est.estimateBps, 920_000);
    leg.run(8000, 1_500_000);
    leg.rr(0); // still within the probe's tail: judged as the probe's, no change
    leg.run(10_000, 1_500_000);
    leg.rr(0);
    assert.equal(leg.est.estimateBps, 920_000, 'clean, but only a probe goes higher');
  });

  it('aligns a report with what was sent a round trip before it arrived', () => {
    const leg = new Leg();
    leg.est.onRtt(200);
    leg.run(1000, 1_000_000);
    leg.run(1200, 0);
    leg.rr(0);
    // [0, 1000): 1 Mbit/s; without the round trip, [200, 1200) would say 800k
    assert.equal(leg.est.estimateBps, 1_000_000);
    leg.run(2000, 2_000_000);
    leg.run(2200, 3_000_000);
    leg.rr(0);
    // [1000, 2000): 1.6 Mbit sent; without the round trip, [1200, 2200) would say 2.2 Mbit/s;
    // no more than over the 2 s before it, [0, 2000): 1.3 Mbit/s
    assert.equal(leg.est.estimateBps, 1_300_000);
  });

  it('never goes below minBps', () => {
    const leg = new Leg();
    leg.run(1000, 100_000);
    leg.rr(0.9);
    assert.equal(leg.est.estimateBps, 50_000);
  });
});

describe('DownlinkEstimator: REMB', () => {
  it('caps the estimate while fresh, and bumps the revision', () => {
    const leg = new Leg();
    leg.run(1000, 1_500_000);
    leg.rr(0);
    const rev = leg.est.revision;
    leg.est.onRemb(800_000, leg.t);
    assert.equal(leg.est.estimateBps, 800_000);
    assert.equal(leg.est.lossBasedBps, 1_500_000);
    assert.ok(leg.est.revision > rev);
    leg.est.tick(leg.t + 5000);
    assert.equal(leg.est.estimateBps, 800_000);
    leg.est.tick(leg.t + 5001);
    assert.equal(leg.est.estimateBps, 1_500_000);
  });

  it('backs probes off while it is what limits', () => {
    const leg = judgedAtStart();
    leg.est.onRemb(500_000, leg.t);
    leg.run(2000, 190_000, 1_541_000);
    leg.est.onRemb(500_000, leg.t);
    leg.rr(0);
    assert.equal(leg.est.probeSuccesses, 1);
    assert.equal(leg.est.lossBasedBps, 1_695_100);
    assert.equal(leg.est.estimateBps, 500_000);
    // 2 s after, not 3 s from the start; then 4 s
    assert.equal(leg.est.probe(3990, 1_541_000), 0);
    assert.ok(leg.est.probe(4000, 1_541_000) > 0);
  });

  it('does not raise the estimate', () => {
    const leg = new Leg();
    leg.est.onRemb(5_000_000, 0);
    assert.equal(leg.est.estimateBps, 300_000);
  });
});

describe('DownlinkEstimator: probing', () => {
  it('does not probe before a report said the path is clean', () => {
    const leg = new Leg();
    leg.run(1000, 190_000);
    assert.equal(leg.est.probe(1000, 2_000_000), 0);
  });

  it('probes only when the allocator wants more than the estimate', () => {
    const leg = judgedAtStart();
    assert.equal(leg.est.probe(1000, 300_000), 0);
    assert.equal(leg.est.probes, 0);
    // min(wanted × 1.1, 8 × estimate) − what is sent now: 2.2M − 190k
    assert.equal(leg.est.probe(1000, 2_000_000), 2_010_000);
    assert.equal(leg.est.probing, true);
    assert.equal(leg.est.probes, 1);
  });

  it('probes to a little over what is wanted, when that is within reach', () => {
    const leg = judgedAtStart();
    assert.equal(leg.est.probe(1000, 1_000_000), 910_000);
  });

  it('sends the padding for 1 s, and a clean report covering it raises the estimate to the rate probed, its aim at most', () => {
    const leg = judgedAtStart();
    leg.run(2000, 190_000, 1_541_000);
    assert.deepEqual(new Set(leg.padding), new Set([1_505_100]));
    assert.equal(leg.padding.length, 100);
    assert.equal(leg.est.probe(2000, 1_541_000), 0);
    assert.equal(leg.est.probing, false);
    leg.rr(0);
    assert.equal(leg.est.probeSuccesses, 1);
    // 190k + 1.5051M = 1.6951M sent: the probe's aim, 1.541M × 1.1
    assert.equal(leg.est.estimateBps, 1_695_100);
  });

  it('an exact probe (to resume a paused video) raises the estimate to what it was for, not its overshoot', () => {
    const leg = new Leg();
    leg.run(1000, 40_000); // audio only: the video is paused
    leg.rr(0, AUDIO);
    assert.equal(leg.est.estimateBps, 300_000);
    leg.run(2000, 40_000, 400_000, true);
    leg.run(2100, 40_000);
    leg.rr(0, AUDIO);
    assert.equal(leg.est.probeSuccesses, 1);
    assert.equal(leg.est.estimateBps, 400_000, 'sent 440k, raised to the 400k asked');
  });

  it('is not judged by a report that ends before the probe does', () => {
    const leg = judgedAtStart();
    leg.run(1500, 190_000, 1_541_000);
    leg.rr(0, VIDEO, 50);
    assert.equal(leg.est.probeSuccesses, 0);
    assert.equal(leg.est.estimateBps, 300_000);
    leg.run(2000, 190_000, 1_541_000);
    leg.rr(0, VIDEO, 50);
    assert.equal(leg.est.probeSuccesses, 1);
  });

  it('keeps the estimate after a failed probe: a report over it judges the probe, not the path', () => {
    const leg = judgedAtStart();
    leg.run(2000, 190_000, 1_541_000);
    // 1.695M into a 400k policer
    leg.rr(0.76);
    assert.equal(leg.est.probeFailures, 1);
    assert.equal(leg.est.estimateBps, 300_000);
    assert.equal(leg.est.decreases, 0);
    assert.equal(leg.est.lastLoss, 0);
  });

  it('backs off after failures: 2 s, 4 s, then every 5 s; a success resets it', () => {
    const leg = judgedAtStart();
    const starts: number[] = [];
    const waitForProbe = (wanted: number) => {
      while (leg.est.probe(leg.t, wanted) === 0) {
        leg.run(leg.t + STEP_MS, 190_000);
        if (leg.t % 1000 === 0) leg.rr(0);
      }
      starts.push(leg.t);
    };
    const probeFor1s = (wanted: number, loss: number) => {
      leg.run(leg.t + 1000, 190_000, wanted);
      leg.rr(loss);
    };
    for (let i = 0; i < 4; i++) {
      waitForProbe(1_541_000);
      probeFor1s(1_541_000, 0.5);
    }
    // each failed at its start + 1 s; the next waited 2, 4, 5 s after that
    assert.deepEqual(starts, [1000, 4000, 9000, 15000]);
    assert.equal(leg.est.probeFailures, 4);
    waitForProbe(1_541_000);
    assert.equal(leg.t, 21000);
    probeFor1s(1_541_000, 0);
    assert.equal(leg.est.probeSuccesses, 1);
    assert.equal(leg.est.estimateBps, 1_695_100);
    // after a success: 3 s from its start
    waitForProbe(5_000_000);
    assert.equal(leg.t, 24000);
    // and after the next failure 2 s again
    probeFor1s(5_000_000, 0.5);
    waitForProbe(5_000_000);
    assert.equal(leg.t, 27000);
  });

  it('is cut short by NACKs, and the reports over it then change nothing', () => {
    const leg = judgedAtStart();
    leg.run(1200, 190_000, 1_541_000);
    leg.est.onNack(4, leg.t); // fewer than 5
    assert.equal(leg.est.probing, true);
    leg.est.onNack(30, leg.t); // 34 of the 40 packets sent since the start
    assert.equal(leg.est.probing, false);
    assert.equal(leg.est.probeFailures, 1);
    assert.equal(leg.est.probe(leg.t, 1_541_000), 0);
    leg.run(2000, 190_000, 1_541_000);
    assert.deepEqual(new Set(leg.padding), new Set([0]));
    leg.rr(0.3);
    assert.equal(leg.est.estimateBps, 300_000);
    assert.equal(leg.est.decreases, 0);
    // the next probe 2 s after the abort
    assert.equal(leg.est.probe(3190, 1_541_000), 0);
    assert.ok(leg.est.probe(3200, 1_541_000) > 0);
  });

  it('judges the NACK share over the last 100 ms: drops that start late in a probe end it within a few packets', () => {
    const leg = judgedAtStart();
    leg.run(1600, 190_000, 1_541_000); // 600 ms of probe, ≈ 106 packets, none lost
    leg.est.onNack(2, leg.t);
    leg.run(1650, 190_000, 1_541_000); // ≈ 9 more
    assert.equal(leg.est.probing, true);
    // 6 NACKed: 10 % of the last 100 ms, where 10 % of the whole probe (≈ 11) would still wait
    leg.est.onNack(4, leg.t);
    assert.equal(leg.est.probing, false);
    assert.equal(leg.est.probeFailures, 1);
  });

  it('is not cut short by the NACKs of random loss', () => {
    const leg = judgedAtStart();
    for (let i = 0; i < 9; i++) {
      leg.run(leg.t + 100, 190_000, 1_541_000);
      leg.est.onNack(1, leg.t); // 5 % of the 20 packets per 100 ms
    }
    assert.equal(leg.est.probing, true);
  });

  it('does not probe while the last report showed loss, nor soon after a decrease', () => {
    const leg = new Leg({ startBps: 2_000_000 });
    leg.run(1000, 1_000_000);
    leg.rr(0.05);
    assert.equal(leg.est.probe(1000, 5_000_000), 0);
    leg.run(2000, 1_000_000);
    leg.rr(0.25);
    assert.equal(leg.est.estimateBps, 675_000, 'a decrease: 10 % under what arrived');
    leg.run(3000, 600_000);
    leg.rr(0);
    // clean again, but the decrease at 2 s holds probes back until 4 s
    leg.run(3990, 600_000);
    assert.equal(leg.est.probe(3990, 5_000_000), 0);
    leg.run(4000, 600_000);
    assert.equal(leg.est.probe(4000, 5_000_000), 8 * 675_000 - 600_000);
  });

  it('gives up a probe that no report judged within 3 s of its end', () => {
    const leg = judgedAtStart();
    leg.run(2000, 190_000, 1_541_000);
    leg.est.tick(5000);
    assert.equal(leg.est.probeFailures, 0);
    leg.est.tick(5001);
    assert.equal(leg.est.probeFailures, 1);
  });

  it('goes at most 8× the estimate in one probe', () => {
    const leg = judgedAtStart();
    assert.equal(leg.est.probe(1000, 50_000_000), 2_400_000 - 190_000);
  });
});

/**
 * The acceptance test in miniature: a publisher's three layers, the allocator driven by the
 * estimate, probes sent as padding, and an nftables policer (`limit rate over 50 kbytes/second
 * drop`: a token bucket of one second at that rate, counting IP packet bytes) on the way, with
 * the subscriber's receiver reports every second and a NACK per lost packet 20 ms later.
 */
describe('DownlinkEstimator + allocate against a policer', () => {
  const tracks: AllocTrack[] = [
    { id: 'mic', kind: 'audio', source: 'audio', layers: [{ spatial: 0, temporal: 0, bps: 40_000 }] },
    {
      id: 'cam',
      kind: 'video',
      source: 'camera',
      layers: [
        { spatial: 0, temporal: 0, bps: 150_000 },
        { spatial: 1, temporal: 0, bps: 500_000 },
        { spatial: 2, temporal: 0, bps: 1_300_000 },
      ],
    },
  ];
  const RATE = 50_000; // bytes/s
  const OVERHEAD = 48; // SRTP tag, UDP, IPv4

  interface Run {
    /** the camera's layer per 100 ms, -1 = paused */
    layers: number[];
    /** media packets lost per second */
    lostMedia: number[];
    probes: number;
    probeFailures: number;
  }

  function simulate(seconds: number, capped: (t: number) => boolean, nack = true): Run {
    const est = new DownlinkEstimator();
    let alloc = allocate(est.estimateBps, tracks);
    let revision = est.revision;
    let tokens = RATE;
    let last = 0;
    const sent = { [VIDEO]: 0, [AUDIO]: 0 };
    const lost = { [VIDEO]: 0, [AUDIO]: 0 };
    const window = { [VIDEO]: [0, 0], [AUDIO]: [0, 0] };
    const nacks: number[] = [];
    const run: Run = { layers: [], lostMedia: new Array(seconds).fill(0), probes: 0, probeFailures: 0 };
    let carry = 0;
    let padCarry = 0;
    const wire = (ssrc: typeof VIDEO | typeof AUDIO, bytes: number, t: number, media: boolean) => {
      est.onSent(bytes, t);
      sent[ssrc]++;
      if (capped(t)) {
        tokens = Math.min(RATE, tokens + ((t - last) * RATE) / 1000);
        last = t;
        if (tokens < bytes + OVERHEAD) {
          lost[ssrc]++;
          if (media) run.lostMedia[Math.floor(t / 1000)]!++;
          if (ssrc === VIDEO && nack) nacks.push(t + 20);
          return;
        }
        tokens -= bytes + OVERHEAD;
      } else {
        tokens = RATE;
        last = t;
      }
    };
    for (let t = 0; t < seconds * 1000; t += STEP_MS) {
      while (nacks.length > 0 && nacks[0]! <= t) {
        nacks.shift();
        est.onNack(1, t);
      }
      // reports: video every second (at x.5 s), audio every 5 s
      for (const [ssrc, period, phase] of [
        [VIDEO, 1000, 500],
        [AUDIO, 5000, 2500],
      ] as const) {
        if (t % period !== phase) continue;
        const expected = sent[ssrc] - window[ssrc][0]!;
        const missing = lost[ssrc] - window[ssrc][1]!;
        window[ssrc] = [sent[ssrc], lost[ssrc]];
        est.onReceiverReport(ssrc, expected > 0 ? Math.floor((missing * 256) / expected) : 0, 1000 + sent[ssrc], t);
      }
      if (est.revision !== revision || t % 1000 === 0) {
        alloc = allocate(est.estimateBps, tracks, alloc.layers);
        revision = est.revision;
      }
      const cam = alloc.layers.get('cam') as Layer | null;
      if (t % 100 === 0) run.layers.push(cam ? cam.spatial : -1);
      const pad = est.probe(t, alloc.resumeBps > 0 ? alloc.resumeBps : alloc.wantedBps, alloc.resumeBps > 0);
      // audio: a 100-byte packet every 20 ms
      if (t % 20 === 0) wire(AUDIO, 100, t, true);
      // video: the layer's rate in ≤ 1200-byte packets; padding in 255-byte packets after it
      carry += (((cam ? tracks[1]!.layers[cam.spatial]!.bps : 0) * STEP_MS) / 8000) | 0;
      for (; carry >= 1200; carry -= 1200) wire(VIDEO, 1200, t, true);
      padCarry += ((pad * STEP_MS) / 8000) | 0;
      for (; padCarry >= 255; padCarry -= 255) wire(VIDEO, 255, t, false);
    }
    run.probes = est.probes;
    run.probeFailures = est.probeFailures;
    return run;
  }

  /** The first 100 ms slot from which the layer is always `layer`. */
  const settledAt = (layers: number[], layer: number, from = 0) => {
    let at = -1;
    for (let i = from; i < layers.length; i++) {
      if (layers[i] !== layer) at = -1;
      else if (at < 0) at = i;
    }
    return at;
  };

  it('uncapped: the top layer within 3 s, and kept', () => {
    const run = simulate(60, () => false);
    const at = settledAt(run.layers, 2);
    assert.ok(at >= 0 && at <= 30, `top layer from ${at * 100} ms`);
    assert.equal(run.probeFailures, 0);
    console.log(`policer sim: uncapped on the top layer from ${at / 10} s, ${run.probes} probe(s)`);
  });

  it('capped at 400 kbit/s: the lowest layer throughout, few media packets lost to probes, top layer within 10 s of the lift', () => {
    const run = simulate(90, (t) => t < 60_000);
    // never above the lowest layer while capped, and never paused
    assert.deepEqual(new Set(run.layers.slice(0, 600)), new Set([0]));
    // after 10 s: the probes (every 5 s, each cut short by NACKs) cost under 1 % of the media packets
    const lostAfter10 = run.lostMedia.slice(10, 60).reduce((a, b) => a + b, 0);
    const mediaPackets = 50 * (50 + 16); // 50 s × (audio 50/s + video ~16/s)
    assert.ok(lostAfter10 < mediaPackets * 0.01, `${lostAfter10} media packets lost`);
    const lifted = settledAt(run.layers, 2, 600);
    assert.ok(lifted >= 600 && lifted <= 700, `top layer from ${lifted * 100} ms`);
    console.log(
      `policer sim: probes ${run.probes} (failed ${run.probeFailures}), media lost after 10 s ${lostAfter10}, top again ${(lifted - 600) / 10} s after the lift`,
    );
  });

  it('without NACKs a failed probe runs its full second: still the lowest layer, at a cost in media packets', () => {
    const run = simulate(60, () => true, false);
    assert.deepEqual(new Set(run.layers.slice(0, 600)), new Set([0]));
    const lostAfter10 = run.lostMedia.slice(10, 60).reduce((a, b) => a + b, 0);
    console.log(`policer sim without NACKs: probes ${run.probes} (failed ${run.probeFailures}), media lost after 10 s ${lostAfter10}`);
  });

  it('a cap arriving on the top layer: the lowest layer within 3 s, and kept', () => {
    const run = simulate(60, (t) => t >= 20_000);
    assert.equal(run.layers[199], 2);
    const at = settledAt(run.layers, 0, 200);
    assert.ok(at >= 200 && at <= 230, `lowest layer from ${at * 100} ms`);
    console.log(`policer sim: cap at 20 s on the top layer, lowest layer from ${at / 10} s: ${run.layers.slice(200, at + 1).join('')}`);
  });

  it('finds a lifted cap within 10 s wherever the lift falls in the probe backoff', () => {
    const delays: number[] = [];
    for (let lift = 60_000; lift < 66_000; lift += 500) {
      const run = simulate(80, (t) => t < lift);
      const at = settledAt(run.layers, 2, lift / 100);
      assert.ok(at >= 0, `lift at ${lift}: never back on top`);
      delays.push((at * 100 - lift) / 1000);
    }
    const worst = Math.max(...delays);
    assert.ok(worst <= 8, `worst ${worst} s`);
    console.log(`policer sim: top layer again after the lift in ${delays.join(', ')} s`);
  });
});
