/**
 * The SFU of one instance: creates publishers and subscribers, knows them by session
 * and by (role, room, full id), and runs the one sweep timer that watches them all.
 */
import { randomBytes } from 'node:crypto';
import type { InfoUpdate, Role, SubscribeMode, TrackInfo } from 'weever-protocol';
import type { Bus } from '../bus/bus.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/log.js';
import type { StateStore } from '../state/store.js';
import { ActiveSpeakers } from './active-speakers.js';
import { ControlSubscriber } from './control-subscriber.js';
import { DataRelay } from './data-relay.js';
import type { MediaEngine } from './engine.js';
import { BadOfferError, DrainingError, DuplicatePeerError, OverloadedError, oneLine, SfuError, StoreUnavailableError } from './errors.js';
import { LayerRates } from './layer-rates.js';
import { Participants } from './participants.js';
import { addTraffic, type CloseReason, emptyTraffic, type Peer, type PeerContext, type TrackTally, type Traffic } from './peer.js';
import { Publisher } from './publisher.js';
import type { RoomHappening } from './room-happening.js';
import { prepareOffer } from './sdp.js';
import { Subscriber } from './subscriber.js';
import { WhepSubscriber } from './whep-subscriber.js';

/** An instance with no peer this long lets its engine sleep (issue 22: idle CPU). */
const ENGINE_SLEEP_AFTER_MS = 10_000;

export interface ConnectOptions {
  /** per-publisher WHEP endpoint: play only this publisher (id or full id) */
  whepTarget?: string;
  /** the participant's name and attributes from its token */
  info?: InfoUpdate;
  /** false: the token forbids SET_INFO */
  canUpdateInfo?: boolean;
  /** a control-channel subscriber's starting mode (default auto) */
  subscribe?: SubscribeMode;
}

export interface Connected {
  answer: string;
  sessionId: string;
  /** ETag of the session resource */
  etag: string;
}

export class Sfu {
  private readonly sessions = new Map<string, Peer>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly ctx: PeerContext;
  readonly speakers: ActiveSpeakers;
  readonly participants: Participants;
  /** sessions that joined (answered): their participant leaves when they are released */
  private readonly joined = new Set<string>();
  draining = false;
  /** requests refused before any state was touched, by reason (metrics) */
  readonly refusals = { pending: 0 };
  /** traffic of peers that have closed, so the totals only grow */
  private readonly closedTraffic = emptyTraffic();
  private idleWaiters: (() => void)[] = [];
  /** cleanups of closed peers still running (store removal, pub-left): shutdown waits for them */
  private readonly cleanups = new Set<Promise<void>>();
  /** set once (webhooks): room events of this instance, per room in the order they happened */
  private listener: ((h: RoomHappening) => void) | undefined;
  /** per room, the tail of its chain of reports: a report waits for the store calls of the one before */
  private readonly reports = new Map<string, Promise<void>>();
  /** sessions reported joined, with the tracks reported published */
  private readonly reported = new Map<string, readonly TrackInfo[]>();
  private readonly stopKicks: () => void;
  /** connects between their first line and their session (or their failure) */
  private connecting = 0;
  private engineSleep: NodeJS.Timeout | undefined;

  constructor(
    readonly config: Config,
    readonly engine: MediaEngine,
    readonly store: StateStore,
    readonly bus: Bus,
    readonly log: Logger,
    onRenegotiated: (seconds: number) => void = () => {},
    onLayerSwitch: (seconds: number) => void = () => {},
  ) {
    this.speakers = new ActiveSpeakers(bus, store, log, { thresholdDbov: config.speakerThresholdDbov });
    this.participants = new Participants(bus, store, log);
    this.ctx = {
      participants: this.participants,
      data: new DataRelay(bus),
      config,
      engine,
      store,
      bus,
      log,
      speakers: this.speakers,
      layerRates: new LayerRates(),
      onClosed: (peer, reason) => this.onClosed(peer, reason),
      onTracks: (peer, tracks) => this.onTracks(peer, tracks),
      onPresence: (peer, away) => {
        if (this.joined.has(peer.sessionId)) void this.participants.setAway(peer.room, peer.fullId, away);
      },
      onRenegotiated,
      onLayerSwitch,
      onLayerWantsChanged: () => {
        if (this.wantsDue) return;
        this.wantsDue = true;
        setImmediate(() => {
          if (this.wantsDue) this.reportLayerWants();
        });
      },
    };
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
    this.stopKicks = bus.onKick((room, fullId) => this.kickLocal(room, fullId));
    this.wakeIdle(); // no peer yet: the engine sleeps soon
  }

