/**
 * One stream received from a publisher (LiveKit's "up track", mediasoup's Producer): the
 * engine's m-line, its RTP stages, its subject on the bus, and all RTCP with the publisher.
 * The engine track has no media handler, so RTCP reaches us raw and ours goes out as is:
 * receiver reports (with REMB on video), NACKs for what the uplink lost, PLIs.
 *
 *   engine onMessage ─▶ RtpHeader.read ─┬▶ RTP  PacketSanity, RTX unwrap,
 *                                       │       [SourceSelector, ReceiveStats, Reception, NackGenerator, MuteGate] ─▶ bus ─▶ DownTracks
 *                                       └▶ RTCP SR of our source ─▶ Reception (LSR) and, as an SR, on the bus
 */
import { layerSubject, type TrackInfo } from 'weever-protocol';
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
import type { LayerRates } from './layer-rates.js';
import { FrameSize } from './stages/frame-size.js';
import { MuteGate } from './stages/mute-gate.js';
import { NackGenerator } from './stages/nack-generator.js';
import { ReceiveStats } from './stages/receive-stats.js';
import { Reception } from './stages/reception.js';
import { RtxUnwrapper } from './stages/rtx.js';
import { PacketSanity } from './stages/sanity.js';
import { SourceSelector } from './stages/source-selector.js';

/** Minimum spacing of keyframe requests sent to one publisher track. */
const KEYFRAME_MIN_INTERVAL_MS = 500;
const CLOCK_RATE = { audio: 48000, video: 90000 } as const;
/** One-second rates a layer's bitrate is the median of. */
const RATE_SAMPLES = 5;

export interface UpTrackOptions {
  info: TrackInfo;
  mid: string;
  subject: string;
  track: Track;
  /** the bus sender of `subject` (layer 0) */
  sender: TrackSender;
  /** sender SSRC of the RTCP we send the publisher */
  localSsrc: number;
  /** the payload type this m-line negotiated; other RTP is dropped */
  payloadType: number;
  /** the RTX payload type of this m-line and the payload type it repairs, when negotiated */
  rtx?: { payloadType: number; apt: number };
  /**
   * SSRC simulcast: each layer's SSRC (smallest first) and RTX SSRC; layer n > 0 goes on
   * `layerSubject(subject, n)` through a sender from `openSender`.
   */
  simulcast?: { ssrcs: readonly number[]; rtx: readonly (number | undefined)[]; openSender: (subject: string) => TrackSender };
  /** where a simulcast track's layer bitrates are published for subscribers on this instance */
  rates?: LayerRates;
  /** called once, when the first packet with a payload arrives */
  onFlowing: (t: UpTrack) => void;
  /** subscribes to keyframe requests for `subject` from any instance */
  onKeyframeRequest: (subject: string, handler: () => void) => Unsubscribe;
  /** a layer has packets missing: `tick` must run (every NACK_TICK_MS) until `missing` is 0 */
  onMissing?: () => void;
  /** video: a layer's picture size changed (`info.sizes` has it): rare, from its key frames */
  onSizes?: (t: UpTrack) => void;
}

/**
 * The receive path of one SSRC stream of a track: the whole track, or one simulcast layer.
 * Its own loss statistics, reports, NACKs and keyframe requests, and its own bus subject.
 */
export class UpLayer {
  readonly stats: ReceiveStats;
  readonly reception: Reception;
  /** video only: NACKs for what the uplink lost */
  readonly nack: NackGenerator | undefined;
  readonly keyframes: KeyframeThrottle | undefined;
  /** which SSRC is the stream (a pinned simulcast layer never switches) */
  readonly source: SourceSelector;
  /** nothing goes on the bus while the track is muted; video resumes at a keyframe */
  readonly gate: MuteGate;
  /** sender reports of the publisher forwarded to subscribers */
  senderReports = 0;
  /** keyframe requests (PLI) sent to the publisher */
  pliSent = 0;
  /**
   * The layer's usual bitrate (bit/s): the median of the last RATE_SAMPLES one-second
   * rates it was sent at, so the keyframes subscribers ask for (a second at several times
   * the usual rate) do not make a layer look dearer than it is.
   */
  bps = 0;
  /** when the last packet of this layer arrived (performance.now()) */
  lastPacketAt = 0;
  private readonly samples = new Float64Array(RATE_SAMPLES);
  private readonly sorted = new Float64Array(RATE_SAMPLES);
  private sampleCount = 0;
  private bytesBefore = 0;
  private measuredAt = 0;
  private readonly chain: RtpChain;
  private readonly unsubscribeKeyframes: Unsubscribe | undefined;
  private readonly sr = newSenderInfo();
  private readonly srOut = Buffer.alloc(28);
  private readonly srHeader = new RtpHeader();

