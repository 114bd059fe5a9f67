/** RTP packets for tests (RFC 3550 §5.1): version 2, no padding, extension or CSRC. */

export interface RtpFields {
  marker?: boolean;
  /** payload type; 100 when not given */
  pt?: number;
  seq: number;
  ts: number;
  ssrc: number;
  /**
   * The payload: these bytes, or this many bytes where byte i of the packet is
   * `(seq + i) & 0xff` (a pattern that tells packets apart); 4 bytes de ad be ef when not given.
   */
  payload?: Buffer | number;
}

/** A 12-byte RTP header and the payload, as one new buffer. */
export function rtpPacket({ marker = false, pt = 100, seq, ts, ssrc, payload = Buffer.from([0xde, 0xad, 0xbe, 0xef]) }: RtpFields): Buffer {
  const size = 12 + (typeof payload === 'number' ? payload : payload.length);
  const p = Buffer.alloc(size);
  p[0] = 0x80;
  p[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
  if (typeof payload === 'number') for (let i = 12; i < size; i++) p[i] = (seq + i) & 0xff;
  else payload.copy(p, 12);
  return p;
}

/** The header fields of an RTP packet. */
export function rtpFields(p: Buffer): Required<Omit<RtpFields, 'payload'>> {
  return {
    marker: (p[1]! & 0x80) !== 0,
    pt: p[1]! & 0x7f,
    seq: p.readUInt16BE(2),
    ts: p.readUInt32BE(4),
    ssrc: p.readUInt32BE(8),
  };
}
