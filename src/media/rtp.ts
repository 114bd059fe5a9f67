/**
 * Per-packet RTP/RTCP work on raw buffers. Packets are rewritten in place: the engine
 * copies a packet when it is sent, so one buffer serves every subscriber in turn.
 */

const RTP_HEADER = 12;

/**
 * The header fields a forwarder rewrites, read ONCE per packet by the publisher side
 * before the fan-out: every sink then rewrites the shared buffer from these original
 * values, never from what the previous sink wrote. One instance per track, reused.
 */
export class RtpHeader {
  ssrc = 0;
  seq = 0;
  ts = 0;

  /** padding only, no payload: what a sender emits to probe bandwidth */
  paddingOnly = false;

  /** Reads the fields; false when `p` is not an RTP packet. */
  read(p: Buffer): boolean {
    const b0 = p[0]!;
    if (p.length < RTP_HEADER || b0 >> 6 !== 2) return false;
    this.seq = p.readUInt16BE(2);
    this.ts = p.readUInt32BE(4);
    this.ssrc = p.readUInt32BE(8);
    this.paddingOnly = (b0 & 0x20) !== 0 && payloadLength(p) <= 0;
    return true;
  }
}

/** Payload bytes of an RTP packet whose padding bit is set (header, CSRCs, extension and padding removed). */
function payloadLength(p: Buffer): number {
  const off = rtpPayloadOffset(p);
  return off < 0 ? 0 : p.length - off - p[p.length - 1]!;
}

/** Offset of the payload of an RTP packet (after CSRCs and header extension); -1 when truncated. */
export function rtpPayloadOffset(p: Buffer): number {
  if (p.length < RTP_HEADER) return -1;
  const b0 = p[0]!;
  let off = RTP_HEADER + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (p.length < off + 4) return -1;
    off += 4 + 4 * p.readUInt16BE(off + 2);
  }
  return off <= p.length ? off : -1;
}

/** Packets of the new source after which the previous one may come back as a source. */
const STRAGGLER_WINDOW = 50;

/**
 * Makes one publisher track look like one continuous stream to one subscriber:
 * our SSRC and payload type, and sequence numbers/timestamps that continue across a
 * change of the source's SSRC (publisher renegotiated or restarted its encoder).
 */
export class RtpRewriter {
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
  continueFrom(previous: RtpRewriter): void {
    if (!previous.started) return;
    this.lastSeq = previous.lastSeq;
    this.lastTs = previous.lastTs;
    this.started = true;
  }

  /**
   * Rewrites the header of `p`, whose original fields are in `h`. False when the packet
   * is dropped: a straggler of the previous source after a switch.
   */
  rewrite(p: Buffer, h: RtpHeader): boolean {
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

/** RTCP packet types (RFC 3550/4585). */
const PSFB = 206;
const FMT_PLI = 1;
const FMT_FIR = 4;

/** True when the (compound) RTCP packet holds a PLI or FIR for `mediaSsrc`. */
export function hasKeyframeRequest(p: Buffer, mediaSsrc: number): boolean {
  let off = 0;
  while (off + 12 <= p.length) {
    const fmt = p[off]! & 0x1f;
    const pt = p[off + 1]!;
    const len = (p.readUInt16BE(off + 2) + 1) * 4;
    if (off + len > p.length) return false;
    if (pt === PSFB) {
      if (fmt === FMT_PLI && p.readUInt32BE(off + 8) === mediaSsrc) return true;
      if (fmt === FMT_FIR) {
        // FCI entries of 8 bytes: SSRC, seq nr, reserved
        for (let fci = off + 12; fci + 8 <= off + len; fci += 8) {
          if (p.readUInt32BE(fci) === mediaSsrc) return true;
        }
      }
    }
    off += len;
  }
  return false;
}

/** RTCP shares the RTP port under rtcp-mux; packet types 192–223 are RTCP (RFC 5761). */
export function isRtcp(p: Buffer): boolean {
  if (p.length < 2) return false;
  const pt = p[1]!;
  return pt >= 192 && pt <= 223;
}

/** 32-bit SSRC that is never 0. */
export function randomSsrc(): number {
  return ((Math.random() * 0xfffffffe) >>> 0) + 1;
}
