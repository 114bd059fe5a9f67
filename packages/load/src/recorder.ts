/**
 * What a load subscriber measures, per received track (SSRC): packets, loss from sequence
 * numbers, jitter, keyframes, and one-way delay from the send time in the payload (into a
 * histogram per kind shared by the thread). One packet costs a few field reads and adds.
 */

import { writeReceiverReport } from 'weever-rtp';
import { AUDIO_CLOCK, newVp8Info, nowMs, OPUS_TOC, parseVp8, rtpPayloadOffset, SEND_TIME_BYTES, VIDEO_CLOCK } from './media.js';
import { type DelayHistogram, Jitter, SequenceCounter } from './stats.js';
import type { Kind } from './target.js';

/** Delays outside this range are not ours (a packet without a send time): ignored. */
const MAX_PLAUSIBLE_DELAY_MS = 60_000;

export class TrackStats {
  packets = 0;
  bytes = 0;
  keyframes = 0;
  /** packets with the RTP padding bit (a server's bandwidth probe): in `packets` and `bytes` too */
  paddingPackets = 0;
  /** dimensions in the last keyframe received (a simulcast layer's size tells which layer arrives); 0 before one */
  keyWidth = 0;
  keyHeight = 0;
  readonly seq = new SequenceCounter();
  readonly jitter: Jitter;
  /** counters at the last receiver report, for its fraction lost */
  reportedExpected = 0;
  reportedReceived = 0;

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
    if (p[0]! & 0x20) t.paddingPackets++;
    t.jitter.add(now, p.readUInt32BE(4));
    const payload = rtpPayloadOffset(p);
    if (payload < 0) return;
    let timeAt: number;
    if (kind === 'video') {
      const v = parseVp8(p, payload, this.vp8);
      if (v === null) return;
      if (v.start && v.key) {
        t.keyframes++;
        t.keyWidth = v.width;
        t.keyHeight = v.height;
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

/** An RTCP receiver report length with one report block. */
export const RR_BYTES = 32;

/**
 * Writes a receiver report (RFC 3550 §6.4.2) from `senderSsrc` about `t` into `out` (32
 * bytes) as a browser sends one: fraction lost since the previous report, cumulative lost,
 * extended highest sequence number, interarrival jitter; no SR seen (LSR/DLSR 0). Moves
 * the track's "since the previous report" counters on.
 */
export function writeReceiverReportOf(t: TrackStats, out: Buffer, senderSsrc: number): number {
  const expected = t.seq.expected;
  const received = t.seq.received;
  const expectedInterval = expected - t.reportedExpected;
  const lostInterval = expectedInterval - (received - t.reportedReceived);
  t.reportedExpected = expected;
  t.reportedReceived = received;
  const fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
  return writeReceiverReport(out, 0, senderSsrc, {
    ssrc: t.ssrc,
    fraction,
    lost: t.seq.lost,
    extHighestSeq: t.seq.extHighest,
    jitter: Math.round(t.jitter.jitter),
    lsr: 0,
    dlsr: 0,
  });
}
