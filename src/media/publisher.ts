/**
 * A publisher: receives a client's tracks, one UpTrack per received m-line stream, each
 * on the bus under its own subject. Announces itself to the room (store + room event)
 * once its tracks flow. A camera connection may also carry its user's screen share
 * (m-lines whose msid stream id is `<id>-screen+<suffix>`): those tracks are published
 * as that separate publisher, announced and left on their own (docs/protocol.md, "One
 * connection for camera and screen").
 */
import {
  type ClientCommand,
  checkName,
  control,
  idOf,
  type Kind,
  publisherInfo,
  SCREEN_SUFFIX,
  screenIdOf,
  subjects,
  type TrackInfo,
  trackId,
  trackInfo,
} from 'weever-protocol';
import { isRtcp, randomSsrc } from 'weever-rtp';
import { announcePublicIp, type Track } from './engine.js';
import { oneLine } from './errors.js';
import { LayerWants } from './layer-wants.js';
import { type CloseReason, emptyTraffic, Peer, type PeerContext, type TrackTally, type Traffic } from './peer.js';
import { answerInactive, forwardedExtensions, type OfferedMedia, type PreparedOffer, prepareOffer, SdpError } from './sdp.js';
import { UpTrack } from './up-track.js';

/** Announce with the tracks that flow when the others stay silent this long. */
const ANNOUNCE_GRACE_MS = 3000;
/** Layer size changes are announced together, at most this often. */
const SIZES_ANNOUNCE_MS = 500;
/** A track without packets this long is ended (docs/protocol.md, "Media"). */
const TRACK_SILENCE_MS = 10_000;
/** the publisher counts as wholly silent (an outage, not one track ending) after this long */
const PEER_QUIET_MS = 2000;
const REPORT_INTERVAL_MS = 1000;
/** NACK retries and give-ups are checked this often. */
const NACK_TICK_MS = 20;

/**
 * Which publisher each m-line of a connection publishes as, by mid: the connection's own
 * full id, or — on a camera connection — the screen share `<id>-screen+<suffix>` its
 * msid names. Throws (the offer is refused) for a screen share of another user, a bad
 * screen id, or two screen shares on one connection.
 */
export function publishersOfMids(fullId: string, media: readonly OfferedMedia[]): Map<string, string> {
  const out = new Map<string, string>();
  const own = idOf(fullId);
  const camera = publisherInfo(fullId).kind === 'camera';
  let screen: string | undefined;
  for (const m of media) {
    const s = m.stream;
    const sid = s?.includes('+') ? idOf(s) : undefined;
    if (!camera || s === undefined || sid === undefined || !sid.endsWith(SCREEN_SUFFIX)) {
      out.set(m.mid, fullId);
      continue;
    }
    if (sid !== screenIdOf(own)) throw new SdpError(`a=msid names ${sid}, which is not the screen share of ${own}`);
    const bad = checkName('screen share full id', s);
    if (bad) throw new SdpError(bad);
    if (screen !== undefined && screen !== s) throw new SdpError('one screen share per connection');
    screen = s;
    out.set(m.mid, s);
  }
  return out;
}

/** A screen share carried by a camera connection: published and left apart from the camera. */
interface ScreenShare {
  fullId: string;
  /** its store reservation is held (the same rules as a publisher connection's) */
  reserved: boolean;
  announced: boolean;
  /** its store calls and events, in order */
  chain: Promise<void>;
  gone: boolean;
}

