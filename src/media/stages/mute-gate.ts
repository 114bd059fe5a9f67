/**
 * Mute at the source (docs/protocol.md, "Mute that everyone sees"): the last stage of a
 * publisher's receive path, before the bus. While its track is muted nothing goes on, so no
 * subscriber on any instance gets a packet (the stages before it still count, report and
 * repair the uplink). On unmute, video waits for the first packet of a keyframe, asking
 * for one on every packet it drops until then (the caller throttles); audio resumes at once.
 *
 * The packets a mute held back leave no gap: from the reopening on, sequence numbers are
 * moved down by the count skipped (in the packet and its header), so a subscriber sees
 * one continuous stream and asks for nothing it never gets. Packets from before the
 * reopening that arrive after it (reordered) are dropped.
 */
import { isH264Keyframe, type RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

export type GateCodec = 'vp8' | 'h264' | 'audio';

const OPEN = 0;
const MUTED = 1;
const WAITING = 2;

export class MuteGate implements RtpStage {
  private state = OPEN;
  /** packets not let through (muted, or waiting for the keyframe) */
  dropped = 0;
  /** input sequence number of the last packet let through; −1 before the first */
  private lastIn = -1;
  /** subtracted from every input sequence number let through (mod 2^16) */
  private shift = 0;
  /** input sequence number the stream reopened at */
  private openedAt = -1;

  constructor(
    private readonly codec: GateCodec,
    private readonly requestKeyframe: () => void,
  ) {}

  get muted(): boolean {
    return this.state === MUTED;
  }

  /** Between packets. */
  setMuted(muted: boolean): void {
    if (muted) this.state = MUTED;
    else if (this.state === MUTED) {
      // audio reopens at its next packet, video at its next keyframe
      this.state = WAITING;
      if (this.codec !== 'audio') this.requestKeyframe();
    }
  }

  onRtp(p: Buffer, h: RtpHeader): boolean {
    if (this.state === OPEN) {
      if (this.openedAt >= 0 && ((h.seq - this.openedAt) & 0xffff) >= 0x8000) {
        this.dropped++; // from before the reopening
        return false;
      }
      return this.pass(p, h);
    }
    if (this.state === MUTED || (this.codec !== 'audio' && (h.paddingOnly || !this.keyframeStart(p, h)))) {
      if (this.state === WAITING) this.requestKeyframe();
      this.dropped++;
      return false;
    }
    this.state = OPEN;
    // what was skipped since the last packet let through leaves no gap
    if (this.lastIn >= 0) this.shift = (this.shift + ((h.seq - this.lastIn - 1) & 0xffff)) & 0xffff;
    this.openedAt = h.seq;
    return this.pass(p, h);
  }

  private pass(p: Buffer, h: RtpHeader): boolean {
    this.lastIn = h.seq;
    if (this.shift !== 0) {
      h.seq = (h.seq - this.shift) & 0xffff;
      p.writeUInt16BE(h.seq, 2);
    }
    return true;
  }

  private keyframeStart(p: Buffer, h: RtpHeader): boolean {
    return this.codec !== 'audio' && keyframeStart(this.codec, p, h);
  }
}

/** Whether video packet `p` starts a keyframe (VP8: its payload descriptor; H.264: an IDR or SPS in it). */
export function keyframeStart(codec: 'vp8' | 'h264', p: Buffer, h: RtpHeader): boolean {
  if (codec === 'vp8') return h.vp8(p).keyframe;
  let end = p.length;
  if (p[0]! & 0x20) end -= p[end - 1]!;
  return isH264Keyframe(p, h.payloadOffset, end);
}
