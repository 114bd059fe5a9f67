/**
 * One m-line of a subscriber's connection (LiveKit's "down track", mediasoup's Consumer):
 * the engine handles of that m-line, the publisher track it carries now, and its stages.
 *
 *   bus ─▶ onPacket ─┬▶ RTP  [RtpRewriter, HeaderExtensionMapper, NackResponder (video: history)] ─▶ engine sendMessageBinary
 *                    └▶ the publisher's SR ─▶ SenderReports (translated) ─▶ engine
 *   engine onMessage (RTCP from the subscriber) ─▶ [KeyframeRequestReader, NackResponder, SenderReports (RTT)]
 *
 * An m-line is recycled: `bind` puts a publisher track on it, `unbind` takes it off.
 */

import type { Kind, TrackInfo } from 'weever-protocol';
import { newReportBlock, newSenderInfo, RtpHeader, readReportBlock, readSenderReport } from 'weever-rtp';
import type { PacketSink, Unsubscribe } from '../bus/bus.js';
import { RtcpChain, type RtcpReader, RtpChain, type RtpStage } from './chain.js';
import type { Track } from './engine.js';
import type { KeyframeThrottle } from './keyframes.js';
import type { HeaderExtension } from './sdp.js';
import { HeaderExtensionMapper } from './stages/header-extensions.js';
import { KeyframeRequestReader } from './stages/keyframe-requests.js';
import { LayerSelector, MAX_LAYERS, MAX_TEMPORAL } from './stages/layer-selector.js';
import { NackResponder } from './stages/nack-responder.js';
import { RtpRewriter } from './stages/rewriter.js';
import { SenderReports } from './stages/sender-reports.js';
import { ViewGate } from './stages/view-gate.js';
import { isOpen } from './up-track.js';

export enum DownTrackState {
  /** no publisher track on this m-line */
  Idle = 'idle',
  /** a track is bound; the offer carrying it is not answered yet */
  Offered = 'offered',
  /** answered (or a WHEP m-line); waiting for the engine to open the track */
  Opening = 'opening',
  /** packets flow */
  Forwarding = 'forwarding',
}

/** RTP timestamp step assumed across a source change: one 30 fps frame / one 20 ms Opus packet. */
const TS_STEP: Record<Kind, number> = { video: 3000, audio: 960 };

/** What `bind` puts on the m-line. */
export interface DownTrackSource {
  pub: string;
  info: TrackInfo;
  subject: string;
  ssrc: number;
  payloadType: number;
  /** video: keyframe requests caused by this subscriber (throttled), towards the publisher */
  keyframes?: KeyframeThrottle;
  /** subscribes this DownTrack to the track's packets */
  subscribe: (sink: PacketSink) => Unsubscribe;
  /** continue the numbering of the m-line's previous track (a WHEP m-line keeps its SSRC) */
  continueNumbering?: boolean;
  /** the header extensions of this m-line with the subscriber's ids (ours offered, or a player's) */
  extensions?: readonly HeaderExtension[];
  /**
   * A simulcast track (`info.layers`): subscribes to one layer's packets, and asks that
   * layer for a keyframe. Then `subscribe` is not used: the DownTrack subscribes to the
   * layer it forwards and, while switching, the one it switches to.
   */
  layers?: {
    subscribe: (layer: number, sink: PacketSink) => Unsubscribe;
    keyframe: (layer: number) => void;
    /** the binding ends: pending keyframe requests are dropped */
    close: () => void;
  };
}

/** Delivers one layer's packets to its DownTrack, marked with the layer (packets from NATS are not). */
class LayerSink implements PacketSink {
  bytes = 0;
  /** when its last RTP packet arrived (performance.now()), 0 before the first */
  lastPacketAt = 0;
  constructor(
    private readonly down: DownTrack,
    private readonly layer: number,
  ) {}
  onPacket(packet: Buffer, header: RtpHeader): void {
    header.layer = this.layer;
    if (!header.rtcp) {
      this.bytes += packet.length;
      this.lastPacketAt = header.receivedAt;
    }
    this.down.onPacket(packet, header);
  }
}