export class Publisher extends Peer {
  readonly role = 'pub' as const;
  readonly tracks: UpTrack[] = [];
  /** next track number per kind: ids are never reused while the publisher lives */
  private readonly counters: Record<Kind, number> = { audio: 0, video: 0 };
  /** mids of the m-lines the client said it sends on */
  private expectedMids = new Set<string>();
  /** what each m-line negotiated: the codec it was cut to, its payload type, its RTX, its header extensions */
  private negotiated = new Map<string, OfferedMedia>();
  /** the publisher each m-line publishes as (this one, or the screen share it carries) */
  private pubOfMid = new Map<string, string>();
  /** the publisher each track was published as */
  private readonly pubOfTrack = new Map<UpTrack, string>();
  /** screen shares carried on this connection, by full id */
  private readonly screens = new Map<string, ScreenShare>();
  private announced = false;
  private announceTimer: NodeJS.Timeout | undefined;
  private sizesTimer: NodeJS.Timeout | undefined;
  /** engine handles of the received m-lines, closed with the peer */
  private readonly handles: Track[] = [];
  /** sender SSRC of our RTCP to this publisher */
  private readonly localSsrc = randomSsrc();
  /** kinds muted with `MUTE <kind>`: a track of the kind that starts later starts muted */
  private readonly mutedKinds = new Set<Kind>();
  /** NACK retries: runs only while some track has packets missing (no wake-ups on a clean uplink) */
  private nackTimer: NodeJS.Timeout | undefined;

  constructor(ctx: PeerContext, room: string, fullId: string, offer: PreparedOffer) {
    super(ctx, room, fullId, 'pub');
    this.expectFrom(offer);
    // Receiver reports once a second (RFC 3550 allows 5 % of the session bandwidth; this is far below).
    this.setRepeating(REPORT_INTERVAL_MS, () => {
      for (const t of this.liveTracks()) t.sendReport();
    });
    if (ctx.config.keyframeIntervalMs > 0) {
      this.setRepeating(ctx.config.keyframeIntervalMs, () => {
        // Not for simulcast: one request makes Chromium's VP8 encoder key every layer at once,
        // a burst on every subscriber's path each interval (measured: equal keyframe counts on
        // all three layers); their subscribers' own requests and layer switches ask when needed.
        for (const t of this.liveTracks()) if (!t.info.layers) t.requestKeyframes();
      });
    }
  }

  /** A track found a gap: retry its NACKs every NACK_TICK_MS until nothing is missing. */
  private nacksDue(): void {
    if (this.nackTimer || this.closed) return;
    this.nackTimer = this.setRepeating(NACK_TICK_MS, () => {
      const now = performance.now();
      let missing = 0;
      for (const t of this.tracks) {
        t.tick(now);
        missing += t.missing;
      }
      if (missing === 0) {
        this.clearTimer(this.nackTimer);
        this.nackTimer = undefined;
      }
    });
  }

  /** Throws SdpError before anything changed when the offer's m-lines name a screen share we cannot take. */
  private expectFrom(offer: PreparedOffer, pubs = publishersOfMids(this.fullId, offer.media)): void {
    this.pubOfMid = pubs;
    this.expectedMids = new Set(offer.media.filter((m) => m.direction === 'sendonly' || m.direction === 'sendrecv').map((m) => m.mid));
    this.negotiated = new Map(offer.media.map((m) => [m.mid, m]));
  }

  liveTracks(): UpTrack[] {
    return this.tracks.filter((t) => !t.ended);
  }

  /** The flowing tracks published as `pub` (every one when omitted). */
  private flowingTracks(pub?: string): TrackInfo[] {
    // copies: the room (and, in process, its subscribers) must not see our later changes
    return this.liveTracks()
      .filter((t) => t.flowing && (pub === undefined || this.pubOfTrack.get(t) === pub))
      .map((t) => ({ ...t.info }));
  }

  /** Something of this connection (its own tracks or a screen share) was announced. */
  private anyAnnounced(): boolean {
    if (this.announced) return true;
    for (const s of this.screens.values()) if (s.announced) return true;
    return false;
  }

