/**
 * One stream received from a publisher (LiveKit's "up track", mediasoup's Producer): the
 * engine's m-line, its RTP stages, its subject on the bus, and all RTCP with the publisher.
 * The engine track has no media handler, so RTCP reaches us raw and ours goes out as is:
 * receiver reports (with REMB on video), NACKs for what the uplink lost, PLIs.
 *
 *   engine onMessage ─▶ RtpHeader.read ─┬▶ RTP  PacketSanity, RTX unwrap,
 *                                       │       [SourceSelector, ReceiveStats, Reception, NackGenerator] ─▶ bus ─▶ DownTracks
 *                                       └▶ RTCP SR of our source ─▶ Reception (LSR) and, as an SR, on the bus
 */
import type { TrackInfo } from 'weever-protocol';
import {
  newReportBlock,
  newSenderInfo,
  ntpMiddle,
  RtpHeader,
  readSenderReport,
  writeNack,
  writePli,
  writeReceiverReport,
  writeRemb,
  writeSenderReport,
} from 'weever-rtp';
import type { TrackSender, Unsubscribe } from '../bus/bus.js';
import { RtpChain, type RtpStage } from './chain.js';
import type { Track } from './engine.js';
import { KeyframeThrottle } from './keyframes.js';
import { NackGenerator } from './stages/nack-generator.js';
import { ReceiveStats } from './stages/receive-stats.js';
import { Reception } from './stages/reception.js';
import { RtxUnwrapper } from './stages/rtx.js';
import { PacketSanity } from './stages/sanity.js';
import { SourceSelector } from './stages/source-selector.js';

/** Minimum spacing of keyframe requests sent to one publisher track. */
const KEYFRAME_MIN_INTERVAL_MS = 500;
const CLOCK_RATE = { audio: 48000, video: 90000 } as const;

export interface UpTrackOptions {
  info: TrackInfo;
  mid: string;
  subject: string;
  track: Track;
  sender: TrackSender;
  /** sender SSRC of the RTCP we send the publisher */
  localSsrc: number;
  /** the payload type this m-line negotiated; other RTP is dropped */
  payloadType: number;
  /** the RTX payload type of this m-line and the payload type it repairs, when negotiated */
  rtx?: { payloadType: number; apt: number };
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
  readonly reception: Reception;
  /** video only: NACKs for what the uplink lost */
  readonly nack: NackGenerator | undefined;
  readonly keyframes: KeyframeThrottle | undefined;
  /** RTX from the publisher, when negotiated */
  readonly rtx: RtxUnwrapper | undefined;
  /** malformed RTP dropped, by reason */
  readonly sanity: PacketSanity;
  /** which SSRC is the stream */
  readonly source: SourceSelector;
  /** sender reports of the publisher forwarded to subscribers */
  senderReports = 0;
  /** keyframe requests (PLI) sent to the publisher */
  pliSent = 0;
  private readonly chain: RtpChain;
  /** original header of the packet being fanned out; reused for every packet */
  private readonly header = new RtpHeader();
  private readonly track: Track;
  private readonly sender: TrackSender;
  private readonly localSsrc: number;
  private unsubscribeKeyframes: Unsubscribe | undefined;
  /** REMB we send with each receiver report (video), 0 for none */
  private rembBps = 0;
  // RTCP is built in buffers of our own, reused: the engine copies what it sends.
  private readonly rtcpOut = Buffer.alloc(12 + 4 * 512);
  private readonly block = newReportBlock();
  private readonly sr = newSenderInfo();
  private readonly srOut = Buffer.alloc(28);
  private readonly srHeader = new RtpHeader();