  constructor(
    private readonly owner: UpTrack,
    readonly index: number,
    readonly subject: string,
    private readonly sender: TrackSender,
    /** the layer's SSRC and RTX SSRC when pinned (simulcast); 0: whichever SSRC the track sends */
    readonly ssrc: number,
    readonly rtxSsrc: number,
    onFlowing: () => void,
    onKeyframeRequest: UpTrackOptions['onKeyframeRequest'],
  ) {
    const kind = owner.info.kind;
    this.stats = new ReceiveStats(onFlowing);
    this.reception = new Reception(CLOCK_RATE[kind]);
    this.source = new SourceSelector(() => this.keyframes?.request());
    if (ssrc !== 0) this.source.pin(ssrc);
    const stages: RtpStage[] = [this.source, this.stats, this.reception];
    if (kind === 'video') {
      const keyframes = new KeyframeThrottle(() => this.sendPli(), KEYFRAME_MIN_INTERVAL_MS);
      this.keyframes = keyframes;
      // Not while muted: the keyframe would be dropped, and the unmute's own request must not
      // wait behind it (the throttle).
      this.unsubscribeKeyframes = onKeyframeRequest(subject, () => {
        owner.onLayerKeyframeRequest?.(index);
        if (!this.gate.muted) keyframes.request();
      });
      // Loss is repaired by NACK first; a keyframe only when that failed.
      this.nack = new NackGenerator({
        send: (seqs, count) => this.sendNack(seqs, count),
        giveUp: () => keyframes.request(),
        onMissing: () => owner.onMissing?.(),
      });
      stages.push(this.nack);
    }
    if (kind === 'video') {
      const size = new FrameSize(owner.info.codec === 'H264' ? 'h264' : 'vp8', () => owner.onLayerSize(index, size.width, size.height));
      stages.push(size);
    }
    this.gate = new MuteGate(kind === 'audio' ? 'audio' : owner.info.codec === 'H264' ? 'h264' : 'vp8', () => this.keyframes?.request());
    stages.push(this.gate);
    this.chain = new RtpChain(stages);
  }

  /** the SSRC being received; 0 before the first packet */
  get active(): number {
    return this.ssrc || this.source.active;
  }

  onRtp(p: Buffer, h: RtpHeader): void {
    h.layer = this.index;
    if (!h.paddingOnly) this.lastPacketAt = h.receivedAt;
    if (this.chain.onRtp(p, h)) this.sender.send(p, h);
  }

  /** The publisher's SR of this layer's stream: for our reports, and on the bus for subscribers. */
  onSenderReport(packet: Buffer): boolean {
    if (!readSenderReport(packet, this.sr) || this.sr.ssrc !== this.reception.ssrc) return false;
    this.reception.onSenderReport(ntpMiddle(this.sr.ntpSec, this.sr.ntpFrac));
    // On the bus beside the RTP, so every subscriber (on any instance) can map the timestamps.
    writeSenderReport(this.srOut, 0, this.sr);
    this.srHeader.read(this.srOut);
    this.srHeader.layer = this.index;
    this.senderReports++;
    this.sender.send(this.srOut, this.srHeader);
    return true;
  }

  /** Measures the bitrate since the last call (once a second, with the report). */
  measure(now: number): void {
    if (this.measuredAt > 0 && now > this.measuredAt) {
      const bps = ((this.stats.bytes - this.bytesBefore) * 8000) / (now - this.measuredAt);
      // A silent second (the encoder dropped the layer, or the path was down) says nothing
      // of what the layer costs when it is sent: only seconds with packets are counted.
      if (bps > 0) {
        this.samples[this.sampleCount++ % RATE_SAMPLES] = bps;
        const n = Math.min(this.sampleCount, RATE_SAMPLES);
        this.sorted.set(this.samples);
        this.bps = this.sorted.subarray(0, n).sort()[n >> 1]!;
      }
    }
    this.bytesBefore = this.stats.bytes;
    this.measuredAt = now;
  }