  protected override onRemoteTrack(track: Track): void {
    if (this.closed) return;
    const mid = track.mid();
    const kind: Kind = track.type() === 'audio' ? 'audio' : 'video';
    // No media handler: RTCP both ways is ours (see up-track.ts).
    this.handles.push(track);
    // One callback per m-line for its whole life. A track ended by silence or by the client's
    // renegotiation comes back as a new track (next trackId) when packets flow again on an
    // m-line the client sends on.
    const cell = { current: this.receive(track, mid, kind) };
    track.onMessage((packet: Buffer) => {
      try {
        this.inbound++;
        let t = cell.current;
        if (t.ended) {
          if (this.closed || !this.expectedMids.has(mid) || isRtcp(packet)) return;
          t = cell.current = this.receive(track, mid, kind);
        }
        t.onPacket(packet);
      } catch (err) {
        this.log.error({ err }, 'media path error');
      }
    });
  }

  private receive(track: Track, mid: string, kind: Kind): UpTrack {
    const m = this.negotiated.get(mid);
    const sim = kind === 'video' ? m?.simulcast : undefined;
    const info = trackInfo(
      kind,
      trackId(kind, this.counters[kind]++),
      m?.codec,
      forwardedExtensions(m?.extensions ?? []),
      sim?.ssrcs.length,
    );
    const pub = this.pubOfMid.get(mid) ?? this.fullId;
    if (pub !== this.fullId && !this.screens.has(pub)) {
      this.screens.set(pub, { fullId: pub, reserved: false, announced: false, chain: Promise.resolve(), gone: false });
    }
    const subject = subjects.track(this.room, pub, kind, info.trackId);
    const up = new UpTrack({
      info,
      mid,
      subject,
      track,
      sender: this.ctx.bus.trackSender(subject),
      localSsrc: this.localSsrc,
      payloadType: m?.payloadType ?? -1,
      ...(m?.rtxPayloadType !== undefined ? { rtx: { payloadType: m.rtxPayloadType, apt: m.payloadType } } : {}),
      ...(sim ? { simulcast: { ...sim, openSender: (s: string) => this.ctx.bus.trackSender(s) }, rates: this.ctx.layerRates } : {}),
      onFlowing: (t) => this.onTrackFlowing(t),
      onKeyframeRequest: (s, h) => this.ctx.bus.onKeyframeRequest(s, h),
      onMissing: () => this.nacksDue(),
      onSizes: () => this.sizesChanged(),
    });
    if (pub === this.fullId && this.mutedKinds.has(kind)) up.setMuted(true);
    if (up.layers.length > 1) this.startDynacast(up);
    this.tracks.push(up);
    this.pubOfTrack.set(up, pub);
    this.log.debug({ mid, track: info.trackId, layers: info.layers, ...(pub !== this.fullId ? { screen: pub } : {}) }, 'track received');
    return up;
  }

  private onTrackFlowing(t: UpTrack): void {
    if (t.info.kind === 'video') {
      // REMB: lets the browser ramp up to our ceiling instead of idling at its start rate.
      t.requestBitrate(this.ctx.config.maxVideoBitrate);
      t.requestKeyframes();
    }
    const flowing = new Set(
      this.liveTracks()
        .filter((x) => x.flowing)
        .map((x) => x.mid),
    );
    const all = [...this.expectedMids].every((mid) => flowing.has(mid));
    if (all || this.anyAnnounced()) {
      this.announce();
    } else if (!this.announceTimer) {
      this.announceTimer = this.setTimer(ANNOUNCE_GRACE_MS, () => this.announce());
    }
  }

  /**
   * Dynacast for a simulcast track: the layers subscribers want (reports of every instance
   * on `lw.…`, keyframe requests) decide which the publisher sends; a change goes to it as
   * `LAYERS <trackId> <mask>` (the SDK sets those encodings active). A publisher without a
   * control channel (WHIP) is told nothing and sends what it sends.
   */
  private startDynacast(up: UpTrack): void {
    const wants = new LayerWants(up.layers.length);
    let timer: NodeJS.Timeout | undefined;
    const apply = (mask: number | undefined) => {
      if (up.ended || this.closed) return;
      if (mask !== undefined) {
        this.send(control.layers(up.info.trackId, mask));
        this.log.debug({ track: up.info.trackId, mask }, 'dynacast layers');
      }
      const next = wants.nextCheck();
      this.clearTimer(timer);
      timer =
        next === undefined ? undefined : this.setTimer(Math.max(0, next - performance.now()), () => apply(wants.update(performance.now())));
    };
    const stop = this.ctx.bus.onLayerWants(up.subject, (from, max) => apply(wants.onReport(from, max, performance.now())));
    up.onLayerKeyframeRequest = (layer) => apply(wants.onKeyframeRequest(layer, performance.now()));
    up.onEnd = () => {
      stop();
      this.clearTimer(timer);
    };
  }