  /** Room events go to `listener` from now on (one listener: the webhooks). */
  onHappening(listener: (h: RoomHappening) => void): void {
    this.listener = listener;
  }

  // Runs `step` after the room's previous report; `step` returns what to report, in order.
  private report(room: string, step: () => Promise<RoomHappening[]> | RoomHappening[]): void {
    const listener = this.listener;
    if (!listener) return;
    const tail = (this.reports.get(room) ?? Promise.resolve()).then(step).then(
      (hs) => {
        for (const h of hs) listener(h);
      },
      (err) => this.log.warn({ err: oneLine(err), room }, 'could not report a room event'),
    );
    this.reports.set(room, tail);
    void tail.finally(() => {
      if (this.reports.get(room) === tail) this.reports.delete(room);
    });
  }

  private onJoined(peer: Peer): void {
    if (!this.listener) return;
    this.reported.set(peer.sessionId, []);
    const participant = { id: peer.fullId, role: peer.role };
    this.report(peer.room, async () => {
      // The first peer of the room on any instance sets the mark (atomic in the store).
      const started = await this.store.markRoom(peer.room).catch(() => false);
      const out: RoomHappening[] = started ? [{ event: 'room_started', room: peer.room }] : [];
      out.push({ event: 'participant_joined', room: peer.room, participant });
      return out;
    });
  }

  private onTracks(peer: Peer, tracks: readonly TrackInfo[]): void {
    const before = this.reported.get(peer.sessionId);
    if (!before || peer.closed) return;
    this.reported.set(peer.sessionId, tracks);
    const participant = { id: peer.fullId, role: peer.role };
    const has = (list: readonly TrackInfo[], t: TrackInfo) => list.some((x) => x.trackId === t.trackId);
    const hs: RoomHappening[] = [];
    for (const t of before) if (!has(tracks, t)) hs.push({ event: 'track_unpublished', room: peer.room, participant, track: trackOf(t) });
    for (const t of tracks) if (!has(before, t)) hs.push({ event: 'track_published', room: peer.room, participant, track: trackOf(t) });
    if (hs.length > 0) this.report(peer.room, () => hs);
  }

  // After the peer's store entries are gone: the last peer of the room (any instance) finishes it.
  private onLeft(peer: Peer): void {
    const tracks = this.reported.get(peer.sessionId);
    if (!tracks) return;
    this.reported.delete(peer.sessionId);
    const participant = { id: peer.fullId, role: peer.role };
    this.report(peer.room, async () => {
      const out: RoomHappening[] = tracks.map((t) => ({ event: 'track_unpublished', room: peer.room, participant, track: trackOf(t) }));
      out.push({ event: 'participant_left', room: peer.room, participant });
      if (await this.store.unmarkRoomIfEmpty(peer.room).catch(() => false)) out.push({ event: 'room_finished', room: peer.room });
      return out;
    });
  }

  /**
   * Ends the sessions of `fullId` in `room` wherever they are (admin): on this instance now,
   * on the others through the bus.
   */
  kick(room: string, fullId: string): void {
    this.bus.publishKick(room, fullId);
  }

  private kickLocal(room: string, fullId: string): void {
    for (const p of [...this.sessions.values()]) {
      if (p.room !== room) continue;
      if (p.fullId === fullId) {
        p.log.info('kicked (admin)');
        void p.close('kicked');
      } else if (p instanceof Publisher && p.endScreen(fullId)) {
        p.log.info({ screen: fullId }, 'screen share kicked (admin)');
      }
    }
  }

  /**
   * Connects a peer from its complete offer. Two modes per role: with the `control` data
   * channel (ours), or without it — a plain WHIP publisher, or a WHEP player whose offer
   * carries recvonly m-lines and gets the room's media in the answer.
   */
  async connect(role: Role, room: string, fullId: string, offerSdp: string, opts: ConnectOptions = {}): Promise<Connected> {
    if (this.draining) throw new DrainingError();
    clearTimeout(this.engineSleep);
    this.engine.wake();
    this.connecting++;
    try {
      return await this.connectPeer(role, room, fullId, offerSdp, opts);
    } finally {
      this.connecting--;
      this.wakeIdle();
    }
  }