/** Padding bytes per probe packet: the most one RTP padding count byte can say. */
const PADDING_BYTES = 255;

/** Gets what the subscriber's downlink carried (src/media/downlink.ts). */
export interface DownlinkListener {
  onSent(bytes: number, now: number): void;
  onReceiverReport(ssrc: number, fractionLost: number, extHighestSeq: number, now: number): void;
  onNack(packets: number, now: number): void;
  /** a round trip measured from the subscriber's receiver report (LSR/DLSR) */
  onRtt(ms: number): void;
}

/** A subscribed layer silent this long is taken as not sent… */
const LAYER_SILENT_MS = 1500;
/** …and not chosen again for this long. */
const LAYER_OFF_MS = 10_000;
/** A layer's rate is measured from this long after it was subscribed to. */
const RATE_SETTLE_MS = 2000;

/** Exponential smoothing of the per-layer bitrates, per one-second tick. */
const RATE_SMOOTHING = 0.5;

export class DownTrack implements PacketSink {
  state = DownTrackState.Idle;
  /**
   * Every handle the engine ever returned for this m-line. node-datachannel returns a new
   * JS wrapper each time a description is re-added with the same mid, and a wrapper that
   * is garbage-collected closes the native track it shares with the current one. So all
   * of them live as long as the connection.
   */
  readonly handles: Track[];
  /** what is on it now */
  source: DownTrackSource | undefined;
  /** its publisher muted the track: nothing comes, it costs the downlink nothing and carries no probe */
  muted = false;
  packets = 0;
  bytes = 0;
  /** sender reports sent, over all bindings */
  senderReports = 0;
  private readonly chain = new RtpChain();
  private rtcp: RtcpReader = new RtcpChain([]);
  private rewriter: RtpRewriter | undefined;
  /** the publisher's header extensions under this subscriber's ids */
  private extensions: HeaderExtensionMapper | undefined;
  private unsubscribe: Unsubscribe | undefined;
  /** video: answers the subscriber's NACKs; kept across bindings (its buffer is large) */
  readonly nack: NackResponder | undefined;
  /** sender reports of the current binding */
  reports: SenderReports | undefined;
  /** retransmissions and RTCP: they take the subscriber's downlink as media does, so the estimate counts them */
  private readonly sendRaw = (packet: Buffer) => {
    if (this.sendToEngine(packet)) this.downlink?.onSent(packet.length, performance.now());
  };
  /** simulcast: the layer selection of the current binding */
  selector: LayerSelector | undefined;
  /** simulcast: the sink and subscription of each layer subscribed now */
  private layerSinks: (LayerSink | undefined)[] = [];
  private layerSubs: (Unsubscribe | undefined)[] = [];
  /** simulcast: each layer's bitrate as received here (bit/s, smoothed; 0 when not subscribed so far) */
  readonly layerBps = new Float64Array(MAX_LAYERS);
  private readonly layerBytesSeen = new Float64Array(MAX_LAYERS);
  private readonly layerSubscribedAt = new Float64Array(MAX_LAYERS);
  private readonly layerOffUntil = new Float64Array(MAX_LAYERS);
  private readonly sr = newSenderInfo();
  /** what the subscriber's link carries: told of every packet sent, report block and NACK */
  downlink: DownlinkListener | undefined;
  private readonly block = newReportBlock();
  private nackedBefore = 0;
  private rttSamplesSeen = 0;
  /** probe padding: one packet, rebuilt for each send */
  private readonly pad = Buffer.alloc(12 + PADDING_BYTES);
  private readonly padHeader = new RtpHeader();
  paddingSent = 0;

