/**
 * The VP8 payload descriptor (RFC 7741 §4.2) and the start of the VP8 payload header
 * (§4.3): what a layer selector needs to switch spatial layers at a keyframe, drop
 * temporal layers and keep the picture id and TL0PICIDX continuous for one subscriber.
 *
 *        0 1 2 3 4 5 6 7
 *       +-+-+-+-+-+-+-+-+
 *       |X|R|N|S|R| PID | (required)
 *       +-+-+-+-+-+-+-+-+
 *   X:  |I|L|T|K| RSV   | (optional)
 *       +-+-+-+-+-+-+-+-+
 *   I:  |M| PictureID   | (optional; 15 bits when M is set)
 *       +-+-+-+-+-+-+-+-+
 *       |   PictureID   |
 *       +-+-+-+-+-+-+-+-+
 *   L:  |   TL0PICIDX   | (optional)
 *       +-+-+-+-+-+-+-+-+
 *   T/K:|TID|Y| KEYIDX  | (optional)
 *       +-+-+-+-+-+-+-+-+
 *
 * Read ONCE per packet (`RtpHeader.vp8`), before any subscriber rewrites the picture id or
 * TL0PICIDX in the shared buffer, so every subscriber's rewrite starts from the original
 * values kept here. The writers rewrite a field in place in its own width.
 */

export class Vp8Descriptor {
  /** the descriptor was read: false when the payload is empty (padding only) or truncated */
  valid = false;
  /** X: extended control bits present */
  x = false;
  /** N: non-reference frame */
  n = false;
  /** S: start of a VP8 partition */
  s = false;
  /** PID: partition index */
  pid = 0;
  /** I: picture id present */
  i = false;
  /** L: TL0PICIDX present */
  l = false;
  /** T: TID (and Y) present */
  t = false;
  /** K: KEYIDX present */
  k = false;
  /** original picture id; -1 when absent */
  pictureId = -1;
  /** width of the picture id field: 7 or 15 bits (M bit); 0 when absent */
  pictureIdBits = 0;
  /** offset in the packet of the picture id field's first byte */
  pictureIdAt = 0;
  /** original TL0PICIDX; -1 when absent */
  tl0PicIdx = -1;
  /** offset in the packet of the TL0PICIDX byte */
  tl0PicIdxAt = 0;
  /** temporal layer index; 0 when T is clear (the packet counts as TL0) */
  tid = 0;
  /** Y: layer sync — the frame depends only on TL0 frames */
  y = false;
  /** KEYIDX; -1 when absent */
  keyIdx = -1;
  /** bytes of the descriptor: the VP8 payload starts at the RTP payload offset + size */
  size = 0;
  /** first packet of a frame: S set and partition 0 */
  startOfFrame = false;
  /** first packet of a key frame: start of frame and the payload header's P bit clear */
  keyframe = false;

  /**
   * Reads the descriptor of the RTP payload `p[off, end)` (`end` before any RTP padding).
   * False (and `valid` false) when there is no payload or the descriptor runs past it.
   */
  read(p: Buffer, off: number, end: number): boolean {
    this.valid = false;
    this.x = this.n = this.s = this.i = this.l = this.t = this.k = this.y = false;
    this.startOfFrame = this.keyframe = false;
    this.pid = this.tid = this.size = this.pictureIdBits = 0;
    this.pictureId = this.tl0PicIdx = this.keyIdx = -1;
    if (off < 0 || off >= end || end > p.length) return false;
    let i = off;
    const b0 = p[i++]!;
    this.x = (b0 & 0x80) !== 0;
    this.n = (b0 & 0x20) !== 0;
    this.s = (b0 & 0x10) !== 0;
    this.pid = b0 & 0x07;
    if (this.x) {
      if (i >= end) return false;
      const b1 = p[i++]!;
      this.i = (b1 & 0x80) !== 0;
      this.l = (b1 & 0x40) !== 0;
      this.t = (b1 & 0x20) !== 0;
      this.k = (b1 & 0x10) !== 0;
      if (this.i) {
        if (i >= end) return false;
        this.pictureIdAt = i;
        const m = p[i]!;
        if (m & 0x80) {
          if (i + 1 >= end) return false;
          this.pictureId = ((m & 0x7f) << 8) | p[i + 1]!;
          this.pictureIdBits = 15;
          i += 2;
        } else {
          this.pictureId = m;
          this.pictureIdBits = 7;
          i += 1;
        }
      }
      if (this.l) {
        if (i >= end) return false;
        this.tl0PicIdxAt = i;
        this.tl0PicIdx = p[i++]!;
      }
      if (this.t || this.k) {
        if (i >= end) return false;
        const b = p[i++]!;
        if (this.t) {
          this.tid = b >> 6;
          this.y = (b & 0x20) !== 0;
        }
        if (this.k) this.keyIdx = b & 0x1f;
      }
    }
    this.size = i - off;
    this.valid = true;
    this.startOfFrame = this.s && this.pid === 0;
    // The VP8 payload header's first byte: |Size0|H| VER |P|, P = 0 on a key frame.
    this.keyframe = this.startOfFrame && i < end && (p[i]! & 0x01) === 0;
    return true;
  }

