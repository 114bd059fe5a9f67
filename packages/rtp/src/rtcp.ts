/** RTCP (RFC 3550, RFC 4585) packet types and readers over compound packets. */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;
/** transport-layer feedback (generic NACK is FMT 1) */
export const RTCP_RTPFB = 205;
/** payload-specific feedback */
export const RTCP_PSFB = 206;
export const PSFB_PLI = 1;
export const PSFB_FIR = 4;
export const PSFB_REMB = 15;
export const RTPFB_NACK = 1;

/** True when the (compound) RTCP packet holds a PLI or FIR for `mediaSsrc`. */
export function hasKeyframeRequest(p: Buffer, mediaSsrc: number): boolean {
  let off = 0;
  while (off + 12 <= p.length) {
    const fmt = p[off]! & 0x1f;
    const pt = p[off + 1]!;
    const len = (p.readUInt16BE(off + 2) + 1) * 4;
    if (off + len > p.length) return false;
    if (pt === RTCP_PSFB) {
      if (fmt === PSFB_PLI && p.readUInt32BE(off + 8) === mediaSsrc) return true;
      if (fmt === PSFB_FIR) {
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
