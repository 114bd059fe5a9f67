/**
 * The picture size a video stream is sent at, read from its key frames (VP8: the key
 * frame header, RFC 6386 §9.1), for adaptive stream: a subscriber showing a video at
 * 320×180 gets the smallest simulcast layer at least that size (docs/protocol.md,
 * "Choosing what to receive"). Looks only at the first packet of a key frame; never drops.
 * H.264 sizes would need the SPS parsed: not read (the layer is then chosen by rate alone).
 */
import { type RtpHeader, vp8KeyframeSize } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

export class FrameSize implements RtpStage {
  width = 0;
  height = 0;

  constructor(
    private readonly codec: 'vp8' | 'h264',
    /** the size changed (the first key frame, or the encoder scaled): rare, off the per-packet path */
    private readonly onChange: () => void,
  ) {}

  onRtp(p: Buffer, h: RtpHeader): boolean {
    if (this.codec !== 'vp8' || h.paddingOnly) return true;
    const d = h.vp8(p);
    if (!d.keyframe) return true;
    let end = p.length;
    if (p[0]! & 0x20) end -= p[end - 1]!;
    const size = vp8KeyframeSize(p, h.payloadOffset + d.size, end);
    if (size === 0) return true;
    const width = size >>> 16;
    const height = size & 0xffff;
    if (width !== this.width || height !== this.height) {
      this.width = width;
      this.height = height;
      this.onChange();
    }
    return true;
  }
}
