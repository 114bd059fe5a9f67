/**
 * One subscriber's downlink estimate (issue 18, item 3), from what we sent and what its
 * receiver reports say arrived, plus a probing plan to find out whether more would fit.
 *
 * Why loss and not delay: a policer (an ISP's token bucket, the acceptance test's nftables
 * `limit rate over … drop`) drops what exceeds its rate without queueing, so a receive-side
 * delay estimator (REMB) sees nothing; loss is the signal. Against a policer the delivered
 * rate, sent × (1 − loss) over the interval a report covers, *is* the capacity — so one
 * report after the path saturates settles the estimate, where libwebrtc's loss-based
 * controller (sent × (1 − 0.5·loss) per report) needs several and overshoots meanwhile.
 * Its thresholds are kept: loss > 10 % sets the estimate to the delivered rate, < 2 % lets
 * it rise to what was delivered, in between it holds.
 *
 * Rising above what we send needs evidence, so it comes from probes: padding on top of the
 * media for ~1 s, up to what the allocator would like (its best allocation, ×1.1), in one
 * go rather than a layer at a time: a token bucket lets a burst through (nftables' byte
 * limit: one second at its rate), which a small step for a short time fits into and
 * passes as a false success. Success (the reports covering the probe all < 2 % loss)
 * raises the estimate to the rate probed; failure leaves it, and the next probe waits
 * longer (2 s, 4 s, then every 5 s: bounded so a lifted cap is found within ~7 s). A
 * failed probe is cut short by the subscriber's NACKs, which arrive a round trip after the
 * first drops, a second before the report: so it costs the media a packet or two that
 * retransmission recovers, not a second of loss (simulated against the acceptance test's
 * policer: ~1 media packet per failed probe with NACKs, ~9 without).
 *
 * Start low (300 kbit/s, libwebrtc's start rate): a camera starts on its lowest layer — the
 * smallest keyframe, the fastest first frame, and nothing to lose on a weak downlink — and
 * the first probe, after the first clean report (≤ 1 s), lifts a strong downlink to the top
 * layer within ~2–3 s. Starting high instead would give a 400 kbit/s subscriber two seconds of
 * ~70 % loss and a keyframe wait before anything decodes.
 *
 * Pure: every input carries its time, nothing runs by itself; `onSent` is the only call per
 * packet and only adds to a ring of 50 ms buckets.
 */

/** Above: the path is saturated (libwebrtc's loss-based controller, 10 %). */
const HIGH_LOSS = 0.1;
/**
 * No report from the subscriber for this long: its path was down (a video receiver reports
 * about every second, and with every NACK).
 */
const OUTAGE_MS = 2500;
/**
 * A decrease goes this far below what arrived: a layer that just fits what a policer lets
 * through keeps losing a few per cent at each keyframe and burst (measured: stuck on a
 * 360 kbit/s layer under a 400 kbit/s cap at 5 fps).
 */
const DECREASE_MARGIN = 0.9;
/** A clean report raises the estimate to no more than was sent over this long before it, without loss. */
const RAISE_WINDOW_MS = 2000;
/** After a decrease, the next one waits this long. */
const DECREASE_HOLD_MS = 1000;
/** Below: the path carried what we sent (libwebrtc, 2 %). */
const LOW_LOSS = 0.02;
const BUCKET_MS = 50;
/** 12.8 s of send history: covers an audio track's ~5 s report interval twice. */
const BUCKETS = 256;
/** Reports closer than this (compound RTCP with a NACK carries report blocks too) are summed. */
const MIN_SAMPLE_MS = 250;
/** Nor is a loss fraction over fewer packets a measurement. */
const MIN_SAMPLE_PACKETS = 10;
/** A track's first report covers "since it started", which we do not know per SSRC: assume this much. */
const FIRST_REPORT_SPAN_MS = 1000;
/** Chromium sends REMB about every second; one this old no longer caps the estimate. */
const REMB_TTL_MS = 5000;
/** Probe a little above what the allocator wants, so success clears its up headroom despite jitter in our own rate. */
const PROBE_OVERSHOOT = 1.1;
/** A probe whose end no report covered this long after it is given up (counted as failed). */
const PROBE_RESULT_TIMEOUT_MS = 3000;
/**
 * A probe is cut short once NACKed packets reach this share of what was sent over the last
 * NACK_WINDOW_MS (random loss stays well under)…
 */
const NACK_ABORT_SHARE = 0.1;
/** …and at least this many. */
const NACK_ABORT_MIN = 5;
/**
 * Over the probe's whole length a policer's drops, which start only once its bucket is
 * empty, took 50–100 ms to reach 10 %: long enough for a media packet's resend, and the
 * one asked for after it, to be dropped as well (a frozen frame).
 */
