/**
 * Adaptive stream for a video of one stream (no simulcast layers to choose from: a screen
 * share, a publisher without simulcast), one per subscriber's DownTrack, before its
 * rewriter (docs/protocol.md, "Adaptive stream"). While the app does not show it
 * (`VIDEO_SIZE … 0x0`) nothing of it goes to this subscriber; shown again, it resumes at
 * the source's next keyframe, asked for on every packet dropped meanwhile (the caller
 * throttles), as LiveKit pauses a hidden track. The rewriter then continues the sequence
 * numbers from the last packet sent (no gap for the receiver to NACK) and keeps the
 * source's own timestamps, so the receiver sees the pause as the time it lasted.
 */
import type { RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';
import { keyframeStart } from './mute-gate.js';
import type { RtpRewriter } from './rewriter.js';

const OPEN = 0;
const HIDDEN = 1;
const WAITING = 2;

export class ViewGate implements RtpStage {
  private state = OPEN;
  /** packets not let through (hidden, or waiting for the keyframe) */
  dropped = 0;

  constructor(
    private readonly rewriter: RtpRewriter,
    private readonly codec: 'vp8' | 'h264',
    private readonly requestKeyframe: () => void,
  ) {}

  /** Not shown: nothing goes through (until shown and a keyframe arrives). */
  get hidden(): boolean {
    return this.state !== OPEN;
  }

  /** Between packets. */
  setHidden(hidden: boolean): void {
    if (hidden) {
      this.state = HIDDEN;
    } else if (this.state === HIDDEN) {
      this.state = WAITING;
      this.requestKeyframe();
    }
  }

  onRtp(p: Buffer, h: RtpHeader): boolean {
    if (this.state === OPEN) return true;
    if (this.state === HIDDEN || h.paddingOnly || !keyframeStart(this.codec, p, h)) {
      if (this.state === WAITING) this.requestKeyframe();
      this.dropped++;
      return false;
    }
    this.state = OPEN;
    const rw = this.rewriter;
    // the same source: its own clock goes on; another one (it changed while hidden): the rewriter's step
    if (rw.hasStarted) rw.switchTo(h, h.ssrc === rw.source ? rw.timestampOffset : undefined);
    return true;
  }
}
