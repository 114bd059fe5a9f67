/**
 * One stream received from a publisher (LiveKit's "up track", mediasoup's Producer): the
 * engine's m-line, its RTP stages, and its subject on the bus. Feedback towards the
 * publisher (keyframe requests, REMB) goes out through the engine's receiving session.
 *
 *   engine onMessage ─▶ RtpHeader.read ─▶ [ReceiveStats] ─▶ bus TrackSender ─▶ DownTracks
 */

import type { TrackInfo } from 'weever-protocol';
import { RtpHeader } from 'weever-rtp';
import type { TrackSender, Unsubscribe } from '../bus/bus.js';
import { RtpChain } from './chain.js';
import type { Track } from './engine.js';
import { KeyframeThrottle } from './keyframes.js';
import { ReceiveStats } from './stages/receive-stats.js';

/** Minimum spacing of keyframe requests sent to one publisher track. */
const KEYFRAME_MIN_INTERVAL_MS = 500;

export interface UpTrackOptions {
  info: TrackInfo;
  mid: string;
  subject: string;
  track: Track;
  sender: TrackSender;
  /** called once, when the first packet with a payload arrives */
  onFlowing: (t: UpTrack) => void;
  /** subscribes to keyframe requests for `subject` from any instance */
  onKeyframeRequest: (subject: string, handler: () => void) => Unsubscribe;
}

export class UpTrack {
  readonly info: TrackInfo;
  readonly mid: string;
  readonly subject: string;
  ended = false;
  readonly stats: ReceiveStats;
  readonly keyframes: KeyframeThrottle | undefined;
  private readonly chain: RtpChain;
  /** original header of the packet being fanned out; reused for every packet */
  private readonly header = new RtpHeader();
  private readonly track: Track;
  private readonly sender: TrackSender;
  private unsubscribeKeyframes: Unsubscribe | undefined;

  constructor(o: UpTrackOptions) {
    this.info = o.info;
    this.mid = o.mid;
    this.subject = o.subject;
    this.track = o.track;
    this.sender = o.sender;
    this.stats = new ReceiveStats(() => o.onFlowing(this));
    this.chain = new RtpChain([this.stats]);
    if (o.info.kind === 'video') {
      const keyframes = new KeyframeThrottle(() => this.sendKeyframeRequest(), KEYFRAME_MIN_INTERVAL_MS);
      this.keyframes = keyframes;
      this.unsubscribeKeyframes = o.onKeyframeRequest(o.subject, () => keyframes.request());
    }
  }

  get packets(): number {
    return this.stats.packets;
  }

  get flowing(): boolean {
    return this.stats.flowing;
  }

  /** The per-packet path: RTCP was consumed by the receiving session, so this is RTP. */
  onPacket(packet: Buffer): void {
    if (this.ended || !this.header.read(packet)) return;
    if (this.chain.onRtp(packet, this.header)) this.sender.send(packet, this.header);
  }

  private sendKeyframeRequest(): void {
    // libdatachannel aborts the process on requestKeyframe() of a track that is not open.
    if (!isOpen(this.track)) return; // the first keyframe comes anyway
    try {
      this.track.requestKeyframe();
    } catch {
      // closed meanwhile
    }
  }

  /** REMB towards the publisher: lets its encoder ramp up to `bps`. */
  requestBitrate(bps: number): void {
    try {
      this.track.requestBitrate(bps);
    } catch {
      // track closed
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.keyframes?.close();
    this.unsubscribeKeyframes?.();
    this.sender.close();
  }
}

export function isOpen(track: Track): boolean {
  try {
    return track.isOpen();
  } catch {
    return false;
  }
}