  constructor(o: UpTrackOptions) {
    this.info = o.info;
    this.mid = o.mid;
    this.subject = o.subject;
    this.track = o.track;
    this.sender = o.sender;
    this.localSsrc = o.localSsrc;
    this.stats = new ReceiveStats(() => o.onFlowing(this));
    this.reception = new Reception(CLOCK_RATE[o.info.kind]);
    if (o.rtx) this.rtx = new RtxUnwrapper(o.rtx.payloadType, o.rtx.apt);
    this.sanity = new PacketSanity(o.rtx ? [o.payloadType, o.rtx.payloadType] : [o.payloadType]);
    this.source = new SourceSelector(() => this.keyframes?.request());
    const stages: RtpStage[] = [this.source, this.stats, this.reception];
    if (o.info.kind === 'video') {
      const keyframes = new KeyframeThrottle(() => this.sendPli(), KEYFRAME_MIN_INTERVAL_MS);
      this.keyframes = keyframes;
      this.unsubscribeKeyframes = o.onKeyframeRequest(o.subject, () => keyframes.request());
      // Loss is repaired by NACK first; a keyframe only when that failed.
      this.nack = new NackGenerator({ send: (seqs, count) => this.sendNack(seqs, count), giveUp: () => keyframes.request() });
      stages.push(this.nack);
    }
    this.chain = new RtpChain(stages);
  }

  get packets(): number {
    return this.stats.packets;
  }

  get flowing(): boolean {
    return this.stats.flowing;
  }

  /** The per-packet path: RTP and RTCP from the publisher's m-line. */
  onPacket(packet: Buffer): void {
    const h = this.header;
    if (this.ended || !h.read(packet)) return;
    h.receivedAt = performance.now(); // the one clock read of this packet, for every stage and subscriber
    if (h.rtcp) {
      this.onRtcp(packet);
      return;
    }
    if (!this.sanity.check(packet, h)) return;
    let p: Buffer | undefined = packet;
    if (this.rtx && h.payloadType === this.rtx.payloadType) {
      p = this.rtx.unwrap(packet, h, this.source.active);
      if (!p) return;
    }
    if (this.chain.onRtp(p, h)) this.sender.send(p, h);
  }

  /**
   * RTCP from the publisher. A compound reaches every track one of its SSRCs maps to, so
   * only the SR of this track's own source counts here.
   */
  private onRtcp(packet: Buffer): void {
    if (!readSenderReport(packet, this.sr) || this.sr.ssrc !== this.reception.ssrc) return;
    this.reception.onSenderReport(ntpMiddle(this.sr.ntpSec, this.sr.ntpFrac));
    // On the bus beside the RTP, so every subscriber (on any instance) can map the timestamps.
    writeSenderReport(this.srOut, 0, this.sr);
    this.srHeader.read(this.srOut);
    this.senderReports++;
    this.sender.send(this.srOut, this.srHeader);
  }

  /** Sends the receiver report (and REMB on video); the publisher calls it once a second. */
  sendReport(): void {
    if (this.ended || !this.reception.fill(this.block)) return;
    let len = writeReceiverReport(this.rtcpOut, 0, this.localSsrc, this.block);
    if (this.rembBps > 0) len += writeRemb(this.rtcpOut, len, this.localSsrc, this.rembBps, this.block.ssrc);
    this.sendRtcp(len);
  }

  /** Runs the NACK timer: retries and gives up (every few tens of ms). */
  tick(now: number): void {
    if (!this.ended) this.nack?.tick(now);
  }

  private sendNack(seqs: Uint16Array, count: number): void {
    this.sendRtcp(writeNack(this.rtcpOut, 0, this.localSsrc, this.reception.ssrc, seqs, count));
  }

  private sendPli(): void {
    if (this.reception.received === 0) return; // no source yet: its first frame is a keyframe anyway
    if (this.sendRtcp(writePli(this.rtcpOut, 0, this.localSsrc, this.reception.ssrc))) this.pliSent++;
  }

  private sendRtcp(len: number): boolean {
    // libdatachannel throws on a track that is not open (yet, or any more).
    if (!isOpen(this.track)) return false;
    try {
      return this.track.sendMessageBinary(this.rtcpOut.subarray(0, len));
    } catch {
      return false; // closed meanwhile
    }
  }

  /** REMB towards the publisher from now on: lets its encoder ramp up to `bps`. */
  requestBitrate(bps: number): void {
    this.rembBps = bps;
    this.sendReport();
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