const NACK_WINDOW_MS = 100;
/** The media rate a probe's padding adds to is measured over this much before it. */
const MEDIA_WINDOW_MS = 1000;
/**
 * A probe's aftermath counts as the probe this long after it: the retransmissions it caused
 * and a policer's bucket it emptied make the next report lossy through no fault of the media.
 */
const PROBE_TAIL_MS = 1000;
/** Windows of recent probes kept to tell a report that covers one (it judges the probe, not the path). */
const PROBE_WINDOWS = 4;

export interface DownlinkEstimatorOptions {
  /** the estimate before any report */
  startBps?: number;
  /** never below (audio and a thumbnail stay possible after a burst of loss) */
  minBps?: number;
  maxBps?: number;
  /** how long a probe's padding is sent */
  probeDurationMs?: number;
  /** from a probe's start to the next one's after a success */
  probeIntervalMs?: number;
  /** wait after the first failure (or a decrease); doubles per further failure */
  probeBackoffMs?: number;
  /** the longest wait: bounds how long a lifted cap goes unnoticed */
  maxProbeBackoffMs?: number;
  /** a probe goes at most this far above the estimate */
  maxProbeRatio?: number;
}

type ProbeState = 'idle' | 'probing' | 'waiting';

/** Per SSRC: the report interval being summed. */
interface ReportSpan {
  start: number;
  ext: number;
  expected: number;
  lost: number;
  /** the next report only starts a new interval: the last one spans a path outage */
  rebase: boolean;
}

export class DownlinkEstimator {
  /** the loss-based estimate (probes included), before REMB */
  lossBasedBps: number;
  /** the last REMB, 0 = none */
  rembBps = 0;
  /** loss of the last report that judged the path (not a probe), 0–1 */
  lastLoss = 0;
  /** smoothed round trip, 0 = unknown */
  rttMs = 0;
  /** bumped whenever the estimate changes: reallocate when it moved */
  revision = 0;
  probes = 0;
  probeSuccesses = 0;
  probeFailures = 0;
  /** reports with loss > 10 % that set the estimate */
  decreases = 0;

  private readonly minBps: number;
  private readonly maxBps: number;
  private readonly probeDurationMs: number;
  private readonly probeIntervalMs: number;
  private readonly probeBackoffMs: number;
  private readonly maxProbeBackoffMs: number;
  private readonly maxProbeRatio: number;

  private readonly buckets = new Float64Array(BUCKETS);
  /** the absolute index (time / BUCKET_MS) of the newest bucket; -1 before the first send */
  private head = -1;
  private firstSentAt = -1;
  private packets = 0;
  private lastNow = 0;
  private decreasedAt = Number.NEGATIVE_INFINITY;
  private lastReportAt = -1;
  private rembAt = Number.NEGATIVE_INFINITY;
  private readonly spans = new Map<number, ReportSpan>();
  private judged = false;
  /** clean reports raise the estimate no higher: set by a decrease or a probe that passes; only probes go above */
  private ceilingBps = Number.POSITIVE_INFINITY;
  /** the end of the latest report interval that saw loss */
  private lossyUntil = Number.NEGATIVE_INFINITY;

  private state: ProbeState = 'idle';
  private probeStart = 0;
  private probeEnd = 0;
  private paddingBps = 0;
  /** the most a success of the current probe raises the estimate to */
  private probeCapBps = 0;
  /** packets sent and NACKed since `nackWindowAt` (a probe's NACK share is judged per window) */
  private probePackets = 0;
  private probeNacked = 0;
  private nackWindowAt = 0;
  private prevWindowPackets = 0;
  private nextProbeAt = 0;
  private failures = 0;
  /** [start, end] pairs of the last probes, oldest overwritten */
  private readonly windows = new Float64Array(PROBE_WINDOWS * 2).fill(Number.NEGATIVE_INFINITY);
  private window = 0;

  constructor(options: DownlinkEstimatorOptions = {}) {
    this.lossBasedBps = options.startBps ?? 300_000;
    this.minBps = options.minBps ?? 50_000;
    this.maxBps = options.maxBps ?? 50_000_000;
    this.probeDurationMs = options.probeDurationMs ?? 1000;
    this.probeIntervalMs = options.probeIntervalMs ?? 3000;
    this.probeBackoffMs = options.probeBackoffMs ?? 2000;
    this.maxProbeBackoffMs = options.maxProbeBackoffMs ?? 5000;
    this.maxProbeRatio = options.maxProbeRatio ?? 8;
  }