  private async connectPeer(role: Role, room: string, fullId: string, offerSdp: string, opts: ConnectOptions): Promise<Connected> {
    const offer = prepareOffer(offerSdp, role === 'sub');
    // Each session that has not connected holds engine threads' work and memory until its
    // connect timeout: their number is bounded, so a flood of offers cannot exhaust us.
    let pending = 0;
    for (const p of this.sessions.values()) if (p.connecting) pending++;
    if (pending >= this.config.maxPendingSessions) {
      this.refusals.pending++;
      throw new OverloadedError(`too many sessions are connecting (${pending}); try again shortly`, 1);
    }
    if (role === 'pub' && offer.media.length === 0) throw new BadOfferError('publisher offer has no audio or video m= line');
    if (role === 'pub' && offer.media.some((m) => m.direction === 'recvonly')) {
      throw new BadOfferError('publisher m= lines must be sendonly');
    }
    const whep = role === 'sub' && offer.media.length > 0;
    if (whep && offer.hasDataChannel) {
      throw new BadOfferError('subscriber offer must carry either only the data channel, or only recvonly audio/video (WHEP)');
    }
    if (role === 'sub' && !whep && !offer.hasDataChannel) {
      throw new BadOfferError('subscriber offer has neither a data channel nor recvonly audio/video m= lines');
    }
    if (whep && offer.media.some((m) => m.direction === 'sendonly')) {
      throw new BadOfferError('subscriber m= lines must be recvonly (WHEP); to send, POST to /pub');
    }
    if (whep && !offer.media.some((m) => m.codecs.length > 0)) {
      throw new BadOfferError('no m= line offers a codec we forward (opus, VP8, H264 with packetization-mode=1)');
    }
    if (opts.whepTarget !== undefined && !whep) throw new BadOfferError('WHEP offer must carry recvonly audio/video m= lines');
    let reserved: boolean;
    try {
      reserved = await this.store.addPeer(role, room, fullId);
    } catch (err) {
      this.log.error({ err }, 'state store unavailable');
      throw new StoreUnavailableError();
    }
    if (!reserved)
      throw new DuplicatePeerError(`a ${role === 'pub' ? 'publisher' : 'subscriber'} with full id ${fullId} is already in room ${room}`);
    if (this.draining) {
      // drain (or close) began while the reservation was in flight
      await this.store.removePeer(role, room, fullId).catch(() => {});
      throw new DrainingError();
    }
    let peer: Peer;
    try {
      peer =
        role === 'pub'
          ? new Publisher(this.ctx, room, fullId, offer)
          : whep
            ? new WhepSubscriber(this.ctx, room, fullId, {
                media: offer.media,
                ...(opts.whepTarget !== undefined ? { target: opts.whepTarget } : {}),
              })
            : new ControlSubscriber(this.ctx, room, fullId, offer.mids, opts.subscribe);
    } catch (err) {
      await this.store.removePeer(role, room, fullId);
      throw err;
    }
    this.sessions.set(peer.sessionId, peer);
    try {
      const answer = await peer.answer(offer.sdp);
      if (peer.closed) throw new BadOfferError('connection closed while answering');
      peer.log.info('joined');
      if (opts.canUpdateInfo === false) peer.canUpdateInfo = false;
      this.joined.add(peer.sessionId);
      void this.participants.connected(room, fullId, opts.info);
      this.onJoined(peer);
      peer.log.debug({ offer: offer.sdp, answer }, 'sdp');
      return { answer, sessionId: peer.sessionId, etag: peer.etag };
    } catch (err) {
      await peer.close('bad-offer');
      if (err instanceof SfuError) throw err;
      throw new BadOfferError(`offer rejected by the WebRTC engine: ${oneLine(err)}`);
    }
  }

  session(id: string): Peer | undefined {
    return this.sessions.get(id);
  }

  peers(): IterableIterator<Peer> {
    return this.sessions.values();
  }

  private onClosed(peer: Peer, reason: CloseReason): void {
    this.sessions.delete(peer.sessionId);
    const t = peer.traffic();
    addTraffic(this.closedTraffic, t);
    peer.log.debug({ reason }, 'closed');
    const cleanup = peer.released();
    this.cleanups.add(cleanup);
    void cleanup.finally(() => {
      if (this.joined.delete(peer.sessionId)) void this.participants.disconnected(peer.room, peer.fullId);
      this.onLeft(peer);
      this.cleanups.delete(cleanup);
      this.wakeIdle();
    });
  }

