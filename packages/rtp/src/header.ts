/**
 * RTP header fields read once per packet (RFC 3550 §5.1): the media pipeline and the bus
 * both carry packets with their header.
 */

import { RtpExtensions } from './extensions.js';
import { Vp8Descriptor } from './vp8.js';

export const RTP_HEADER_SIZE = 12;

/**
 * The header fields the pipeline works with, read ONCE per packet on the receiving side
 * before the fan-out: every subscriber's stages start from these original values, never
 * from what the previous subscriber's rewrite left in the shared buffer. One instance per
 * received stream, reused for every packet.
 */
export class RtpHeader {
  ssrc = 0;
  seq = 0;
  ts = 0;
  payloadType = 0;
  marker = false;
  /** where the payload starts (after CSRCs and header extension); -1 when they run past the end */
  payloadOffset = 0;
  /** padding only, no payload: what a sender emits to probe bandwidth */
  paddingOnly = false;
  /** an RTCP packet (rtcp-mux): only `ssrc` (its first sender SSRC) is read */
  rtcp = false;
  /**
   * When the packet arrived (performance.now() ms), set once by whoever received it, so no
   * stage downstream asks the clock again; 0 when not set.
   */
  receivedAt = 0;
  /** header extension elements (RFC 8285): positions and original ids */
  readonly ext = new RtpExtensions();
  /**
   * Spatial layer of the packet's stream (simulcast: 0 = lowest), set by whoever delivers
   * the packet (the receiving UpTrack or the bus subscription of that layer's subject);
   * `read()` leaves it alone. 0 for a track without layers.
   */
  layer = 0;
  private readonly vp8Descriptor = new Vp8Descriptor();
  private vp8Read = false;

  /** Reads the fields; false when `p` is neither RTP nor RTCP. */
  read(p: Buffer): boolean {
    this.vp8Read = false;
    if (p.length < RTP_HEADER_SIZE) return false;
    const b0 = p[0]!;
    if (b0 >> 6 !== 2) return false;
    const b1 = p[1]!;
    const pt = b1 & 0x7f;
    if (pt >= 64 && pt <= 95) {
      this.rtcp = true;
      this.ssrc = p.readUInt32BE(4);
      return true;
    }
    this.rtcp = false;
    this.marker = (b1 & 0x80) !== 0;
    this.payloadType = b1 & 0x7f;
    this.seq = p.readUInt16BE(2);
    this.ts = p.readUInt32BE(4);
    this.ssrc = p.readUInt32BE(8);
    const off = rtpPayloadOffset(p);
    this.payloadOffset = off;
    this.paddingOnly = (b0 & 0x20) !== 0 && (off < 0 || p.length - off - p[p.length - 1]! <= 0);
    this.ext.read(p);
    return true;
  }

  /**
   * The VP8 payload descriptor of `p` (the packet just read), parsed on the first call for
   * this packet and kept: the original picture id and TL0PICIDX, read before any
   * subscriber rewrites them in the shared buffer. Only meaningful for a VP8 payload;
   * `valid` is false when there is no descriptor (padding only, truncated). The object is
   * reused for every packet.
   */
  vp8(p: Buffer): Vp8Descriptor {
    const d = this.vp8Descriptor;
    if (this.vp8Read) return d;
    this.vp8Read = true;
    const off = this.payloadOffset;
    let end = p.length;
    if (p[0]! & 0x20 && end > 0) end -= p[end - 1]!;
    d.read(p, off, end);
    return d;
  }
}

/** Offset of the payload of an RTP packet (after CSRCs and header extension); -1 when truncated. */
export function rtpPayloadOffset(p: Buffer): number {
  if (p.length < RTP_HEADER_SIZE) return -1;
  const b0 = p[0]!;
  let off = RTP_HEADER_SIZE + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (p.length < off + 4) return -1;
    off += 4 + 4 * p.readUInt16BE(off + 2);
  }
  return off <= p.length ? off : -1;
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