  sendReport(rembBps: number): void {
    const out = this.owner.rtcpOut;
    const block = this.owner.block;
    if (!this.reception.fill(block)) return;
    let len = writeReceiverReport(out, 0, this.owner.localSsrc, block);
    if (rembBps > 0) len += writeRemb(out, len, this.owner.localSsrc, rembBps, block.ssrc);
    this.owner.sendRtcp(len);
  }

  private sendNack(seqs: Uint16Array, count: number): void {
    this.owner.sendRtcp(writeNack(this.owner.rtcpOut, 0, this.owner.localSsrc, this.reception.ssrc, seqs, count));
  }

  private sendPli(): void {
    if (this.reception.received === 0) return; // no source yet: its first frame is a keyframe anyway
    if (this.owner.sendRtcp(writePli(this.owner.rtcpOut, 0, this.owner.localSsrc, this.reception.ssrc))) this.pliSent++;
  }

  end(): void {
    this.keyframes?.close();
    this.unsubscribeKeyframes?.();
    this.sender.close();
  }
}

export class UpTrack {
  readonly info: TrackInfo;
  readonly mid: string;
  readonly subject: string;
  ended = false;
  /** the track's streams: one, or a simulcast's layers (smallest first) */
  readonly layers: readonly UpLayer[];
  /** the whole track's packets (all layers): flowing and silence */
  readonly stats: ReceiveStats;
  /** RTX from the publisher, when negotiated */
  readonly rtx: RtxUnwrapper | undefined;
  /** malformed RTP dropped, by reason */
  readonly sanity: PacketSanity;
  /** packets of an SSRC that is no layer of a simulcast track */
  unknownSsrc = 0;
  /** original header of the packet being fanned out; reused for every packet */
  private readonly header = new RtpHeader();
  private readonly track: Track;
  readonly localSsrc: number;
  /** REMB we send with each receiver report (video), 0 for none */
  private rembBps = 0;
  private readonly rates: LayerRates | undefined;
  // RTCP is built in buffers of our own, reused: the engine copies what it sends.
  readonly rtcpOut = Buffer.alloc(12 + 4 * 512);
  readonly block = newReportBlock();
  /** simulcast: layer of each media SSRC and of each RTX SSRC, by position */
  private readonly mediaSsrcs: Uint32Array;
  private readonly rtxSsrcs: Uint32Array;
  readonly onMissing: (() => void) | undefined;

  private readonly onSizes: ((t: UpTrack) => void) | undefined;
  /** simulcast: a subscriber asked for a keyframe of this layer (dynacast switches it on) */
  onLayerKeyframeRequest: ((layer: number) => void) | undefined;

  constructor(o: UpTrackOptions) {
    this.onMissing = o.onMissing;
    this.onSizes = o.onSizes;
    this.info = o.info;
    this.mid = o.mid;
    this.subject = o.subject;
    this.track = o.track;
    this.localSsrc = o.localSsrc;
    this.rates = o.rates;
    let flowingSaid = false;
    const onFlowing = () => {
      if (flowingSaid) return;
      flowingSaid = true;
      o.onFlowing(this);
    };
    this.stats = new ReceiveStats(() => {});
    if (o.rtx) this.rtx = new RtxUnwrapper(o.rtx.payloadType, o.rtx.apt);
    this.sanity = new PacketSanity(o.rtx ? [o.payloadType, o.rtx.payloadType] : [o.payloadType]);
    const sim = o.simulcast;
    if (sim && sim.ssrcs.length >= 2) {
      this.mediaSsrcs = Uint32Array.from(sim.ssrcs);
      this.rtxSsrcs = Uint32Array.from(sim.ssrcs.map((_, i) => sim.rtx[i] ?? 0));
      this.layers = sim.ssrcs.map((ssrc, i) => {
        const subject = layerSubject(o.subject, i);
        const sender = i === 0 ? o.sender : sim.openSender(subject);
        return new UpLayer(this, i, subject, sender, ssrc, sim.rtx[i] ?? 0, onFlowing, o.onKeyframeRequest);
      });
    } else {
      this.mediaSsrcs = new Uint32Array(0);
      this.rtxSsrcs = new Uint32Array(0);
      this.layers = [new UpLayer(this, 0, o.subject, o.sender, 0, 0, onFlowing, o.onKeyframeRequest)];
    }
  }

  /** the first (or only) stream's parts, as a single-stream track has them */
  get reception(): Reception {
    return this.layers[0]!.reception;
  }
  get nack(): NackGenerator | undefined {
    return this.layers[0]!.nack;
  }
  get keyframes(): KeyframeThrottle | undefined {
    return this.layers[0]!.keyframes;
  }
  get source(): SourceSelector {
    return this.layers[0]!.source;
  }