  /**
   * A video layer's picture size changed (its first key frame, or the encoder scaled it):
   * the room is told with the tracks, at most once per SIZES_ANNOUNCE_MS — the sizes of a
   * track's layers arrive within a moment of each other, and an encoder adapting to its CPU
   * may rescale often. Before the first announcement they simply go with it.
   */
  private sizesChanged(): void {
    if (!this.anyAnnounced() || this.sizesTimer) return;
    this.sizesTimer = this.setTimer(SIZES_ANNOUNCE_MS, () => {
      this.sizesTimer = undefined;
      if (this.anyAnnounced()) this.announce();
    });
  }

  /**
   * Writes the flowing tracks to the store and tells the room (PUB_JOIN happens on the
   * subscriber side): our own, and each screen share's under its own id; a screen share
   * with no live track left leaves.
   */
  private announce(): void {
    if (this.closed) return;
    this.clearTimer(this.announceTimer);
    this.announceTimer = undefined;
    for (const s of [...this.screens.values()]) this.announceScreen(s);
    this.ctx.onTracks?.(this, this.flowingTracks());
    const tracks = this.flowingTracks(this.fullId);
    if (tracks.length === 0) return;
    this.announced = true;
    // Store first, so a subscriber joining after the event finds us; the event goes out even
    // when the store is down (it is rewritten when the store returns).
    this.ctx.store
      .setMedia(this.room, this.fullId, tracks)
      .catch((err) => this.log.warn({ err: oneLine(err) }, 'could not record media; the room is told anyway'))
      .then(() => {
        if (!this.closed) this.ctx.bus.publishRoomEvent(this.room, { type: 'pub-join', pub: this.fullId, tracks });
      });
    this.log.info({ tracks: tracks.map((t) => t.trackId) }, 'publishing');
  }

  /**
   * A screen share carried here: reserved in the store like a publisher connection (a
   * second one of the same full id is refused), then its tracks written and the room told;
   * with no live track left it leaves. Its steps run in order on its own chain.
   */
  private announceScreen(s: ScreenShare): void {
    if (s.gone) return;
    const live = this.liveTracks().some((t) => this.pubOfTrack.get(t) === s.fullId);
    if (!live) {
      this.leaveScreen(s);
      return;
    }
    const tracks = this.flowingTracks(s.fullId);
    if (tracks.length === 0) return;
    const { store, bus } = this.ctx;
    s.chain = s.chain.then(async () => {
      if (s.gone || this.closed) return;
      if (!s.reserved) {
        const ok = await store.addPeer('pub', this.room, s.fullId).catch(() => undefined);
        if (ok === false) {
          this.send(control.error(`a publisher with full id ${s.fullId} is already in room ${this.room}`));
          this.endScreen(s.fullId);
          return;
        }
        // store down: published anyway, as for a connection's own tracks (rewritten when it returns)
        s.reserved = ok === true;
      }
      if (s.gone || this.closed) return;
      await store.setMedia(this.room, s.fullId, tracks).catch((err) => this.log.warn({ err: oneLine(err) }, 'could not record media'));
      if (s.gone || this.closed) return;
      s.announced = true;
      bus.publishRoomEvent(this.room, { type: 'pub-join', pub: s.fullId, tracks });
      this.log.info({ screen: s.fullId, tracks: tracks.map((t) => t.trackId) }, 'publishing screen share');
    });
  }