  /** What the allocator may spend: the loss-based estimate, capped by a recent REMB. */
  get estimateBps(): number {
    if (this.rembBps > 0 && this.lastNow - this.rembAt <= REMB_TTL_MS) return Math.min(this.lossBasedBps, this.rembBps);
    return this.lossBasedBps;
  }

  /** A report has judged the path: before it, the estimate is only the start value. */
  get judgedPath(): boolean {
    return this.judged;
  }

  /** A probe's padding is being sent now. */
  get probing(): boolean {
    return this.state === 'probing';
  }

  /** Every packet sent to the subscriber, padding and retransmissions included (RTP length). */
  onSent(bytes: number, now: number): void {
    const b = Math.floor(now / BUCKET_MS);
    if (b > this.head) this.advance(b);
    else if (b <= this.head - BUCKETS) return; // older than the history (a clock step back)
    this.buckets[b % BUCKETS]! += bytes;
    this.packets++;
    if (this.firstSentAt < 0) this.firstSentAt = now;
    if (now > this.lastNow) this.lastNow = now;
  }

  /**
   * One report block about one of this subscriber's DownTrack SSRCs. `fractionLost` is the
   * RTCP 8-bit fraction (0–255), `extHighestSeq` the extended highest sequence number.
   */
  onReceiverReport(ssrc: number, fractionLost: number, extHighestSeq: number, now: number): void {
    this.tick(now);
    // No report at all for a while: the path was down both ways (an outage, not congestion).
    // What was lost meanwhile says nothing about the rate the path carries, so each stream's
    // next report only starts a new interval, and the estimate stays as it was.
    if (this.lastReportAt >= 0 && now - this.lastReportAt > OUTAGE_MS) for (const sp of this.spans.values()) sp.rebase = true;
    this.lastReportAt = now;
    const loss = fractionLost / 256;
    const span = this.spans.get(ssrc);
    if (span?.rebase) {
      span.rebase = false;
      span.start = now;
      span.ext = extHighestSeq;
      span.expected = span.lost = 0;
      return;
    }
    if (!span) {
      this.spans.set(ssrc, { start: now, ext: extHighestSeq, expected: 0, lost: 0, rebase: false });
      const from = Math.max(now - FIRST_REPORT_SPAN_MS, this.firstSentAt < 0 ? now : this.firstSentAt);
      if (now - from >= MIN_SAMPLE_MS) this.sample(from, now, loss, now);
      return;
    }
    const delta = extHighestSeq - span.ext;
    if (delta < 0 || delta > 0x7fffffff) {
      // a reordered report, or the SSRC restarted: begin again
      span.start = now;
      span.ext = extHighestSeq;
      span.expected = span.lost = 0;
      return;
    }
    span.ext = extHighestSeq;
    span.expected += delta;
    span.lost += loss * delta;
    if (now - span.start < MIN_SAMPLE_MS || span.expected < MIN_SAMPLE_PACKETS) return;
    const from = span.start;
    const sampleLoss = span.lost / span.expected;
    span.start = now;
    span.expected = span.lost = 0;
    this.sample(from, now, sampleLoss, now);
  }

  /** NACKed sequence numbers (count) from the subscriber, any video DownTrack: ends a failing probe early. */
  onNack(packets: number, now: number): void {
    this.tick(now);
    if (this.state === 'idle') return;
    if (now - this.nackWindowAt >= NACK_WINDOW_MS) {
      // the window before, if it just ended, still counts in what was sent (the NACKs of its drops come a round trip later)
      this.prevWindowPackets = now - this.nackWindowAt < 2 * NACK_WINDOW_MS ? this.packets - this.probePackets : 0;
      this.nackWindowAt = now;
      this.probePackets = this.packets;
      this.probeNacked = 0;
    }
    this.probeNacked += packets;
    const sent = this.packets - this.probePackets + this.prevWindowPackets;
    if (this.probeNacked >= NACK_ABORT_MIN && this.probeNacked >= sent * NACK_ABORT_SHARE) {
      if (this.state === 'probing') this.endWindow(now);
      this.probeFailed(now);
    }
  }

  /** A REMB from the subscriber (only if negotiated; it cannot see a policer, so it only caps). */
  onRemb(bps: number, now: number): void {
    if (now > this.lastNow) this.lastNow = now;
    const before = this.estimateBps;
    this.rembBps = bps;
    this.rembAt = now;
    if (this.estimateBps !== before) this.revision++;
  }

