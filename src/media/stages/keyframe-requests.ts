/**
 * RTCP reader of a subscriber's stream: a PLI or FIR for our SSRC becomes a (throttled)
 * keyframe request towards the publisher track.
 */
import { hasKeyframeRequest } from 'weever-rtp';
import type { RtcpReader } from '../chain.js';
import type { KeyframeThrottle } from '../keyframes.js';

export class KeyframeRequestReader implements RtcpReader {
  constructor(
    private readonly ssrc: number,
    private readonly throttle: KeyframeThrottle,
  ) {}

  onRtcp(packet: Buffer): void {
    if (hasKeyframeRequest(packet, this.ssrc)) this.throttle.request();
  }
}
