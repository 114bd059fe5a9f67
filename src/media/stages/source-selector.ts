/**
 * Which SSRC is a track's stream. A publisher that restarts its encoder or renegotiates
 * moves to a new SSRC and stops the old one; one stray packet on another SSRC, or a
 * second SSRC sent beside the first, must change nothing. So another SSRC takes over only
 * once the current one has been silent for `switchAfterMs`, and then a keyframe is asked
 * for so subscribers decode from the switch on. Decided once per track, for every
 * subscriber.
 */
import type { RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

export class SourceSelector implements RtpStage {
  /** the SSRC forwarded; 0 before the first packet */
  active = 0;
  private lastActiveAt = 0;
  /** packets of other SSRCs dropped */
  dropped = 0;
  /** changes of the active SSRC */
  switches = 0;
  private pinned = false;

  constructor(
    /** asked once per switch: the new source's stream needs a keyframe */
    private readonly onSwitch: () => void,
    private readonly switchAfterMs = 300,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** Only `ssrc` is the stream, for good (a simulcast layer): every other SSRC is dropped. */
  pin(ssrc: number): void {
    this.active = ssrc;
    this.pinned = true;
  }

  onRtp(_packet: Buffer, h: RtpHeader): boolean {
    if (this.pinned) {
      if (h.ssrc === this.active) return true;
      this.dropped++;
      return false;
    }
    const now = h.receivedAt || this.now();
    if (h.ssrc === this.active) {
      this.lastActiveAt = now;
      return true;
    }
    if (this.active !== 0 && now - this.lastActiveAt < this.switchAfterMs) {
      this.dropped++;
      return false;
    }
    const first = this.active === 0;
    this.active = h.ssrc;
    this.lastActiveAt = now;
    if (!first) {
      this.switches++;
      this.onSwitch();
    }
    return true;
  }
}