  /** Round trip from the subscriber's reports (DLRR/LSR): aligns report intervals with our sends. */
  onRtt(ms: number): void {
    this.rttMs = this.rttMs === 0 ? ms : 0.875 * this.rttMs + 0.125 * ms;
  }

  /** Forgets a DownTrack's SSRC (unbound, renumbered). */
  forget(ssrc: number): void {
    this.spans.delete(ssrc);
  }

  /**
   * The padding rate (bit/s) to send on top of the media now; 0 = none. Call it as often as
   * padding is scheduled (every 20–50 ms) with the allocator's `wantedBps`: a probe starts
   * only when that is above the estimate, the last report was clean, and the backoff allows;
   * it returns the same rate until the probe's time is up or NACKs end it. A success raises
   * the estimate to no more than the probe's aim (`wantedBps` × 1.1), or to no more than
   * `wantedBps` itself when `exact` (a probe to resume a paused video: the headroom of the
   * overshoot would let the next layer in too).
   */
  probe(now: number, wantedBps: number, exact = false): number {
    this.tick(now);
    if (this.state === 'probing') return this.paddingBps;
    if (this.state !== 'idle' || now < this.nextProbeAt || !this.judged || this.lastLoss >= LOW_LOSS) return 0;
    const estimate = this.estimateBps;
    if (wantedBps <= estimate) return 0;
    const target = Math.min(wantedBps * PROBE_OVERSHOOT, estimate * this.maxProbeRatio, this.maxBps);
    const from = Math.max(now - MEDIA_WINDOW_MS, this.firstSentAt < 0 ? now : this.firstSentAt);
    const padding = Math.round(target - this.rateBetween(from, now));
    if (padding <= 0) return 0;
    this.state = 'probing';
    this.probes++;
    this.probeCapBps = exact ? wantedBps : target;
    this.probeStart = now;
    this.probeEnd = now + this.probeDurationMs;
    this.paddingBps = padding;
    this.probePackets = this.packets;
    this.probeNacked = 0;
    this.nackWindowAt = now;
    this.prevWindowPackets = 0;
    this.window = (this.window + 1) % PROBE_WINDOWS;
    this.windows[this.window * 2] = now;
    this.windows[this.window * 2 + 1] = this.probeEnd;
    return padding;
  }

  /** Moves time: ends a probe's padding when due, gives up a probe no report judged. */
  tick(now: number): void {
    if (now > this.lastNow) this.lastNow = now;
    if (this.state === 'probing' && now >= this.probeEnd) this.state = 'waiting';
    if (this.state === 'waiting' && now > this.probeEnd + this.rttMs + PROBE_RESULT_TIMEOUT_MS) this.probeFailed(now);
  }

  /** A report interval [from, to] (our clock, when the reports arrived) with its loss. */
  private sample(from: number, to: number, loss: number, now: number): void {
    // The packets a report counts left here about a round trip before it arrived.
    const start = from - this.rttMs;
    const end = to - this.rttMs;
    if (this.coversProbe(start, end)) {
      this.judgeProbe(end, loss, now);
      return;
    }
    this.judged = true;
    this.lastLoss = loss;
    const sent = this.rateBetween(start, end);
    if (sent <= 0) return;
    const delivered = sent * (1 - loss);
    if (loss >= LOW_LOSS && end > this.lossyUntil) this.lossyUntil = end;
    if (loss > HIGH_LOSS) {
      // Saturated: what arrived is what the path carries (a policer's rate). Never more than
      // the estimate: over a short report interval a policer's burst allowance (nftables: a
      // second at its rate) makes what arrived look like more than the path sustains.
      // Once per DECREASE_HOLD_MS: the reports right after a decrease still count packets sent
      // before the allocator could act on it (a layer switch waits for a keyframe); taking them
      // too would push the estimate far below the path (libwebrtc holds 300 ms + RTT).
      if (now - this.decreasedAt < DECREASE_HOLD_MS) return;
      const lower = delivered * DECREASE_MARGIN;
      // (a report whose interval a burst inflated lowers nothing, and starts no hold)
      if (lower >= this.lossBasedBps) return;
      this.decreasedAt = now;
      this.decreases++;
      this.set(lower);
      this.ceilingBps = this.lossBasedBps;
      this.failures++;
      this.nextProbeAt = Math.max(this.nextProbeAt, now + this.backoff());
    } else if (loss < LOW_LOSS && start >= this.lossyUntil && Math.max(end - RAISE_WINDOW_MS, this.firstSentAt) >= this.lossyUntil) {
      // (Not when another track's report saw loss in this interval: an audio report over 5 s, its small
      // packets slipping through a policer that drops the video's, would undo the decrease.)
      // No more than was sent over the last RAISE_WINDOW_MS: a quarter second can hold a
      // keyframe that a policer's burst allowance let through.
      // And never above a decrease or a probe's result: under a policer, 2 s of keyframes
      // and retransmissions above its rate still fit its burst allowance and look clean, and the
      // estimate crept up to the next layer, which then lost ≈ 2 s of video each time.
      const steady = Math.min(delivered, this.rateBetween(Math.max(end - RAISE_WINDOW_MS, this.firstSentAt), end), this.ceilingBps);
      if (steady > this.lossBasedBps) this.set(steady);
    }
  }

