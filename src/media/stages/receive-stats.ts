/**
 * Counts what a received stream carries and notices when it starts flowing. Padding-only
 * probes pass (sequence numbers stay contiguous downstream) but do not count: a paused
 * camera keeps being probed on its SSRC.
 */
import type { RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

export class ReceiveStats implements RtpStage {
  packets = 0;
  bytes = 0;
  flowing = false;
  private lastPackets = 0;
  private lastPacketAt = 0;

  constructor(
    /** called once, at the first packet with a payload */
    private readonly onFlowing: () => void,
  ) {}

  onRtp(packet: Buffer, header: RtpHeader): boolean {
    if (header.paddingOnly) return true;
    this.packets++;
    this.bytes += packet.length;
    if (!this.flowing) {
      this.flowing = true;
      this.onFlowing();
    }
    return true;
  }

  /** True when the stream was flowing and has carried nothing for `limitMs` (checked once a second). */
  silentFor(now: number, limitMs: number): boolean {
    if (this.packets !== this.lastPackets) {
      this.lastPackets = this.packets;
      this.lastPacketAt = now;
      return false;
    }
    return this.flowing && now - this.lastPacketAt > limitMs;
  }
}