  get packets(): number {
    return this.stats.packets;
  }

  get flowing(): boolean {
    return this.stats.flowing;
  }

  /** keyframe requests sent, all layers */
  get pliSent(): number {
    let n = 0;
    for (const l of this.layers) n += l.pliSent;
    return n;
  }

  get senderReports(): number {
    let n = 0;
    for (const l of this.layers) n += l.senderReports;
    return n;
  }

  get muted(): boolean {
    return this.info.muted === true;
  }
  /** when it was last unmuted (Date.now()); 0 never */
  unmutedAt = 0;

  /** Mutes (nothing forwarded from the next packet) or unmutes (video from its next keyframe, asked for). */
  setMuted(muted: boolean): void {
    if (muted) this.info.muted = true;
    else {
      delete this.info.muted;
      this.unmutedAt = Date.now();
    }
    for (const l of this.layers) l.gate.setMuted(muted);
  }

  /** A layer's key frames are `width`×`height` now: recorded in the track info for subscribers. */
  onLayerSize(layer: number, width: number, height: number): void {
    const sizes = (this.info.sizes ??= this.layers.map(() => [0, 0] as [number, number]));
    sizes[layer] = [width, height];
    this.onSizes?.(this);
  }

  /** Asks every layer for a keyframe (throttled per layer). */
  requestKeyframes(): void {
    for (const l of this.layers) if (!l.gate.muted) l.keyframes?.request();
  }

  /** The per-packet path: RTP and RTCP from the publisher's m-line. */
  onPacket(packet: Buffer): void {
    const h = this.header;
    if (this.ended || !h.read(packet)) return;
    h.receivedAt = performance.now(); // the one clock read of this packet, for every stage and subscriber
    if (h.rtcp) {
      // A compound reaches every track one of its SSRCs maps to: only our own layers' SRs count.
      for (const l of this.layers) if (l.onSenderReport(packet)) break;
      return;
    }
    if (!this.sanity.check(packet, h)) return;
    let layer: UpLayer;
    let p: Buffer | undefined = packet;
    if (this.mediaSsrcs.length > 0) {
      const i = this.mediaSsrcs.indexOf(h.ssrc);
      if (i >= 0) layer = this.layers[i]!;
      else {
        const r = this.rtxSsrcs.indexOf(h.ssrc);
        if (r < 0 || !this.rtx || h.payloadType !== this.rtx.payloadType) {
          this.unknownSsrc++;
          return;
        }
        layer = this.layers[r]!;
        p = this.rtx.unwrap(packet, h, layer.ssrc);
        if (!p) return;
      }
    } else {
      layer = this.layers[0]!;
      if (this.rtx && h.payloadType === this.rtx.payloadType) {
        p = this.rtx.unwrap(packet, h, layer.source.active);
        if (!p) return;
      }
    }
    this.stats.onRtp(p, h);
    layer.onRtp(p, h);
  }

  /** Sends the receiver reports (and REMB on video); the publisher calls it once a second. */
  sendReport(): void {
    if (this.ended) return;
    const now = performance.now();
    for (const l of this.layers) {
      l.measure(now);
      if (this.layers.length > 1) this.rates?.set(l.subject, l);
    }
    // one REMB is enough: it caps the publisher's whole video bitrate, all layers
    for (let i = 0; i < this.layers.length; i++) this.layers[i]!.sendReport(i === 0 ? this.rembBps : 0);
  }

  /** Runs the NACK timer: retries and gives up (every few tens of ms). */
  tick(now: number): void {
    if (this.ended) return;
    for (const l of this.layers) l.nack?.tick(now);
  }

  /** Packets of this track's layers still missing (NACKed, neither recovered nor given up); 0 once ended. */
  get missing(): number {
    if (this.ended) return 0;
    let n = 0;
    for (const l of this.layers) n += l.nack?.missing ?? 0;
    return n;
  }

  sendRtcp(len: number): boolean {
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

  /** told once when the track ends */
  onEnd: (() => void) | undefined;

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd?.();
    for (const l of this.layers) {
      l.end();
      this.rates?.delete(l.subject);
    }
  }
}

export function isOpen(track: Track): boolean {
  try {
    return track.isOpen();
  } catch {
    return false;
  }
}
