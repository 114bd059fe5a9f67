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

/** A VP8 payload (RFC 7741): the descriptor, then a 3-byte payload header and `data` bytes. */
export interface Vp8Fields {
  /** S: start of a partition; true when not given */
  s?: boolean;
  pid?: number;
  n?: boolean;
  pictureId?: number;
  /** width of the picture id field; 15 when not given */
  pictureIdBits?: 7 | 15;
  tl0?: number;
  tid?: number;
  y?: boolean;
  keyIdx?: number;
  /** key frame: the payload header's P bit clear (meaningful at the start of a frame) */
  key?: boolean;
  /** payload bytes after the payload header; 4 when not given */
  data?: number;
}

export function vp8Payload(f: Vp8Fields): Buffer {
  const { s = true, pid = 0, n = false, pictureId, pictureIdBits = 15, tl0, tid, y = false, keyIdx, key = false, data = 4 } = f;
  const bytes: number[] = [];
  const x = pictureId !== undefined || tl0 !== undefined || tid !== undefined || keyIdx !== undefined;
  bytes.push((x ? 0x80 : 0) | (n ? 0x20 : 0) | (s ? 0x10 : 0) | (pid & 7));
  if (x) {
    bytes.push(
      (pictureId !== undefined ? 0x80 : 0) |
        (tl0 !== undefined ? 0x40 : 0) |
        (tid !== undefined ? 0x20 : 0) |
        (keyIdx !== undefined ? 0x10 : 0),
    );
    if (pictureId !== undefined) {
      if (pictureIdBits === 15) bytes.push(0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff);
      else bytes.push(pictureId & 0x7f);
    }
    if (tl0 !== undefined) bytes.push(tl0 & 0xff);
    if (tid !== undefined || keyIdx !== undefined) bytes.push(((tid ?? 0) << 6) | (y ? 0x20 : 0) | ((keyIdx ?? 0) & 0x1f));
  }
  // payload header: |Size0|H|VER|P|, show_frame set, P = 0 on a key frame
  bytes.push(key ? 0x10 : 0x11, 0x02, 0x00);
  for (let i = 0; i < data; i++) bytes.push((0x40 + i) & 0xff);
  return Buffer.from(bytes);
}