  constructor(
    readonly mid: string,
    readonly kind: Kind,
    /** the m-line's first handle: callbacks are registered on it once, for the m-line's life */
    private readonly track: Track,
    /** RTCP arrived from the subscriber on a bound m-line */
    onRtcp: () => void,
  ) {
    this.handles = [track];
    if (kind === 'video') this.nack = new NackResponder(this.sendRaw);
    track.onMessage((packet: Buffer) => {
      try {
        if (!this.source) return; // an idle m-line's RTCP says nothing about liveness
        onRtcp();
        this.rtcp.onRtcp(packet);
        if (this.nack && this.reports) this.nack.rttMs = this.reports.rttMs;
        this.reportDownlink(packet);
      } catch {
        // never into native code
      }
    });
    track.onOpen(() => {
      try {
        this.tryStart();
      } catch {
        // never into native code
      }
    });
  }

  /** Puts a publisher track on this m-line; forwarding waits for `enable`. */
  bind(source: DownTrackSource): void {
    const rewriter = new RtpRewriter(source.ssrc, source.payloadType, TS_STEP[this.kind]);
    if (source.continueNumbering && this.rewriter) rewriter.continueFrom(this.rewriter);
    this.rewriter = rewriter;
    this.reports = new SenderReports(source.ssrc, rewriter, this, this.sendRaw);
    this.rttSamplesSeen = 0;
    const extensions = new HeaderExtensionMapper(source.info.ext, source.extensions ?? []);
    this.extensions = extensions;
    const readers: RtcpReader[] = [this.reports];
    if (source.keyframes) readers.push(new KeyframeRequestReader(source.ssrc, source.keyframes));
    if (this.nack) {
      this.nack.reset(source.ssrc);
      readers.push(this.nack);
    }
    this.chain.set(this.chainStages(rewriter, extensions));
    this.rtcp = new RtcpChain(readers);
    this.source = source;
    this.state = DownTrackState.Offered;
    const layers = source.info.layers ?? 0;
    if (source.layers && layers > 1 && this.kind === 'video') {
      const l = source.layers;
      this.layerBps.fill(0);
      this.layerBytesSeen.fill(0);
      this.layerOffUntil.fill(0);
      const selector = new LayerSelector(rewriter, {
        codec: source.info.codec === 'H264' ? 'h264' : 'vp8',
        requestKeyframe: (spatial) => l.keyframe(spatial),
        onSwitched: (spatial, waitMs) => this.onLayerSwitched(spatial, waitMs),
      });
      this.selector = selector;
      this.chain.set([selector, ...this.chainStages(rewriter, extensions)]);
      // Until the allocator says otherwise: the top layer.
      this.setLayer(layers - 1);
    } else {
      this.selector = undefined;
      // one stream of video: adaptive stream can only pause it (hidden) or let it through
      const gate =
        this.kind === 'video'
          ? new ViewGate(rewriter, source.info.codec === 'H264' ? 'h264' : 'vp8', () => source.keyframes?.request())
          : undefined;
      this.viewGate = gate;
      if (gate) this.chain.set([gate, ...this.chainStages(rewriter, extensions)]);
      this.unsubscribe = source.subscribe(this);
    }
  }

  /** a one-stream video's adaptive-stream pause (simulcast pauses with its selector) */
  private viewGate: ViewGate | undefined;

  /** Adaptive stream, one-stream video: not shown (VIDEO_SIZE 0x0), nothing is forwarded; shown, from its next keyframe. */
  setHidden(hidden: boolean): void {
    this.viewGate?.setHidden(hidden);
  }

  private chainStages(rewriter: RtpRewriter, extensions: HeaderExtensionMapper): RtpStage[] {
    return this.nack ? [rewriter, extensions, this.nack] : [rewriter, extensions];
  }

  /** simulcast: the spatial layer count of the track on this m-line (0: not layered) */
  get layerCount(): number {
    return this.selector ? (this.source?.info.layers ?? 0) : 0;
  }

