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
import type { RtpHeader } from 'weever-rtp';
import type { PacketSink, Unsubscribe } from '../bus/bus.js';
import { RtcpChain, type RtcpReader, RtpChain } from './chain.js';
import type { Track } from './engine.js';
import type { KeyframeThrottle } from './keyframes.js';
import type { HeaderExtension } from './sdp.js';
import { HeaderExtensionMapper } from './stages/header-extensions.js';
import { KeyframeRequestReader } from './stages/keyframe-requests.js';
import { NackResponder } from './stages/nack-responder.js';
import { RtpRewriter } from './stages/rewriter.js';
import { SenderReports } from './stages/sender-reports.js';
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
}

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
  private readonly sendRaw = (packet: Buffer) => this.sendToEngine(packet);

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
    const extensions = new HeaderExtensionMapper(source.info.ext, source.extensions ?? []);
    this.extensions = extensions;
    const readers: RtcpReader[] = [this.reports];
    if (source.keyframes) readers.push(new KeyframeRequestReader(source.ssrc, source.keyframes));
    if (this.nack) {
      this.nack.reset(source.ssrc);
      readers.push(this.nack);
      this.chain.set([rewriter, extensions, this.nack]);
    } else this.chain.set([rewriter, extensions]);
    this.rtcp = new RtcpChain(readers);
    this.source = source;
    this.state = DownTrackState.Offered;
    this.unsubscribe = source.subscribe(this);
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
      if (this.reports?.onSourceReport(packet)) this.senderReports++;
      return;
    }
    if (!this.chain.onRtp(packet, header)) return;
    if (this.sendToEngine(packet)) {
      this.packets++;
      this.bytes += packet.length;
    }
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
    this.source?.keyframes?.close();
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