  /** The screen share is over (its tracks ended, or the connection closes): the room is told. */
  private leaveScreen(s: ScreenShare): Promise<void> {
    if (s.gone) return s.chain;
    s.gone = true;
    this.screens.delete(s.fullId);
    const { store, bus } = this.ctx;
    s.chain = s.chain.then(async () => {
      // the store first: a subscriber that hears pub-left and re-reads the room must not find it
      await Promise.allSettled([
        store.removeMedia(this.room, s.fullId),
        s.reserved ? store.removePeer('pub', this.room, s.fullId) : Promise.resolve(),
      ]);
      if (s.announced) bus.publishRoomEvent(this.room, { type: 'pub-left', pub: s.fullId });
      this.log.info({ screen: s.fullId }, 'screen share ended');
    });
    return s.chain;
  }

  /** Ends the screen share `fullId` carried here (admin kick); false when there is none. */
  endScreen(fullId: string): boolean {
    const s = this.screens.get(fullId);
    if (!s) return false;
    // its m-lines stay unused until the client's next offer: packets on them start no new track
    for (const [mid, pub] of this.pubOfMid) if (pub === fullId) this.expectedMids.delete(mid);
    for (const t of this.liveTracks()) if (this.pubOfTrack.get(t) === fullId) t.end();
    this.announce();
    return true;
  }

  override reannounce(): void {
    if (this.closed) return;
    for (const s of this.screens.values()) if (s.announced) this.announceScreen(s);
    if (!this.announced) return;
    const tracks = this.flowingTracks(this.fullId);
    if (tracks.length > 0) this.ctx.bus.publishRoomEvent(this.room, { type: 'pub-join', pub: this.fullId, tracks });
  }

  protected override onControlOpen(): void {
    // Nothing to push: a publisher only renegotiates when it asks to.
  }

  protected override onCommand(command: Exclude<ClientCommand, { cmd: 'STOP' | 'DATA' | 'SET_INFO' | 'PING' }>): void {
    if (command.cmd === 'MUTE' || command.cmd === 'UNMUTE') {
      this.mute(command.target, command.cmd === 'MUTE');
      return;
    }
    if (command.cmd !== 'SDP_OFFER') {
      this.send(control.error(`${command.cmd} is not expected from a publisher`));
      return;
    }
    let offer: PreparedOffer;
    let pubs: Map<string, string>;
    try {
      offer = prepareOffer(command.sdp);
      if (offer.media.some((m) => m.direction === 'recvonly')) throw new SdpError('publisher m= lines must be sendonly');
      pubs = publishersOfMids(this.fullId, offer.media);
      this.pc.setRemoteDescription(offer.sdp, 'offer');
    } catch (err) {
      // Refused before anything changed: the session goes on as it was.
      this.log.warn({ reason: oneLine(err) }, 'SDP_OFFER refused');
      this.log.debug({ sdp: command.sdp }, 'refused SDP_OFFER');
      this.send(control.error(err instanceof SdpError ? err.message : `renegotiation failed: ${oneLine(err)}`));
      return;
    }
    try {
      this.pc.setLocalDescription('answer');
      const answer = this.pc.localDescription();
      if (!answer) throw new Error('engine produced no answer');
      this.expectFrom(offer, pubs);
      // Tracks whose m-line the client stopped sending on, or now sends as another publisher, are ended.
      let changed = false;
      for (const t of this.liveTracks()) {
        if (!this.expectedMids.has(t.mid) || this.pubOfMid.get(t.mid) !== this.pubOfTrack.get(t)) {
          t.end();
          changed = true;
        }
      }
      this.send(control.sdpAnswer(announcePublicIp(answerInactive(answer.sdp, offer.media), this.ctx.config.publicIp)));
      if (changed && this.anyAnnounced()) this.announce();
      this.log.info('publisher renegotiated');
    } catch (err) {
      // The offer is applied but could not be answered: the connection is stuck half way.
      this.send(control.error(`renegotiation failed: ${oneLine(err)}`));
      this.close('negotiation-failed');
    }
  }

