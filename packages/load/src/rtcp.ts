/**
 * The few RTP/RTCP reads the load clients need: where an RTP payload starts, whether a
 * packet is RTCP, whether RTCP asks for a keyframe, a fresh SSRC. The server has its own
 * (src/rtp/); this package does not depend on the server's sources.
 */

const RTP_HEADER = 12;
const PSFB = 206;
const FMT_PLI = 1;
const FMT_FIR = 4;

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

/** True when a (compound) RTCP packet holds a PLI or FIR for `mediaSsrc` (RFC 4585 §6.3.1, RFC 5104 §4.3.1). */
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
