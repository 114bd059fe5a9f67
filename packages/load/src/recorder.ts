/**
 * What a load subscriber measures, per received track (SSRC): packets, loss from sequence
 * numbers, jitter, keyframes, and one-way delay from the send time in the payload (into a
 * histogram per kind shared by the thread). One packet costs a few field reads and adds.
 */
import { AUDIO_CLOCK, newVp8Info, nowMs, OPUS_TOC, parseVp8, rtpPayloadOffset, SEND_TIME_BYTES, VIDEO_CLOCK } from './media.js';
import { type DelayHistogram, Jitter, SequenceCounter } from './stats.js';
import type { Kind } from './target.js';

/** Delays outside this range are not ours (a packet without a send time): ignored. */
const MAX_PLAUSIBLE_DELAY_MS = 60_000;

export class TrackStats {
  packets = 0;
  bytes = 0;
  keyframes = 0;
  readonly seq = new SequenceCounter();
  readonly jitter: Jitter;

  constructor(
    readonly kind: Kind,
    readonly ssrc: number,
  ) {
    this.jitter = new Jitter(kind === 'video' ? VIDEO_CLOCK : AUDIO_CLOCK);
  }
}

export interface DelayHistograms {
  audio: DelayHistogram;
  video: DelayHistogram;
}

export class SubscriberRecorder {
  readonly tracks: TrackStats[] = [];
  /** when the subscriber started joining, its first RTP packet, its first keyframe (ms, nowMs clock) */
  firstPacketAt = 0;
  firstKeyframeAt = 0;
  private last: TrackStats | undefined;
  private readonly vp8 = newVp8Info();

  constructor(
    readonly id: string,
    readonly joinStartedAt: number,
    private readonly delays: DelayHistograms,
  ) {}

  /** The per-packet entry: `p` is one RTP packet of a track of `kind`. */
  onRtp(kind: Kind, p: Buffer): void {
    const now = nowMs();
    const ssrc = p.readUInt32BE(8);
    let t = this.last;
    if (t === undefined || t.ssrc !== ssrc) t = this.track(kind, ssrc);
    if (this.firstPacketAt === 0) this.firstPacketAt = now;
    if (!t.seq.add(p.readUInt16BE(2))) return; // duplicate
    t.packets++;
    t.bytes += p.length;
    t.jitter.add(now, p.readUInt32BE(4));
    const payload = rtpPayloadOffset(p);
    if (payload < 0) return;
    let timeAt: number;
    if (kind === 'video') {
      const v = parseVp8(p, payload, this.vp8);
      if (v === null) return;
      if (v.start && v.key) {
        t.keyframes++;
        if (this.firstKeyframeAt === 0) this.firstKeyframeAt = now;
      }
      timeAt = v.dataOffset;
    } else timeAt = payload + OPUS_TOC;
    if (timeAt + SEND_TIME_BYTES > p.length) return;
    const delay = now - p.readDoubleBE(timeAt);
    if (delay >= 0 && delay < MAX_PLAUSIBLE_DELAY_MS) this.delays[kind].add(delay);
  }

  private track(kind: Kind, ssrc: number): TrackStats {
    let t: TrackStats | undefined;
    for (const x of this.tracks) if (x.ssrc === ssrc) t = x;
    if (!t) {
      t = new TrackStats(kind, ssrc);
      this.tracks.push(t);
    }
    this.last = t;
    return t;
  }
}