  /** A report that covers (part of) a probe says whether the probe fit, not what the path does without it. */
  private judgeProbe(end: number, loss: number, now: number): void {
    if (this.state === 'idle' || end <= this.probeStart) return; // an earlier probe's, already judged
    if (loss >= LOW_LOSS) {
      if (this.state === 'probing') this.endWindow(now);
      this.probeFailed(now);
    } else if (this.state === 'waiting' && end >= this.probeEnd) {
      // Reaches the probe's end, and no report about its earlier part (this track's or another's) showed loss.
      this.probeSucceeded(now);
    }
  }

  private probeSucceeded(now: number): void {
    this.state = 'idle';
    this.probeSuccesses++;
    // A probe proves no more than it was for: what it sent over that is a policer's burst
    // allowance as often as capacity (a probe to resume the smallest layer at ≈ 430 kbit/s
    // passed a 400 kbit/s policer, and the estimate it left took the next layer, which lost).
    const rate = Math.min(this.rateBetween(this.probeStart, this.probeEnd), this.probeCapBps);
    if (rate > this.lossBasedBps) this.set(rate);
    this.ceilingBps = this.lossBasedBps;
    if (this.estimateBps < this.lossBasedBps) {
      // REMB is what limits: more probes help it grow (it follows what arrives) but may not, so they back off.
      this.failures++;
      this.nextProbeAt = now + this.backoff();
    } else {
      this.failures = 0;
      this.nextProbeAt = Math.max(now, this.probeStart + this.probeIntervalMs);
    }
  }

  private probeFailed(now: number): void {
    this.state = 'idle';
    this.probeFailures++;
    this.failures++;
    this.nextProbeAt = now + this.backoff();
  }

  private backoff(): number {
    return Math.min(this.probeBackoffMs * 2 ** Math.max(0, this.failures - 1), this.maxProbeBackoffMs);
  }

  /** A probe cut short: reports judge only the time its padding was sent. */
  private endWindow(now: number): void {
    this.probeEnd = now;
    this.windows[this.window * 2 + 1] = now;
  }

  private coversProbe(start: number, end: number): boolean {
    for (let i = 0; i < PROBE_WINDOWS; i++) {
      if (start < this.windows[i * 2 + 1]! + PROBE_TAIL_MS && end > this.windows[i * 2]!) return true;
    }
    return false;
  }

  private set(bps: number): void {
    const v = Math.round(Math.min(this.maxBps, Math.max(this.minBps, bps)));
    if (v === this.lossBasedBps) return;
    this.lossBasedBps = v;
    this.revision++;
  }

  private advance(b: number): void {
    if (this.head < 0 || b - this.head >= BUCKETS) this.buckets.fill(0);
    else for (let i = this.head + 1; i <= b; i++) this.buckets[i % BUCKETS] = 0;
    this.head = b;
  }

  /** Our send rate (bit/s) over [from, to), a bucket's bytes taken as spread evenly over it. */
  private rateBetween(from: number, to: number): number {
    if (to <= from || this.head < 0) return 0;
    const oldest = (this.head - BUCKETS + 1) * BUCKET_MS;
    const newest = (this.head + 1) * BUCKET_MS;
    const lo = Math.max(from, oldest);
    const hi = Math.min(to, newest);
    let bytes = 0;
    if (hi > lo) {
      for (let b = Math.floor(lo / BUCKET_MS); b * BUCKET_MS < hi; b++) {
        const s = b * BUCKET_MS;
        // The newest bucket holds only what was sent up to the latest time we were told.
        const span = b === this.head ? Math.min(BUCKET_MS, Math.max(1, this.lastNow - s)) : BUCKET_MS;
        const overlap = Math.min(hi, s + span) - Math.max(lo, s);
        if (overlap > 0) bytes += (this.buckets[b % BUCKETS]! * overlap) / span;
      }
    }
    return (bytes * 8 * 1000) / (to - from);
  }
}
