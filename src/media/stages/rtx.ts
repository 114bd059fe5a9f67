/**
 * RTX (RFC 4588) from a publisher: a retransmission on the RTX SSRC with its own payload
 * type and sequence numbers, the original sequence number (OSN) first in its payload.
 * Unwrapped in place into the packet it repairs — original sequence number, payload type
 * and SSRC — so every later stage and every subscriber sees a plain (late) packet.
 */
import type { RtpHeader } from 'weever-rtp';

export class RtxUnwrapper {
  /** RTX packets turned back into the packets they repair */
  unwrapped = 0;
  /** padding-only RTX (bandwidth probes), or RTX before any packet of the primary stream */
  dropped = 0;

  constructor(
    /** the RTX payload type */
    readonly payloadType: number,
    /** payload type of the stream it repairs (apt) */
    private readonly apt: number,
  ) {}

  /**
   * Unwraps `p` (whose header is in `h`, re-read on success) for the primary stream
   * `primarySsrc`. Returns the repaired packet — a view of the same memory, 2 bytes shorter
   * — or undefined when there is nothing to forward.
   */
  unwrap(p: Buffer, h: RtpHeader, primarySsrc: number): Buffer | undefined {
    const off = h.payloadOffset;
    const padding = p[0]! & 0x20 ? p[p.length - 1]! : 0;
    if (off < 0 || p.length - off - padding < 2 || primarySsrc === 0) {
      this.dropped++;
      return undefined;
    }
    const osn = p.readUInt16BE(off);
    // The header moves 2 bytes on, over the OSN: no copy of the payload.
    p.copy(p, 2, 0, off);
    const out = p.subarray(2);
    out[1] = (out[1]! & 0x80) | this.apt;
    out.writeUInt16BE(osn, 2);
    out.writeUInt32BE(primarySsrc >>> 0, 8);
    h.read(out);
    this.unwrapped++;
    return out;
  }
}
