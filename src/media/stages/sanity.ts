/**
 * Packet sanity, first on a publisher's stream: RTP that breaks RFC 3550's layout (CSRC
 * count, header extension or padding running past the end), that is larger than any path
 * carries, or that carries a payload type this m-line did not negotiate is dropped —
 * counted by reason — before any other stage or subscriber sees it.
 */
import { RTP_HEADER_SIZE, type RtpHeader } from 'weever-rtp';

/** Larger packets do not cross an Ethernet path; browsers send at most ~1200 bytes. */
export const MAX_RTP_SIZE = 1500;

export interface SanityDrops {
  csrc: number;
  extension: number;
  padding: number;
  size: number;
  payloadType: number;
}

export class PacketSanity {
  readonly drops: SanityDrops = { csrc: 0, extension: 0, padding: 0, size: 0, payloadType: 0 };

  constructor(
    /** payload types this m-line negotiated (its codec, its RTX) */
    private readonly payloadTypes: readonly number[],
  ) {}

  /** True when `p` (an RTP packet whose header `h` has read) may go on. */
  check(p: Buffer, h: RtpHeader): boolean {
    const len = p.length;
    if (len > MAX_RTP_SIZE) return this.drop('size');
    const b0 = p[0]!;
    const off = h.payloadOffset;
    if (off < 0) return this.drop(RTP_HEADER_SIZE + 4 * (b0 & 0x0f) > len ? 'csrc' : 'extension');
    if (b0 & 0x20) {
      const pad = p[len - 1]!;
      if (pad === 0 || off + pad > len) return this.drop('padding');
    }
    const pt = h.payloadType;
    const pts = this.payloadTypes;
    for (let i = 0; i < pts.length; i++) if (pts[i] === pt) return true;
    return this.drop('payloadType');
  }

  private drop(reason: keyof SanityDrops): false {
    this.drops[reason]++;
    return false;
  }
}
