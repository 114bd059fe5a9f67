/**
 * What both kinds of subscriber share: the room as it should be received (`desired`,
 * from the store snapshot plus room events), the DownTracks (one per m-line), liveness
 * from the client's RTCP, and cleanup. Two kinds build on it:
 * - `ControlSubscriber`: starts with only the `control` channel; the server adds m-lines
 *   and renegotiates (src/media/control-subscriber.ts);
 * - `WhepSubscriber`: a player's offer with recvonly m-lines, filled in the answer, never
 *   renegotiated (src/media/whep-subscriber.ts).
 */
import { isOwnMedia, type Kind, layerSubject, type RoomEvent, subjects, type TrackInfo } from 'weever-protocol';
import type { Unsubscribe } from '../bus/bus.js';
import { DownTrack, type DownTrackSource, DownTrackState } from './down-track.js';
import { ALLOCATE_MS, Downlink, PAD_MS } from './downlink.js';
import type { MediaDescription, Track } from './engine.js';
import { StoreUnavailableError } from './errors.js';
import { KeyframeThrottle } from './keyframes.js';
import { type CloseReason, emptyTraffic, Peer, type PeerContext, type TrackTally, type Traffic } from './peer.js';
import type { HeaderExtension, OfferedCodec } from './sdp.js';

/** Per-track spacing of keyframe requests caused by this subscriber's PLI/FIR. */
const SUBSCRIBER_PLI_MIN_INTERVAL_MS = 300;
/**
 * Chromium sends receiver reports for audio only every ~5 s (randomised up to 7.5 s): an
 * audio-only subscriber may stay silent one report interval longer than --media-timeout.
 */
const AUDIO_ONLY_EXTRA_SILENCE_MS = 8000;

export abstract class Subscriber extends Peer {
  readonly role = 'sub' as const;
  /** publisher full id → its tracks, as the room has them, in arrival order */
  protected readonly desired = new Map<string, TrackInfo[]>();
  protected readonly downTracks: DownTrack[] = [];
  private unsubscribeRoom: Unsubscribe | undefined;
  /** room events that arrive while the snapshot is loading */
  private queued: RoomEvent[] | undefined;
  /** RTCP came from this client at least once: then its silence means it is gone */
  private rtcpSeen = false;
  /** video packets forwarded to this client, and when that count last moved */
  private videoSent = 0;
  private videoSentAt = 0;
  /** per DownTrack, its packet count when its current source was bound */
  private readonly boundAt = new WeakMap<DownTrack, number>();
  /** packets sent of `<pub>/<trackId>` by bindings that ended (the debug counters outlive an UNSUB) */
  private readonly sentUnbound = new Map<string, number>();
  /** the downlink's tick and its period (PAD_MS or ALLOCATE_MS) */
  private downlinkTimer: NodeJS.Timeout | undefined;
  private downlinkEvery = 0;

  /** the downlink estimate and the layer each simulcast track gets */
  readonly downlink = new Downlink(
    () => this.downTracks,
    (subject) => this.ctx.layerRates.get(subject),
    (estimateBps, layers) => {
      const e = this.downlink.estimator;
      this.log.debug(
        {
          estimateBps: Math.round(estimateBps),
          layers: Object.fromEntries(layers),
          probes: e.probes,
          probeSuccesses: e.probeSuccesses,
          probeFailures: e.probeFailures,
          decreases: e.decreases,
        },
        'layers chosen',
      );
    },
    (event, paddingBps) => {
      const e = this.downlink.estimator;
      this.log.debug({ event, paddingBps, estimateBps: Math.round(e.estimateBps) }, 'probe');
    },
  );

  constructor(ctx: PeerContext, room: string, fullId: string) {
    super(ctx, room, fullId, 'sub');
    this.downlink.sizesOf = (pub, trackId) => this.desired.get(pub)?.find((t) => t.trackId === trackId)?.sizes;
    this.scheduleDownlink();
  }

  /** The downlink's tick: every PAD_MS while it probes or must allocate soon, else every ALLOCATE_MS. */
  protected scheduleDownlink(): void {
    const every = this.downlink.wantsFastTicks ? PAD_MS : ALLOCATE_MS;
    if (every === this.downlinkEvery || this.closed) return;
    this.clearTimer(this.downlinkTimer);
    this.downlinkEvery = every;
    this.downlinkTimer = this.setRepeating(every, () => {
      this.downlink.tick(performance.now());
      this.scheduleDownlink();
    });
  }

  /** A publisher this subscriber never receives: its own user's by default. */
  protected isExcluded(pubFullId: string): boolean {
    return isOwnMedia(this.id, pubFullId);
  }

