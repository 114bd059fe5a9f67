/**
 * Real-shaped media for the load tool, built and parsed on raw buffers: VP8 over RTP
 * (RFC 7741 payload descriptor, RFC 6386 frame tag and key-frame header) and Opus
 * (RFC 6716 TOC byte). Frames are well formed up to their compressed data, which is
 * filler; the send time (ms since the epoch, float64) travels right after the headers,
 * where every packet's payload starts, so one-way delay is measured without touching
 * the header fields a server may read.
 */

export { rtpPayloadOffset } from 'weever-rtp';

export const RTP_HEADER = 12;
/** X bit, then an extension byte with I (PictureID present), then a 15-bit PictureID (M bit set) */
export const VP8_DESCRIPTOR = 4;
/** 3-byte frame tag; key frames add the start code 9d 01 2a and 2+2 bytes of width/height */
export const VP8_TAG = 3;
export const VP8_KEY_HEADER = 7;
export const SEND_TIME_BYTES = 8;
export const OPUS_TOC = 1;
/** RTP clock rates: VP8 and Opus */
export const VIDEO_CLOCK = 90_000;
export const AUDIO_CLOCK = 48_000;

/** Opus TOC: config 31 (CELT, fullband, 20 ms), stereo, one frame per packet (code 0). */
export const OPUS_TOC_20MS_STEREO = (31 << 3) | (1 << 2) | 0;

/** Writes the fixed RTP header (version 2, no CSRC, no extension) at the start of `p`. */
export function writeRtpHeader(p: Buffer, marker: boolean, payloadType: number, seq: number, ts: number, ssrc: number): void {
  p[0] = 0x80;
  p[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
}

/** VP8 payload descriptor (RFC 7741 §4.2) with a 15-bit PictureID; `start` is the S bit (first packet of the frame). */
export function writeVp8Descriptor(p: Buffer, off: number, start: boolean, pictureId: number): void {
  p[off] = 0x80 | (start ? 0x10 : 0); // X, S; N=0; PID (partition index) 0
  p[off + 1] = 0x80; // I: PictureID present
  p[off + 2] = 0x80 | ((pictureId >> 8) & 0x7f); // M: 15-bit PictureID
  p[off + 3] = pictureId & 0xff;
}

/**
 * VP8 frame header at `off` (RFC 6386 §9.1): the 3-byte frame tag (bit 0 clear on a key
 * frame, version 0, show_frame, first partition size) and, on a key frame, the start code
 * and the dimensions. Returns the bytes written.
 */
export function writeVp8FrameHeader(
  p: Buffer,
  off: number,
  key: boolean,
  firstPartitionSize: number,
  width: number,
  height: number,
): number {
  const tag = ((firstPartitionSize & 0x7ffff) << 5) | (1 << 4) | (key ? 0 : 1);
  p[off] = tag & 0xff;
  p[off + 1] = (tag >> 8) & 0xff;
  p[off + 2] = (tag >> 16) & 0xff;
  if (!key) return VP8_TAG;
  p[off + 3] = 0x9d;
  p[off + 4] = 0x01;
  p[off + 5] = 0x2a;
  p.writeUInt16LE(width & 0x3fff, off + 6); // scale bits 0
  p.writeUInt16LE(height & 0x3fff, off + 8);
  return VP8_TAG + VP8_KEY_HEADER;
}

export interface Vp8Info {
  /** S bit with partition index 0: the packet starts a frame */
  start: boolean;
  /** the frame starting in this packet is a key frame (only meaningful when `start`) */
  key: boolean;
  pictureId: number;
  width: number;
  height: number;
  /** offset of what follows the descriptor and, on a frame's first packet, the frame header */
  dataOffset: number;
}

/** Parses the VP8 payload descriptor and, on a frame's first packet, its frame header. Null when malformed. */
export function parseVp8(p: Buffer, payload: number, out: Vp8Info): Vp8Info | null {
  let off = payload;
  if (off >= p.length) return null;
  const b0 = p[off++]!;
  out.start = (b0 & 0x10) !== 0 && (b0 & 0x07) === 0;
  out.pictureId = -1;
  out.key = false;
  out.width = 0;
  out.height = 0;
  if (b0 & 0x80) {
    if (off >= p.length) return null;
    const x = p[off++]!;
    if (x & 0x80) {
      if (off >= p.length) return null;
      const m = p[off]!;
      if (m & 0x80) {
        if (off + 1 >= p.length) return null;
        out.pictureId = ((m & 0x7f) << 8) | p[off + 1]!;
        off += 2;
      } else {
        out.pictureId = m & 0x7f;
        off += 1;
      }
    }
    if (x & 0x40) off++; // TL0PICIDX
    if (x & 0x30) off++; // TID/Y/KEYIDX
  }
  if (out.start) {
    if (off + VP8_TAG > p.length) return null;
    out.key = (p[off]! & 0x01) === 0;
    off += VP8_TAG;
    if (out.key) {
      if (off + VP8_KEY_HEADER > p.length || p[off] !== 0x9d || p[off + 1] !== 0x01 || p[off + 2] !== 0x2a) return null;
      out.width = p.readUInt16LE(off + 3) & 0x3fff;
      out.height = p.readUInt16LE(off + 5) & 0x3fff;
      off += VP8_KEY_HEADER;
    }
  }
  out.dataOffset = off;
  return off <= p.length ? out : null;
}

export function newVp8Info(): Vp8Info {
  return { start: false, key: false, pictureId: -1, width: 0, height: 0, dataOffset: 0 };
}

export interface OpusToc {
  config: number;
  stereo: boolean;
  /** frame count code: 0 = one frame, 1 = two equal, 2 = two different, 3 = arbitrary */
  code: number;
  /** duration of one frame in µs */
  frameMicros: number;
}

const SILK_CELT_MICROS = [10_000, 20_000, 40_000, 60_000];
const CELT_MICROS = [2_500, 5_000, 10_000, 20_000];

/** Parses an Opus TOC byte (RFC 6716 §3.1). */
export function parseOpusToc(toc: number): OpusToc {
  const config = toc >> 3;
  let frameMicros: number;
  if (config < 12)
    frameMicros = SILK_CELT_MICROS[config & 3]!; // SILK-only
  else if (config < 16)
    frameMicros = (config & 1) === 0 ? 10_000 : 20_000; // hybrid
  else frameMicros = CELT_MICROS[config & 3]!; // CELT-only
  return { config, stereo: (toc & 0x04) !== 0, code: toc & 0x03, frameMicros };
}

/** Wall-clock ms with sub-ms precision, comparable across worker threads of one process. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