  private wakeIdle(): void {
    if (this.sessions.size !== 0 || this.cleanups.size !== 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
    if (this.connecting !== 0) return;
    // No peer for a while: the engine's threads stop (engine.ts, sleep) until the next one.
    clearTimeout(this.engineSleep);
    this.engineSleep = setTimeout(() => {
      if (this.sessions.size === 0 && this.cleanups.size === 0 && this.connecting === 0) this.engine.sleep();
    }, ENGINE_SLEEP_AFTER_MS);
    this.engineSleep.unref();
  }

  /** Resolves when no peer is left and every closed peer has finished its cleanup. */
  idle(): Promise<void> {
    if (this.sessions.size === 0 && this.cleanups.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Peers on this instance per room and role (metrics). */
  peersByRoom(): Map<string, Record<Role, number>> {
    const out = new Map<string, Record<Role, number>>();
    for (const p of this.sessions.values()) {
      let c = out.get(p.room);
      if (!c) {
        c = { pub: 0, sub: 0 };
        out.set(p.room, c);
      }
      c[p.role]++;
    }
    return out;
  }

  /** Live tracks by kind: received from publishers, forwarded to subscribers (metrics). */
  tracks(): TrackTally {
    const tally: TrackTally = { published: { audio: 0, video: 0 }, forwarded: { audio: 0, video: 0 } };
    for (const p of this.sessions.values()) p.countTracks(tally);
    return tally;
  }

  /** The same per room, for the rooms with a peer here (metrics). */
  tracksByRoom(): Map<string, TrackTally> {
    const out = new Map<string, TrackTally>();
    for (const p of this.sessions.values()) {
      let tally = out.get(p.room);
      if (!tally) {
        tally = { published: { audio: 0, video: 0 }, forwarded: { audio: 0, video: 0 } };
        out.set(p.room, tally);
      }
      p.countTracks(tally);
    }
    return out;
  }

  private sweep(): void {
    const now = Date.now();
    for (const peer of this.sessions.values()) {
      try {
        peer.sweep(now);
      } catch (err) {
        peer.log.error({ err }, 'sweep failed');
      }
    }
    this.reportLayerWants();
  }

  /**
   * Dynacast: to each simulcast track's publisher instance, the highest layer subscribers
   * here want of it (every second, and soon after a subscriber's caps changed).
   */
  private reportLayerWants(): void {
    this.wantsDue = false;
    const wants = new Map<string, number>();
    for (const peer of this.sessions.values()) if (peer instanceof Subscriber) peer.layerWants(wants);
    for (const [subject, max] of wants) this.bus.publishLayerWants(subject, this.instanceId, max);
  }
  private wantsDue = false;
  /** names this instance in its dynacast reports */
  private readonly instanceId = randomBytes(6).toString('hex');

  /** After the state store came back: tells the rooms again about our publishers (idempotent for subscribers). */
  reannounce(): void {
    for (const p of this.sessions.values()) p.reannounce();
  }

  /** null when this instance can take new peers, else why not (readiness). */
  notReady(): string | null {
    if (this.draining) return 'BUSY';
    if (!this.engine.healthy()) return 'media engine wedged';
    return this.store.health() ?? this.bus.health();
  }

  /** Counts of what the instance holds; zero everywhere when no peer is left. */
  resources(): { peers: number; timers: number; bus: ReturnType<Bus['stats']> } {
    let timers = 0;
    for (const p of this.sessions.values()) timers += p.timerCount;
    return { peers: this.sessions.size, timers, bus: this.bus.stats() };
  }

  /** Packets received, forwarded and repaired since start (monotonic). */
  traffic(): Traffic {
    const total = { ...this.closedTraffic };
    for (const p of this.sessions.values()) addTraffic(total, p.traffic());
    return total;
  }

  /**
   * RTP packets received per publisher of `room` on this instance, per kind (ended tracks
   * included): what a load generator compares with what it sent, to tell input loss
   * (publisher → server) from output loss.
   */
  roomTraffic(room: string): Record<string, { audio: number; video: number }> {
    const out: Record<string, { audio: number; video: number }> = {};
    for (const p of this.sessions.values()) {
      const received = p.room === room ? p.receivedByKind() : undefined;
      if (received) out[p.fullId] = received;
    }
    return out;
  }

  /** RTP packets each subscriber of `room` here was sent, per publisher track (debug API). */
  roomForwarded(room: string): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const p of this.sessions.values()) {
      const sent = p.room === room ? p.forwardedByTrack() : undefined;
      if (sent) out[p.fullId] = sent;
    }
    return out;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.stopKicks();
    clearTimeout(this.engineSleep);
    this.draining = true;
    await Promise.all([...this.sessions.values()].map((p) => p.close('shutdown')));
    // and peers that closed just before: their pub-left must go out before the bus closes
    await Promise.allSettled([...this.cleanups]);
    await this.participants.settled();
    this.speakers.close();
    // the last reports (room_finished) after the cleanups above
    await Promise.allSettled([...this.reports.values()]);
  }
}

const trackOf = (t: TrackInfo): { id: string; kind: TrackInfo['kind']; codec?: string } =>
  t.codec !== undefined ? { id: t.trackId, kind: t.kind, codec: t.codec } : { id: t.trackId, kind: t.kind };