  /**
   * simulcast: forward `spatial` (−1: pause) and temporal layers up to `temporal`; switches
   * at the target's next keyframe, which is asked for. Subscribes to the target's subject.
   */
  setLayer(spatial: number, temporal = MAX_TEMPORAL): void {
    const sel = this.selector;
    if (!sel) return;
    const t = sel.target;
    if (t.spatial === spatial && t.temporal === temporal && (spatial < 0 || sel.spatial === spatial)) return;
    sel.setTarget(spatial, temporal);
    this.keepSubscriptions();
  }

  private lastLayer = -1;

  /** told how long each layer switch waited for its keyframe (ms) */
  onSwitchWait: ((ms: number) => void) | undefined;

  private onLayerSwitched(spatial: number, waitMs: number): void {
    if (waitMs >= 0 && this.lastLayer >= 0) this.onSwitchWait?.(waitMs);
    // Down to a smaller layer (a congested path): what was sent before the keyframe the new
    // layer starts at is no use to the receiver any more, and resending it on request would
    // take the path from the new layer.
    if (spatial >= 0 && spatial < this.lastLayer && this.source) this.nack?.reset(this.source.ssrc);
    if (spatial >= 0) this.lastLayer = spatial;
    this.keepSubscriptions();
  }

  /** Subscribed to the layer forwarded and the target, to nothing else. */
  private keepSubscriptions(): void {
    const sel = this.selector;
    const l = this.source?.layers;
    if (!sel || !l) return;
    const n = this.layerCount;
    for (let i = 0; i < n; i++) {
      const want = i === sel.spatial || i === sel.target.spatial;
      if (want && !this.layerSubs[i]) {
        const sink = (this.layerSinks[i] ??= new LayerSink(this, i));
        this.layerSubs[i] = l.subscribe(i, sink);
        this.layerSubscribedAt[i] = performance.now();
      } else if (!want && this.layerSubs[i]) {
        this.layerSubs[i]!();
        this.layerSubs[i] = undefined;
      }
    }
  }

  /**
   * simulcast: whether layer `i` seems not to be sent (subscribed to for a while and
   * silent), so it is not chosen for a while; for a publisher on another instance, whose
   * layers' activity is not known here otherwise.
   */
  layerOff(i: number, now: number): boolean {
    if (now < this.layerOffUntil[i]!) return true;
    if (!this.layerSubs[i]) return false;
    const since = Math.max(this.layerSubscribedAt[i]!, this.layerSinks[i]?.lastPacketAt ?? 0);
    if (now - since < LAYER_SILENT_MS) return false;
    this.layerOffUntil[i] = now + LAYER_OFF_MS;
    return true;
  }

  /**
   * Every allocation: the layers' bitrates as received. A layer's first seconds are left
   * out: they carry the keyframe it was switched to, several times its usual rate.
   */
  tickRates(elapsedMs: number): void {
    if (!this.selector || elapsedMs <= 0) return;
    const now = performance.now();
    for (let i = 0; i < this.layerSinks.length; i++) {
      const sink = this.layerSinks[i];
      if (!sink) continue;
      const bytes = sink.bytes - this.layerBytesSeen[i]!;
      this.layerBytesSeen[i] = sink.bytes;
      if (!this.layerSubs[i] || now - this.layerSubscribedAt[i]! < RATE_SETTLE_MS) continue; // not received (steadily) now: the last rate stays
      const bps = (bytes * 8000) / elapsedMs;
      this.layerBps[i] = this.layerBps[i] === 0 ? bps : this.layerBps[i]! * (1 - RATE_SMOOTHING) + bps * RATE_SMOOTHING;
    }
  }

  /**
   * The subscriber's answer is known: only the extensions it kept (at the ids it gave them)
   * go out from now on. Called before `enable`, between packets.
   */
  negotiated(extensions: readonly HeaderExtension[]): void {
    if (this.source) this.extensions?.configure(this.source.info.ext, extensions);
  }

  /** The offer carrying the track is answered: forwarding starts once the engine track is open. */
  enable(): void {
    if (this.state !== DownTrackState.Offered) return;
    this.state = DownTrackState.Opening;
    this.tryStart();
  }