  /** Writes `value` (taken modulo the field's width) as this packet's picture id, in place; no-op when absent. */
  writePictureId(p: Buffer, value: number): void {
    const at = this.pictureIdAt;
    if (this.pictureIdBits === 15) {
      p[at] = 0x80 | ((value >> 8) & 0x7f);
      p[at + 1] = value & 0xff;
    } else if (this.pictureIdBits === 7) p[at] = value & 0x7f;
  }

  /** Writes `value` (modulo 256) as this packet's TL0PICIDX, in place; no-op when absent. */
  writeTl0PicIdx(p: Buffer, value: number): void {
    if (this.tl0PicIdx >= 0) p[this.tl0PicIdxAt] = value & 0xff;
  }

  /** Mask of the picture id field: 0x7f or 0x7fff; 0 when absent. */
  get pictureIdMask(): number {
    return this.pictureIdBits === 15 ? 0x7fff : this.pictureIdBits === 7 ? 0x7f : 0;
  }
}

/**
 * True when the H264 RTP payload `p[off, end)` (RFC 6184) starts a key frame: a single NAL
 * unit that is an IDR slice (type 5) or an SPS (7, sent first by encoders before the IDR),
 * a STAP-A holding one of them, or the first fragment of an FU-A of an IDR slice.
 */
export function isH264Keyframe(p: Buffer, off: number, end: number): boolean {
  if (off < 0 || off >= end || end > p.length) return false;
  const type = p[off]! & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 24) {
    // STAP-A: 16-bit size, then the NAL unit, repeated
    let i = off + 1;
    while (i + 2 < end) {
      const size = p.readUInt16BE(i);
      const nal = p[i + 2]! & 0x1f;
      if (nal === 5 || nal === 7) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 28) {
    // FU-A: indicator, header |S|E|R|Type|
    if (off + 1 >= end) return false;
    const fu = p[off + 1]!;
    return (fu & 0x80) !== 0 && (fu & 0x1f) === 5;
  }
  return false;
}

/**
 * The frame size of a VP8 key frame (RFC 6386 §9.1, §19.1) from the first packet of the
 * frame, `p[off, end)` being the VP8 payload after the descriptor: a 3-byte frame tag, the
 * start code 9d 01 2a, then 16-bit little-endian width and height whose top 2 bits are a
 * scaling hint. Returns `width << 16 | height` (no allocation), or 0 when the bytes are not
 * a key frame's header.
 */
export function vp8KeyframeSize(p: Buffer, off: number, end: number): number {
  if (off < 0 || off + 10 > end || end > p.length) return 0;
  if ((p[off]! & 0x01) !== 0 || p[off + 3] !== 0x9d || p[off + 4] !== 0x01 || p[off + 5] !== 0x2a) return 0;
  const width = (p[off + 6]! | (p[off + 7]! << 8)) & 0x3fff;
  const height = (p[off + 8]! | (p[off + 9]! << 8)) & 0x3fff;
  return width === 0 || height === 0 ? 0 : ((width << 16) | height) >>> 0;
}