  /** The room changed after the snapshot was loaded. */
  protected abstract onRoomChanged(): void;

  /**
   * Subscribes to room events, then reads the snapshot (so no event falls between the
   * two), and applies the events that came meanwhile. Throws when the store is down.
   */
  protected async loadRoom(): Promise<void> {
    this.queued = [];
    this.unsubscribeRoom = this.ctx.bus.subscribeRoom(this.room, (e) => this.onRoomEvent(e));
    let media: Map<string, TrackInfo[]>;
    try {
      media = await this.ctx.store.getMedia(this.room);
    } catch (err) {
      this.log.error({ err }, 'could not read room media');
      throw new StoreUnavailableError();
    }
    for (const [pub, tracks] of media) this.setDesired(pub, tracks);
    this.markMuted();
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const e of queued) this.applyEvent(e);
  }

  private onRoomEvent(event: RoomEvent): void {
    if (this.closed || (event.type !== 'pub-join' && event.type !== 'pub-left')) return;
    if (this.queued) {
      this.queued.push(event);
      return;
    }
    this.applyEvent(event);
    this.onRoomChanged();
  }

  private applyEvent(event: RoomEvent): void {
    if (event.type === 'pub-join') {
      this.setDesired(event.pub, event.tracks);
      this.markMuted();
    } else if (event.type === 'pub-left') {
      this.desired.delete(event.pub);
      this.downlink.forget(event.pub);
    }
  }

  /** Whether the room has the track muted (its publisher's last pub-join). */
  protected isMuted(pub: string, trackId: string): boolean {
    return this.desired.get(pub)?.find((t) => t.trackId === trackId)?.muted === true;
  }

  /** Each bound DownTrack takes its track's mute state from `desired`. */
  protected markMuted(): void {
    for (const d of this.downTracks) d.muted = d.source ? this.isMuted(d.source.pub, d.source.info.trackId) : false;
  }

  private setDesired(pub: string, tracks: TrackInfo[]): void {
    if (this.isExcluded(pub)) return;
    if (tracks.length === 0) this.desired.delete(pub);
    else this.desired.set(pub, tracks);
  }

  /**
   * An m-line of ours carrying `codecs` (each at its payload type) and declaring the header
   * `extensions` (the engine has no call for them, but reads and writes a=extmap lines).
   */
  protected describe(
    mid: string,
    kind: Kind,
    codecs: readonly OfferedCodec[],
    extensions: readonly HeaderExtension[] = [],
  ): MediaDescription {
    let d: MediaDescription;
    if (kind === 'video') {
      const v = this.ctx.engine.video(mid);
      for (const c of codecs) {
        if (c.name === 'H264') v.addH264Codec(c.payloadType, c.fmtp);
        else v.addVP8Codec(c.payloadType);
        // The engine declares nack, nack pli and goog-remb; FIR too, as browsers expect; and
        // rrtr, so the browser sends XR RRTR, we answer DLRR and it knows the round trip
        // (without it a lost retransmission is asked for again only after a default 100 ms).
        v.parseSdpLine(`a=rtcp-fb:${c.payloadType} ccm fir`);
        v.parseSdpLine(`a=rtcp-fb:${c.payloadType} rrtr`);
      }
      d = v;
    } else {
      const a = this.ctx.engine.audio(mid);
      for (const c of codecs) a.addOpusCodec(c.payloadType, c.fmtp);
      d = a;
    }
    for (const e of extensions) d.parseSdpLine(`a=extmap:${e.id} ${e.uri}`);
    return d;
  }

  /** A DownTrack for a new m-line whose first engine handle is `handle`. */
  protected newDownTrack(mid: string, kind: Kind, handle: Track): DownTrack {
    const down = new DownTrack(mid, kind, handle, () => {
      this.inbound++;
      this.rtcpSeen = true;
    });
    down.downlink = this.downlink;
    down.onSwitchWait = (ms) => this.ctx.onLayerSwitch(ms / 1000);
    this.downTracks.push(down);
    return down;
  }

  /**
   * Puts publisher track `info` on `down`, sending with `ssrc` and `payloadType`, its header
   * extensions under the ids of `extensions` (this m-line's, as declared).
   */
  protected bind(
    down: DownTrack,
    pub: string,
    info: TrackInfo,
    ssrc: number,
    payloadType: number,
    extensions: readonly HeaderExtension[],
    continueNumbering = false,
  ): void {
    const subject = subjects.track(this.room, pub, info.kind, info.trackId);
    const { bus } = this.ctx;
    const source: DownTrackSource = {
      pub,
      info,
      subject,
      ssrc,
      payloadType,
      subscribe: (sink) => bus.subscribeTrack(subject, sink),
      continueNumbering,
      extensions,
    };
    if (info.kind === 'video' && info.layers && info.layers > 1) {
      // Keyframe requests per layer, each throttled; the subscriber's own PLIs go to the layer it gets.
      const perLayer = Array.from(
        { length: info.layers },
        (_, i) => new KeyframeThrottle(() => bus.requestKeyframe(layerSubject(subject, i)), SUBSCRIBER_PLI_MIN_INTERVAL_MS),
      );
      source.layers = {
        subscribe: (layer, sink) => bus.subscribeTrack(layerSubject(subject, layer), sink),
        keyframe: (layer) => perLayer[layer]?.request(),
        close: () => {
          for (const k of perLayer) k.close();
        },
      };
      // the subscriber's PLI/FIR: a keyframe of the layer it gets (or is about to)
      source.keyframes = new KeyframeThrottle(() => {
        const sel = down.selector;
        perLayer[sel ? (sel.spatial >= 0 ? sel.spatial : sel.target.spatial) : 0]?.request();
      }, 0);
    } else if (info.kind === 'video') {
      source.keyframes = new KeyframeThrottle(() => bus.requestKeyframe(subject), SUBSCRIBER_PLI_MIN_INTERVAL_MS);
    }
    down.bind(source);
    this.boundAt.set(down, down.packets);
    down.muted = this.isMuted(pub, info.trackId);
  }

  /** Takes `down`'s source away; what it sent of it stays counted. */
  protected unbind(down: DownTrack): void {
    const s = down.source;
    if (s) {
      const key = `${s.pub}/${s.info.trackId}`;
      this.sentUnbound.set(key, (this.sentUnbound.get(key) ?? 0) + down.packets - (this.boundAt.get(down) ?? 0));
    }
    down.unbind();
  }

  protected override silenceLimitMs(): number | undefined {
    // Browsers send receiver reports for what they receive; a client that never sent any
    // RTCP, or receives nothing now, is watched by ICE consent freshness and the data channel.
    if (!this.rtcpSeen || !this.downTracks.some((d) => d.state === DownTrackState.Forwarding)) return undefined;
    // Video receivers report about every second, audio-only ones every ~5 s (up to 7.5 s):
    // the short limit holds only while video is actually being sent to this client.
    return Date.now() - this.videoSentAt < 2000
      ? this.ctx.config.mediaTimeoutMs
      : this.ctx.config.mediaTimeoutMs + AUDIO_ONLY_EXTRA_SILENCE_MS;
  }

  override sweep(now: number): void {
    let video = 0;
    for (const d of this.downTracks) if (d.kind === 'video') video += d.packets;
    if (video !== this.videoSent) {
      this.videoSent = video;
      this.videoSentAt = now;
    }
    super.sweep(now);
  }

  override traffic(): Traffic {
    const t = emptyTraffic();
    for (const d of this.downTracks) {
      t.forwardedPackets += d.packets;
      t.forwardedBytes += d.bytes;
      t.senderReports += d.senderReports;
      if (d.nack) {
        t.nacksReceived += d.nack.asked;
        t.retransmittedPackets += d.nack.resent;
      }
    }
    return t;
  }

  override forwardedByTrack(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.sentUnbound);
    for (const d of this.downTracks) {
      if (!d.source) continue;
      const key = `${d.source.pub}/${d.source.info.trackId}`;
      out[key] = (out[key] ?? 0) + d.packets - (this.boundAt.get(d) ?? 0);
    }
    return out;
  }

  /** Dynacast: raises `out[track subject]` to the highest layer this subscriber would take of each simulcast track it has. */
  layerWants(out: Map<string, number>): void {
    for (const d of this.downTracks) {
      const src = d.source;
      if (!src || d.layerCount < 2) continue;
      const w = this.downlink.wantedLayer(src.pub, src.info.trackId, d.layerCount);
      const before = out.get(src.subject);
      if (before === undefined || w > before) out.set(src.subject, w);
    }
  }

  override countTracks(tally: TrackTally): void {
    for (const d of this.downTracks) if (d.source) tally.forwarded[d.kind]++;
  }

  protected override async release(reason: CloseReason): Promise<void> {
    this.unsubscribeRoom?.();
    for (const d of this.downTracks) d.close();
    try {
      await this.ctx.store.removePeer('sub', this.room, this.fullId);
    } catch (err) {
      // Redis down: the store forgot us already and removes us there when it is back.
      this.log.warn({ err: String((err as Error).message ?? err) }, 'state store unavailable while leaving');
    }
    this.log.info({ reason }, 'subscriber left');
  }

  protected override onRemoteTrack(track: Track): void {
    // A subscriber's m-lines are all ours; the client adds none.
    void track;
  }
}