  private tryStart(): void {
    if (this.state !== DownTrackState.Opening || !isOpen(this.track)) return;
    this.state = DownTrackState.Forwarding;
    // A new viewer needs a keyframe now, not at the next periodic one.
    this.source?.keyframes?.request();
  }

  /** The per-packet path: RTP, or now and then the publisher's SR. */
  onPacket(packet: Buffer, header: RtpHeader): void {
    if (this.state !== DownTrackState.Forwarding) return;
    if (header.rtcp) {
      if (this.selector && readSenderReport(packet, this.sr)) this.selector.onSenderReport(header.layer, this.sr);
      if (this.reports?.onSourceReport(packet)) this.senderReports++;
      return;
    }
    if (!this.chain.onRtp(packet, header)) return;
    if (this.sendToEngine(packet)) {
      this.packets++;
      this.bytes += packet.length;
      this.downlink?.onSent(packet.length, header.receivedAt || performance.now());
    }
  }

  private reportDownlink(packet: Buffer): void {
    const d = this.downlink;
    const src = this.source;
    if (!d || !src) return;
    const now = performance.now();
    // the round trip first: the estimator aligns the report's interval with what it sent by it
    const r = this.reports;
    if (r && r.rttSamples !== this.rttSamplesSeen) {
      this.rttSamplesSeen = r.rttSamples;
      d.onRtt(r.rttMs);
    }
    if (readReportBlock(packet, src.ssrc, this.block)) d.onReceiverReport(src.ssrc, this.block.fraction, this.block.extHighestSeq, now);
    if (this.nack && this.nack.asked !== this.nackedBefore) {
      d.onNack(this.nack.asked - this.nackedBefore, now);
      this.nackedBefore = this.nack.asked;
    }
  }

  /**
   * Sends `count` padding-only packets (a bandwidth probe) in this stream: our SSRC, the next
   * sequence numbers, the last timestamp. They stay out of the NACK history: a probe that
   * failed lost many, and resending them would take the path from the media's own
   * retransmissions (a receiver assembles frames from their own packets; a missing
   * padding number between frames stops nothing). False when not forwarding yet.
   */
  sendPadding(count: number, now: number): boolean {
    const rw = this.rewriter;
    const src = this.source;
    if (this.state !== DownTrackState.Forwarding || !rw || !src || !rw.hasStarted) return false;
    const p = this.pad;
    for (let i = 0; i < count; i++) {
      const seq = rw.insertPadding();
      if (seq < 0) return false;
      p[0] = 0xa0; // V=2, P=1
      p[1] = src.payloadType & 0x7f;
      p.writeUInt16BE(seq, 2);
      p.writeUInt32BE(rw.lastTimestamp, 4);
      p.writeUInt32BE(src.ssrc >>> 0, 8);
      p[p.length - 1] = PADDING_BYTES;
      this.padHeader.read(p);
      this.padHeader.receivedAt = now;
      if (!this.sendToEngine(p)) return false;
      this.paddingSent++;
      this.downlink?.onSent(p.length, now);
    }
    return true;
  }

  private sendToEngine(packet: Buffer): boolean {
    try {
      this.track.sendMessageBinary(packet);
      return true;
    } catch {
      // The track closed under us (peer leaving); its owner unbinds it.
      return false;
    }
  }

  /** Takes the track off; the m-line keeps its numbering for a WHEP successor. */
  unbind(): void {
    this.unsubscribe?.();
    for (const u of this.layerSubs) u?.();
    this.layerSubs = [];
    this.layerSinks = [];
    this.selector = undefined;
    this.source?.keyframes?.close();
    this.source?.layers?.close();
    this.unsubscribe = this.source = this.reports = this.extensions = undefined;
    this.rtcp = new RtcpChain([]);
    this.state = DownTrackState.Idle;
  }

  close(): void {
    this.unbind();
    // Releases node-datachannel's references to our callbacks, so the peer can be collected.
    for (const h of this.handles) {
      try {
        h.close();
      } catch {
        // already closed
      }
    }
  }
}
