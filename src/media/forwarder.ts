/**
 * One publisher track into one subscriber track: the per-packet hot path.
 * No allocation, no lookup: header rewrite in place, then a copy into the engine.
 */
import type { PacketSink } from '../bus/bus.js';
import type { Track } from './engine.js';
import { type RtpHeader, RtpRewriter } from './rtp.js';

export class Forwarder implements PacketSink {
  /** set once the subscriber has answered the offer carrying this track and the track is open */
  enabled = false;
  packets = 0;
  bytes = 0;
  sendErrors = 0;
  readonly rewriter: RtpRewriter;

  constructor(
    private readonly track: Track,
    ssrc: number,
    payloadType: number,
    tsStep: number,
    /** the rewriter of the forwarder this one replaces on the same outgoing SSRC */
    previous?: RtpRewriter,
  ) {
    this.rewriter = new RtpRewriter(ssrc, payloadType, tsStep);
    if (previous) this.rewriter.continueFrom(previous);
  }

  onPacket(packet: Buffer, header: RtpHeader): void {
    if (!this.enabled || !this.rewriter.rewrite(packet, header)) return;
    try {
      this.track.sendMessageBinary(packet);
      this.packets++;
      this.bytes += packet.length;
    } catch {
      // The track closed under us (peer leaving); its owner will detach this forwarder.
      this.sendErrors++;
    }
  }
}
