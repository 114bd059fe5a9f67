/**
 * Makes one publisher track look like one continuous stream to one subscriber: our SSRC
 * and payload type, and sequence numbers/timestamps that continue across a change of the
 * source's SSRC (publisher renegotiated or restarted its encoder). Rewrites in place from
 * the original header fields, so one buffer serves every subscriber in turn.
 *
 * With a LayerSelector in front (simulcast), the selector tells it what it does not see:
 * `dropped` for a packet of the current source it dropped (later sequence numbers move
 * down, no gap), `switchTo` for the first packet of another layer (no straggler logic:
 * the selector forwards one layer only; timestamps from the sender reports' mapping).
 */
import type { RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';
import { Renumbering } from './renumbering.js';

/** Packets of the new source after which the previous one may come back as a source. */
const STRAGGLER_WINDOW = 50;

export class RtpRewriter implements RtpStage {
  private sourceSsrc = -1;
  private previousSsrc = -1;
  private sinceSwitch = 0;
  /** input → output sequence numbers of the current source */
  private readonly seqs = new Renumbering(0xffff);
  private tsOffset = 0;
  private lastSeq = 0;
  private lastTs = 0;
  private started = false;

  constructor(
    readonly ssrc: number,
    readonly payloadType: number,
    /** timestamp step assumed across a source change: one frame/packet */
    readonly tsStep: number,
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

  /** Timestamp of the newest packet sent; meaningful once a packet passed. */
  get lastTimestamp(): number {
    return this.lastTs;
  }

  /**
   * A packet of the current source that will not go out (a LayerSelector dropped it):
   * later packets move down by one so the output has no gap. Packets of another source,
   * late ones (their number was given out) and any before the first are ignored.
   */
  dropped(h: RtpHeader): void {
    if (this.started && h.ssrc === this.sourceSsrc) this.seqs.drop(h.seq);
  }

  /**
   * Makes `h`, about to be passed to `onRtp`, the first packet of a new stretch of source
   * `h.ssrc` (another layer, or the same one after a pause): its sequence number follows
   * the last one sent; its timestamp is `h.ts + tsOffset` when given (mapped through the
   * sender reports), else one step after the last one; never at or before the last
   * timestamp sent. Before the first packet: numbering starts from `h` as it is.
   */
  switchTo(h: RtpHeader, tsOffset?: number): void {
    if (h.ssrc !== this.sourceSsrc) {
      this.previousSsrc = this.sourceSsrc;
      this.sourceSsrc = h.ssrc;
    }
    this.sinceSwitch = 0;
    if (!this.started) {
      this.seqs.rebase(h.seq, h.seq);
      this.tsOffset = (tsOffset ?? 0) >>> 0;
      return;
    }
    this.seqs.rebase(h.seq, this.lastSeq + 1);
    let off = tsOffset ?? this.lastTs + this.tsStep - h.ts;
    if (((h.ts + off - this.lastTs) | 0) <= 0) off = this.lastTs + 1 - h.ts;
    this.tsOffset = off >>> 0;
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
        this.seqs.rebase(inSeq, this.lastSeq + 1);
        this.tsOffset = (this.lastTs + this.tsStep - inTs) >>> 0;
      } else this.seqs.rebase(inSeq, inSeq);
    }
    this.sinceSwitch++;
    const seq = this.seqs.map(inSeq);
    if (seq < 0) return false; // too late to number after the drops that followed it
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

  /**
   * A sequence number for a packet of our own (probe padding) after the last one sent, at
   * the last timestamp; later packets of the source follow it. -1 before the first packet.
   */
  insertPadding(): number {
    if (!this.started) return -1;
    const seq = (this.lastSeq + 1) & 0xffff;
    this.lastSeq = seq;
    this.seqs.insert();
    return seq;
  }
}
