/**
 * What a receiver reports about one received stream (RFC 3550 §6.4.1, appendix A.1, A.3,
 * A.8): extended highest sequence number, cumulative and interval loss, interarrival
 * jitter; and the last sender report, for LSR/DLSR. Feeds our receiver reports to the
 * publisher, so its congestion control sees the uplink as it is.
 */
import type { ReportBlock, RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

export class Reception implements RtpStage {
  ssrc = 0;
  private started = false;
  private baseSeq = 0;
  private maxSeq = 0;
  private cycles = 0;
  received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  /** interarrival jitter in RTP timestamp units (fractional, as A.8 keeps it) */
  private jitter = 0;
  private lastTransit = 0;
  /** middle 32 bits of the NTP time of the last SR, and when it arrived (ms) */
  private lsr = 0;
  private lsrAt = 0;

  constructor(
    /** RTP clock rate of the stream */
    private readonly clockRate: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  onRtp(_packet: Buffer, h: RtpHeader): boolean {
    const seq = h.seq;
    if (!this.started || h.ssrc !== this.ssrc) {
      // a new source: its numbering starts over
      this.ssrc = h.ssrc;
      this.started = true;
      this.baseSeq = this.maxSeq = seq;
      this.cycles = this.received = this.expectedPrior = this.receivedPrior = 0;
      this.jitter = 0;
      this.lastTransit = this.transit(h.ts, h.receivedAt || this.now());
      this.received = 1;
      return true;
    }
    this.received++;
    const delta = (seq - this.maxSeq) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      if (seq < this.maxSeq) this.cycles += 0x10000; // wrapped
      this.maxSeq = seq;
      // Jitter from in-order packets only: a retransmission's arrival says nothing about the path's jitter.
      const transit = this.transit(h.ts, h.receivedAt || this.now());
      const d = Math.abs(transit - this.lastTransit);
      this.lastTransit = transit;
      this.jitter += (d - this.jitter) / 16;
    }
    return true;
  }

  /** Arrival time in RTP units minus the packet's timestamp (A.8). */
  private transit(ts: number, at: number): number {
    return (at * this.clockRate) / 1000 - ts;
  }

  /** A sender report of this source arrived. */
  onSenderReport(ntpMiddle: number): void {
    this.lsr = ntpMiddle;
    this.lsrAt = this.now();
  }

  /** Fills the report block for now; false when nothing was received yet. Moves the interval. */
  fill(out: ReportBlock): boolean {
    if (!this.started) return false;
    const extMax = this.cycles + this.maxSeq;
    const expected = extMax - this.baseSeq + 1;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    out.ssrc = this.ssrc;
    out.fraction = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    out.lost = expected - this.received;
    out.extHighestSeq = extMax >>> 0;
    out.jitter = Math.floor(this.jitter) >>> 0;
    out.lsr = this.lsr;
    out.dlsr = this.lsr === 0 ? 0 : Math.floor(((this.now() - this.lsrAt) * 65536) / 1000) >>> 0;
    return true;
  }
}