  /**
   * `MUTE`/`UNMUTE` of a kind (every live track of it, and later ones) or of one track id.
   * The room is told with the tracks (store and pub-join): every subscriber, on any instance.
   */
  private mute(target: string, muted: boolean): void {
    const kind = target === 'audio' || target === 'video' ? target : undefined;
    // a kind is the camera's (and mic's): a screen share carried here is muted by its track id
    const hit = this.liveTracks().filter((t) =>
      kind ? t.info.kind === kind && this.pubOfTrack.get(t) === this.fullId : t.info.trackId === target,
    );
    if (kind) {
      if (muted) this.mutedKinds.add(kind);
      else this.mutedKinds.delete(kind);
    } else if (hit.length === 0) {
      this.send(control.error(`${muted ? 'MUTE' : 'UNMUTE'}: no track ${target} is published here`));
      return;
    }
    let changed = false;
    for (const t of hit) {
      if (t.muted === muted) continue;
      t.setMuted(muted);
      changed = true;
    }
    if (!changed) return;
    this.log.info({ target, muted }, muted ? 'muted' : 'unmuted');
    if (this.anyAnnounced()) this.announce();
  }

  protected override silenceLimitMs(): number | undefined {
    return this.tracks.length > 0 ? this.ctx.config.mediaTimeoutMs : undefined;
  }

  override sweep(now: number): void {
    super.sweep(now);
    if (this.closed) return;
    // A track is ended for silence only while the peer still sends something else: when
    // everything stopped it is a path outage (or a dead peer), which the peer's silence
    // limit (--media-timeout) judges as a whole. Ending the tracks of a 10 s outage would
    // tear down a session that is about to come back.
    if (this.quietForMs(now) >= PEER_QUIET_MS) return;
    let ended = false;
    for (const t of this.liveTracks()) {
      // A muted track may be silent (the SDK stops sending it), and is given the usual
      // silence again from its unmute: it is not ended for that.
      if (!t.muted && now - t.unmutedAt > TRACK_SILENCE_MS && t.stats.silentFor(now, TRACK_SILENCE_MS)) {
        t.end();
        ended = true;
        this.log.info({ track: t.info.trackId }, 'track silent, ended');
      }
    }
    if (ended && this.anyAnnounced()) {
      if (this.liveTracks().some((t) => t.flowing)) this.announce();
      else this.close('media-timeout');
    }
  }

  override traffic(): Traffic {
    const t = emptyTraffic();
    for (const up of this.tracks) {
      t.receivedPackets += up.packets;
      t.keyframeRequests += up.pliSent;
      for (const { nack } of up.layers) {
        if (!nack) continue;
        t.nacksSent += nack.requested;
        t.recoveredPackets += nack.recovered;
        t.unrecoveredPackets += nack.gaveUp;
      }
    }
    return t;
  }

  override countTracks(tally: TrackTally): void {
    for (const t of this.liveTracks()) if (t.flowing) tally.published[t.info.kind]++;
  }

  override receivedByKind(): Record<Kind, number> {
    const out = { audio: 0, video: 0 };
    for (const t of this.tracks) out[t.info.kind] += t.packets;
    return out;
  }

  protected override async release(reason: CloseReason): Promise<void> {
    for (const t of this.tracks) t.end();
    // Releases node-datachannel's references to our callbacks, so this peer can be collected.
    for (const h of this.handles) {
      try {
        h.close();
      } catch {
        // already closed
      }
    }
    const { store, bus } = this.ctx;
    const screens = [...this.screens.values()].map((s) => this.leaveScreen(s));
    // The store first: a subscriber that hears pub-left and re-reads the room must not find it.
    await Promise.allSettled([store.removeMedia(this.room, this.fullId), store.removePeer('pub', this.room, this.fullId), ...screens]);
    if (this.announced) bus.publishRoomEvent(this.room, { type: 'pub-left', pub: this.fullId });
    this.log.info({ reason, packets: this.tracks.reduce((n, t) => n + t.packets, 0) }, 'publisher left');
  }
}
