/**
 * Makes one publisher track look like one continuous stream to one subscriber: our SSRC
 * and payload type, and sequence numbers/timestamps that continue across a change of the
 * source's SSRC (publisher renegotiated or restarted its encoder). Rewrites in place from
 * the original header fields, so one buffer serves every subscriber in turn.
 */
import type { RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

/** Packets of the new source after which the previous one may come back as a source. */
const STRAGGLER_WINDOW = 50;

export class RtpRewriter implements RtpStage {
  private sourceSsrc = -1;
  private previousSsrc = -1;
  private sinceSwitch = 0;
  private seqOffset = 0;
  private tsOffset = 0;
  private lastSeq = 0;
  private lastTs = 0;
  private started = false;

  constructor(
    readonly ssrc: number,
    readonly payloadType: number,
    /** timestamp step assumed across a source change: one frame/packet */
    private readonly tsStep: number,
  ) {}

  /**
   * Continues the numbering of `previous` (same outgoing SSRC, new source): the next packet
   * counts as a source change, so its sequence number and timestamp follow on.
   */
  /** SSRC of the source being rewritten now; -1 before the first packet */
  get source(): number {
    return this.sourceSsrc;
  }

  /** What is added to the source's RTP timestamps; meaningful once a packet passed. */
  get timestampOffset(): number {
    return this.tsOffset;
  }

  get hasStarted(): boolean {
    return this.started;
  }

  continueFrom(previous: RtpRewriter): void {
    if (!previous.started) return;
    this.lastSeq = previous.lastSeq;
    this.lastTs = previous.lastTs;
    this.started = true;
  }

  /** Rewrites the header of `p`; false drops it: a straggler of the previous source after a switch. */
  onRtp(p: Buffer, h: RtpHeader): boolean {
    const src = h.ssrc;
    const inSeq = h.seq;
    const inTs = h.ts;
    if (src !== this.sourceSsrc) {
      // Late packets of the source we just left are dropped; after a while that source
      // counts as new again (A → B → A).
      if (src === this.previousSsrc && this.sinceSwitch < STRAGGLER_WINDOW) return false;
      this.previousSsrc = this.sourceSsrc;
      this.sourceSsrc = src;
      this.sinceSwitch = 0;
      if (this.started) {
        this.seqOffset = (this.lastSeq + 1 - inSeq) & 0xffff;
        this.tsOffset = (this.lastTs + this.tsStep - inTs) >>> 0;
      }
    }
    this.sinceSwitch++;
    const seq = (inSeq + this.seqOffset) & 0xffff;
    const ts = (inTs + this.tsOffset) >>> 0;
    // Remember the newest packet only, so a late (reordered) packet does not move the base.
    if (!this.started || ((seq - this.lastSeq) & 0xffff) < 0x8000) {
      this.lastSeq = seq;
      this.lastTs = ts;
      this.started = true;
    }
    p[1] = (p[1]! & 0x80) | this.payloadType;
    p.writeUInt16BE(seq, 2);
    p.writeUInt32BE(ts, 4);
    p.writeUInt32BE(this.ssrc, 8);
    return true;
  }
}
