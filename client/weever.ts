/**
 * Weever Streaming browser SDK: one `WeeverClient` per user and room. It publishes the
 * camera/mic as `<id>+<suffix>` and the screen as `<id>-screen+<suffix>`, subscribes to
 * everyone else over one connection, and reconnects by itself when a connection is lost.
 *
 *   const room = new WeeverClient({ url: 'https://sfu.example.com', room: 'r1', id: 'alice' });
 *   room.on('stream', ({ stream, id }) => show(id, stream));
 *   await room.publish({ video: true, audio: true });
 *   await room.subscribe();
 */
import {
  checkInfoUpdate,
  control,
  type DataPayload,
  type DataRequest,
  type InfoUpdate,
  KINDS,
  type Kind,
  MAX_DATA_PAYLOAD,
  mergeInfo,
  type Participant,
  payloadBytes,
  sameParticipant,
  VIDEO_QUALITIES,
  type VideoQuality,
} from 'weever-protocol';
import { Connection, DISCONNECT_GRACE_MS } from './connection.js';
import { Emitter } from './emitter.js';
import { WeeverError } from './errors.js';
import { newFullId, type PublisherInfo, type PublisherKind, publisherInfo, screenIdOf } from './ids.js';
import { collect, grade, type IcePath, type StreamStats, selectedPath } from './stats.js';

/** The control-message encoders and parser, for code that speaks on `Connection.dc` itself. */
export {
  type ActiveSpeaker as ActiveSpeakerEntry,
  control,
  type DataPayload,
  type InfoUpdate,
  type Parsed,
  type Participant,
  type ParticipantConnection,
  parseServerMessage,
  type ServerMessage,
  type VideoQuality,
} from 'weever-protocol';
export {
  Connection,
  type ConnectionHandlers,
  type ConnectionOptions,
  DISCONNECT_GRACE_MS,
  fetchIceServers,
  type Role,
} from './connection.js';
export { WeeverError, type WeeverErrorCode } from './errors.js';
export { newFullId, type PublisherInfo, type PublisherKind, publisherInfo, screenIdOf } from './ids.js';
export type { IcePath, KindStats, Quality, StreamStats } from './stats.js';

/**
 * How long one connection attempt may take from the POST's answer until `control` opens.
 * Under the server's connect timeout (15 s), so the server never drops an attempt the SDK
 * still waits on: during a path outage (HTTP up, media path down) attempts follow one
 * another, each ready to connect the moment the path is back.
 */
const CONNECT_ATTEMPT_MS = 10_000;

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'closed';

export interface ReconnectOptions {
  /** first delay before trying again (ms), doubled per failed attempt; default 250 */
  initialDelayMs?: number;
  /** longest delay between attempts (ms); default 2000 (short: media is back soon after a path outage ends) */
  maxDelayMs?: number;
  /** attempts before giving up (state `failed`); default Infinity */
  maxAttempts?: number;
}

export interface WeeverOptions {
  /** base URL of the server's public API; default: the page's origin */
  url?: string;
  room: string;
  /** your user id (no `+`: the SDK appends a random suffix per connection) */
  id: string;
  /** bearer token, when the server runs with --auth */
  token?: string;
  /**
   * STUN/TURN servers for the browser side. Left out: before each connection's offer the
   * SDK asks the server (`GET /ice-servers/…`), which hands out its configured servers
   * with fresh short-lived TURN credentials.
   */
  iceServers?: RTCIceServer[];
  /** `'relay'`: only TURN-relayed paths (to check a relay works); default `'all'` */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** `false` turns automatic reconnection off */
  reconnect?: boolean | ReconnectOptions;
  /**
   * how long a connection may stay ICE-`disconnected` (a path outage) before it is
   * replaced by a new one (ms); default 12000. Shorter outages resume on the same session.
   */
  disconnectGraceMs?: number;
  /**
   * Camera video in simulcast layers (¼, ½ and full size), so each subscriber gets the
   * layer its path carries; default true. Screen shares are always sent at full size.
   */
  simulcast?: boolean;
}

export interface RemoteStream extends PublisherInfo {
  stream: MediaStream;
}

/** A publisher of the room that is speaking now. */
export interface ActiveSpeaker extends PublisherInfo {
  /** its smoothed audio level, dBov: -127 (silence) … 0 (loudest) */
  level: number;
  /** one of our own publishers (the server ranks the whole room, us included) */
  local: boolean;
}

export interface WeeverEvents {
  publisherJoined: PublisherInfo;
  publisherLeft: PublisherInfo;
  /** a remote publisher's media: `stream.id` is its full id; tracks may be added to it later */
  stream: RemoteStream;
  connectionState: { state: ConnectionState; previous: ConnectionState; reason?: string };
  error: WeeverError;
  /**
   * Who is speaking, loudest first (an empty list: nobody). Sent by the server when the
   * ranking changes, at most 4 times a second; needs `subscribe()`. Our own publishers are
   * ranked too (`local: true`).
   */
  activeSpeakers: { speakers: ActiveSpeaker[] };
  /** the screen share stopped (the user ended it in the browser UI, or `unpublishScreen()`) */
  screenShareEnded: { fullId: string };
  /** a participant (one per user id, us included) joined the room; needs `subscribe()` */
  participantJoined: Participant;
  /** its name, attributes or connections changed */
  participantUpdated: Participant;
  /** its last connection left */
  participantLeft: Participant;
  /** a data message from another participant (`from`: its user id, set by the server); needs `subscribe()` */
  data: DataMessage;
  /** a remote publisher muted a track (`setMuted`): nothing of it arrives until `trackUnmuted` */
  trackMuted: MuteEvent;
  trackUnmuted: MuteEvent;
}

/** Which remote track was muted or unmuted. */
export interface MuteEvent extends PublisherInfo {
  /** the server's track id (`audio0`, `video0`, …), as in the track's msid */
  trackId: string;
  trackKind: 'audio' | 'video';
}

/** A data message as received. */
export interface DataMessage {
  /** the sender's user id (the server's, never the sender's claim) */
  from: string;
  /** text stays text, bytes stay bytes */
  payload: DataPayload;
  topic?: string;
  /** present when it was sent to named participants */
  to?: string[];
}

export interface SendOptions {
  /** user ids of the participants to send to; default everyone else in the room */
  to?: string[];
  topic?: string;
  /** false: unordered and without retransmission (the `lossy` channel); default true */
  reliable?: boolean;
}

type LinkKind = PublisherKind | 'subscriber';

/** One of our three possible connections, kept alive across reconnects. */
interface Link {
  /** also the link's key in `links`; the role follows from it */
  kind: LinkKind;
  /** id used in the full id: `alice` or `alice-screen` */
  id: string;
  stream: MediaStream | null;
  conn: Connection | null;
  state: 'connecting' | 'connected' | 'reconnecting' | 'failed';
}

export class WeeverClient extends Emitter<WeeverEvents> {
  readonly room: string;
  readonly id: string;
  private readonly url: string;
  private readonly token: string | undefined;
  private readonly iceServers: RTCIceServer[] | undefined;
  private readonly iceTransportPolicy: RTCIceTransportPolicy | undefined;
  private readonly reconnectOpts: Required<ReconnectOptions> | null;
  private readonly disconnectGraceMs: number;
  private readonly simulcast: boolean;
  /** subscribe({ auto: false }): only what subscribeTo asked for is received */
  private manual = false;
  /** subscribeTo's choices, by participant id: the kinds of its camera and screen */
  private readonly chosen = new Map<string, Set<Kind>>();
  /** setVideoSize's sizes (device pixels), by `<kind> <participant id>` */
  private readonly viewSizes = new Map<string, { width: number; height: number }>();
  /** setVideoQuality's caps, by publisher user id */
  private readonly qualities = new Map<string, VideoQuality>();
  private readonly links = new Map<LinkKind, Link>();
  /** the screen share carried on the camera connection (then there is no `screen` link) */
  private screenOnCamera: { stream: MediaStream; fullId: string } | null = null;
  /** publishers seen by the subscriber connection, by full id */
  private readonly remote = new Map<string, { info: PublisherInfo; joined: boolean; stream: MediaStream | null }>();
  /** per stream: the sample the quality hint is graded against, and when it was taken */
  private readonly previousStats = new Map<string, { stats: StreamStats; at: number }>();
  private speakers: ActiveSpeaker[] = [];
  /** the room's participants by user id, as the subscriber connection was told */
  private readonly people = new Map<string, Participant>();
  /** remote tracks muted now: `<pubFullId> <trackId>` */
  private readonly remoteMuted = new Set<string>();
  /** our kinds muted with setMuted, told again on every new camera connection */
  private readonly ownMuted = new Set<'audio' | 'video'>();
  /** what setInfo set, sent again on every new connection */
  private ownInfo: InfoUpdate | undefined;
  private state: ConnectionState = 'new';
  private closed = false;
  /** pending backoff sleeps, cut short by close() */
  private readonly wakers = new Set<() => void>();
  private readonly onPageHide = () => {
    for (const l of this.links.values()) l.conn?.dispose();
  };

  constructor(opts: WeeverOptions) {
    super();
    if (opts.id.includes('+')) throw new WeeverError(0, 'id must not contain "+": the SDK adds the per-connection suffix', 'bad-request');
    this.room = opts.room;
    this.id = opts.id;
    this.url = opts.url ?? globalThis.location?.origin ?? '';
    this.token = opts.token;
    this.iceServers = opts.iceServers;
    this.iceTransportPolicy = opts.iceTransportPolicy;
    this.disconnectGraceMs = opts.disconnectGraceMs ?? DISCONNECT_GRACE_MS;
    this.simulcast = opts.simulcast ?? true;
    this.reconnectOpts =
      opts.reconnect === false
        ? null
        : {
            initialDelayMs: 250,
            maxDelayMs: 2000,
            maxAttempts: Number.POSITIVE_INFINITY,
            ...(opts.reconnect === true ? {} : opts.reconnect),
          };
    globalThis.addEventListener?.('pagehide', this.onPageHide);
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** our camera/mic stream, once published */
  get localStream(): MediaStream | null {
    return this.links.get('camera')?.stream ?? null;
  }

  get screenStream(): MediaStream | null {
    return this.screenOnCamera?.stream ?? this.links.get('screen')?.stream ?? null;
  }

  /** full ids of our current connections (they change on every reconnect) */
  get fullIds(): { camera?: string; screen?: string; subscriber?: string } {
    const out: { camera?: string; screen?: string; subscriber?: string } = {};
    for (const [k, l] of this.links) if (l.conn) out[k] = l.conn.fullId;
    if (this.screenOnCamera && this.links.get('camera')?.conn) out.screen = this.screenOnCamera.fullId;
    return out;
  }

  /** the remote publishers currently known, with their stream once media arrived */
  get publishers(): RemoteStream[] {
    return [...this.remote.values()].filter((r) => r.stream).map((r) => ({ ...r.info, stream: r.stream! }));
  }

  /** the room's participants by user id (us included), once `subscribe()` connected */
  get participants(): ReadonlyMap<string, Participant> {
    return this.people;
  }

  /**
   * Sends a data message to the room (or `to` named participants): text or bytes, at most
   * 16 KiB. The server stamps our user id as its sender; a refusal (size, rate) comes back
   * as an `error` event. Throws when it is too large or no connection is open.
   */
  send(payload: DataPayload, opts: SendOptions = {}): void {
    const size = payloadBytes(payload);
    if (size > MAX_DATA_PAYLOAD)
      throw new WeeverError(0, `data message too large (${size} bytes, limit ${MAX_DATA_PAYLOAD})`, 'bad-request');
    const r: DataRequest = { payload };
    if (opts.to) r.to = opts.to;
    if (opts.topic !== undefined) r.topic = opts.topic;
    for (const kind of ['subscriber', 'camera', 'screen'] as const) {
      if (this.links.get(kind)?.conn?.sendData(r, opts.reliable === false)) return;
    }
    throw new WeeverError(0, 'no connection is open: publish() or subscribe() first', 'protocol');
  }

  /**
   * Sets our name and/or attributes (merged; `null` removes an attribute), for everyone in
   * the room (`participantUpdated`). Kept, and set again after a reconnect.
   */
  setInfo(update: InfoUpdate): void {
    const valid = checkInfoUpdate(update);
    if (!valid.ok) throw new WeeverError(0, valid.error, 'bad-request');
    const next: InfoUpdate = {
      ...this.ownInfo,
      ...(update.name !== undefined ? { name: update.name } : {}),
      attributes: { ...this.ownInfo?.attributes, ...update.attributes },
    };
    const checked = mergeInfo({ name: this.id, attributes: {} }, next);
    if (!checked.ok) throw new WeeverError(0, checked.error, 'bad-request');
    this.ownInfo = next; // removals stay as null, so a reconnect removes them again
    for (const l of this.links.values()) if (l.conn?.sendControl(control.setInfo(update))) return;
  }

  /** who is speaking now, loudest first (the last `activeSpeakers` event) */
  get activeSpeakers(): ActiveSpeaker[] {
    return [...this.speakers];
  }

  /**
   * Publishes camera and/or microphone: a MediaStream you already have, or constraints
   * for getUserMedia (default `{ audio: true, video: true }`). Resolves with the stream sent.
   */
  async publish(source: MediaStream | MediaStreamConstraints = { audio: true, video: true }): Promise<MediaStream> {
    const stream = source instanceof MediaStream ? source : await media(() => navigator.mediaDevices.getUserMedia(source));
    await this.start('camera', this.id, stream);
    return stream;
  }

  /**
   * Shares the screen as publisher `<id>-screen+<suffix>`: on the camera's connection when
   * the camera is published (its tracks are added by renegotiation), else on a connection
   * of its own. Resolves with the stream sent.
   */
  async publishScreen(source: MediaStream | DisplayMediaStreamOptions = { video: true, audio: false }): Promise<MediaStream> {
    if (this.closed) throw new WeeverError(0, 'this client is closed', 'protocol');
    if (this.screenOnCamera || this.links.has('screen')) throw new WeeverError(0, 'screen already started', 'protocol');
    const stream = source instanceof MediaStream ? source : await media(() => navigator.mediaDevices.getDisplayMedia(source));
    // The browser's own "stop sharing" button ends the track: stop publishing it too.
    for (const t of stream.getVideoTracks()) {
      t.addEventListener('ended', () => void this.unpublishScreen(), { once: true });
      // text and detail stay sharp: under a low bitrate (a new connection's start) the
      // encoder drops frames, not resolution, unless the app chose otherwise
      if (!t.contentHint) t.contentHint = 'detail';
    }
    const camera = this.links.get('camera');
    if (!camera) {
      await this.start('screen', screenIdOf(this.id), stream);
      return stream;
    }
    const share = { stream, fullId: newFullId(screenIdOf(this.id)) };
    this.screenOnCamera = share;
    // reconnecting: the camera's next connection carries it
    if (!camera.conn) return stream;
    try {
      await camera.conn.setScreen(share);
    } catch (err) {
      if (this.screenOnCamera === share) this.screenOnCamera = null;
      throw err;
    }
    return stream;
  }

  /**
   * Receives every other publisher of the room (events `publisherJoined`, `stream`,
   * `publisherLeft`); with `{ auto: false }` publishers are announced (`publisherJoined`)
   * but only those chosen with `subscribeTo` are received.
   */
  async subscribe(opts: { auto?: boolean } = {}): Promise<void> {
    this.manual = opts.auto === false;
    await this.start('subscriber', this.id, null);
  }

  /**
   * Manual mode (`subscribe({ auto: false })`): receive participant `id`'s camera and
   * screen, of `kinds` (both by default). Kept across its reconnects and ours.
   */
  subscribeTo(id: string, kinds: readonly Kind[] = KINDS): void {
    this.choose(id, kinds, true);
  }

  /** Manual mode: stop receiving `kinds` (both by default) of participant `id`. */
  unsubscribeFrom(id: string, kinds: readonly Kind[] = KINDS): void {
    this.choose(id, kinds, false);
  }

  private choose(id: string, kinds: readonly Kind[], on: boolean): void {
    if (!this.manual) throw new WeeverError(0, 'subscribeTo/unsubscribeFrom need subscribe({ auto: false })', 'bad-request');
    if (kinds.length === 0 || kinds.some((k) => k !== 'audio' && k !== 'video'))
      throw new WeeverError(0, 'kinds are audio and/or video', 'bad-request');
    const set = this.chosen.get(id) ?? new Set<Kind>();
    for (const k of kinds) on ? set.add(k) : set.delete(k);
    if (set.size > 0) this.chosen.set(id, set);
    else this.chosen.delete(id);
    const conn = this.links.get('subscriber')?.conn;
    if (!conn) return; // sent when its publishers are announced
    for (const [fullId, r] of this.remote) if (r.joined && r.info.id === id) conn.sendControl(control.sub(fullId, kinds, on));
  }

  /**
   * Stops publishing the camera/mic (the tracks are stopped too). A screen share it
   * carried goes on, on a connection of its own.
   */
  async unpublish(): Promise<void> {
    const share = this.screenOnCamera;
    this.screenOnCamera = null;
    await this.stop('camera');
    if (share && !this.closed) await this.start('screen', screenIdOf(this.id), share.stream);
  }

  async unpublishScreen(): Promise<void> {
    const share = this.screenOnCamera;
    if (share) {
      this.screenOnCamera = null;
      for (const t of share.stream.getTracks()) t.stop();
      const conn = this.links.get('camera')?.conn;
      // a camera connection that is reconnecting simply comes back without it
      if (conn) await conn.setScreen(null);
      this.emit('screenShareEnded', { fullId: share.fullId });
      return;
    }
    const link = this.links.get('screen');
    if (!link) return;
    const fullId = link.conn?.fullId ?? '';
    await this.stop('screen');
    this.emit('screenShareEnded', { fullId });
  }

  /**
   * Mutes or unmutes our camera (`video`) or mic (`audio`), for everyone: the server is told
   * (`MUTE`), forwards nothing of it and tells every subscriber (`trackMuted`); the local
   * track is disabled (black frames, silence). No renegotiation. Kept across reconnects.
   */
  setMuted(kind: 'audio' | 'video', muted: boolean): void {
    if (muted) this.ownMuted.add(kind);
    else this.ownMuted.delete(kind);
    const stream = this.localStream;
    if (!stream) return;
    for (const t of kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks()) t.enabled = !muted;
    const conn = this.links.get('camera')?.conn;
    if (conn) applyMute(conn, kind, muted);
  }

  isMuted(kind: 'audio' | 'video'): boolean {
    if (this.ownMuted.has(kind)) return true;
    const tracks = kind === 'audio' ? this.localStream?.getAudioTracks() : this.localStream?.getVideoTracks();
    return !tracks || tracks.length === 0 || tracks.every((t) => !t.enabled);
  }

  /** Whether a remote publisher's track is muted now (`trackMuted`). */
  isRemoteMuted(pubFullId: string, trackId: string): boolean {
    return this.remoteMuted.has(`${pubFullId} ${trackId}`);
  }

  /**
   * One summary per stream: every remote publisher we receive (`inbound`) and our own
   * camera/screen (`outbound`), with a quality hint computed since the previous call.
   */
  async getStats(): Promise<StreamStats[]> {
    const out: StreamStats[] = [];
    for (const link of this.links.values()) {
      const conn = link.conn;
      if (!conn) continue;
      const report = await conn.pc.getStats();
      const inbound = link.kind === 'subscriber';
      const { perStream, rttMs } = collect(report, inbound ? 'inbound' : 'outbound', (mid) =>
        inbound ? (mid === undefined ? undefined : conn.streamOfMid.get(mid)) : conn.publisherOfMid(mid),
      );
      for (const [fullId, kinds] of perStream) {
        if (inbound && !this.remote.has(fullId)) continue; // a stopped m-line of a publisher who left
        const s: StreamStats = { ...publisherInfo(fullId), direction: inbound ? 'inbound' : 'outbound', ...kinds, quality: 'stalled' };
        if (rttMs !== undefined) s.rttMs = rttMs;
        // Grade over at least a second: two callers sampling a few ms apart must not see
        // "no new packets" (stalled); within the second the last grade stands.
        const prev = this.previousStats.get(fullId);
        const now = performance.now();
        if (prev && now - prev.at < 1000) {
          s.quality = prev.stats.quality;
        } else {
          s.quality = grade(s, prev?.stats);
          this.previousStats.set(fullId, { stats: s, at: now });
        }
        out.push(s);
      }
    }
    return out;
  }

  /**
   * How each connection reaches the server: the selected ICE candidate pair's local
   * candidate (`host`, `srflx`, `prflx` or `relay` through TURN). A connection that has
   * not chosen a pair yet is left out.
   */
  async getIcePaths(): Promise<{ camera?: IcePath; screen?: IcePath; subscriber?: IcePath }> {
    const out: { camera?: IcePath; screen?: IcePath; subscriber?: IcePath } = {};
    for (const link of this.links.values()) {
      if (!link.conn) continue;
      const path = selectedPath(await link.conn.pc.getStats());
      if (path) out[link.kind] = path;
      if (path && link.kind === 'camera' && this.screenOnCamera) out.screen = path;
    }
    return out;
  }

  /** Leaves: `STOP` and `DELETE` on every connection, local tracks stopped. The client cannot be reused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.wakers) wake();
    globalThis.removeEventListener?.('pagehide', this.onPageHide);
    for (const t of this.screenOnCamera?.stream.getTracks() ?? []) t.stop();
    this.screenOnCamera = null;
    await Promise.all([...this.links.keys()].map((k) => this.stop(k)));
    this.setState('closed');
  }

  // ---- internals ----

  private async start(kind: LinkKind, id: string, stream: MediaStream | null): Promise<void> {
    if (this.closed) throw new WeeverError(0, 'this client is closed', 'protocol');
    if (this.links.has(kind)) throw new WeeverError(0, `${kind} already started`, 'protocol');
    const link: Link = { kind, id, stream, conn: null, state: 'connecting' };
    this.links.set(kind, link);
    this.refreshState();
    try {
      link.conn = await this.connect(link);
    } catch (err) {
      this.links.delete(kind);
      this.refreshState();
      throw err;
    }
    link.state = 'connected';
    this.refreshState();
  }

  private async stop(key: LinkKind): Promise<void> {
    const link = this.links.get(key);
    if (!link) return;
    this.links.delete(key);
    const conn = link.conn;
    link.conn = null;
    await conn?.close();
    for (const t of link.stream?.getTracks() ?? []) t.stop();
    if (key === 'subscriber') {
      this.forgetRemote();
      // no longer told: nobody is known any more
      for (const [id, p] of [...this.people]) {
        this.people.delete(id);
        this.emit('participantLeft', p);
      }
    }
    this.previousStats.clear();
    if (!this.closed) this.refreshState();
  }

  private async connect(link: Link): Promise<Connection> {
    let self: Connection | null = null;
    const conn = await Connection.open({
      url: this.url,
      role: link.kind === 'subscriber' ? 'sub' : 'pub',
      room: this.room,
      fullId: newFullId(link.id),
      ...(this.token ? { token: this.token } : {}),
      ...(this.iceServers ? { iceServers: this.iceServers } : {}),
      ...(this.iceTransportPolicy ? { iceTransportPolicy: this.iceTransportPolicy } : {}),
      ...(link.stream ? { tracks: link.stream.getTracks(), stream: link.stream } : {}),
      disconnectGraceMs: this.disconnectGraceMs,
      simulcast: link.kind === 'camera' && this.simulcast,
      // a reconnect is a new peer: the screen share it carries gets a new full id too
      ...(link.kind === 'camera' && this.screenOnCamera
        ? { screen: (this.screenOnCamera = { ...this.screenOnCamera, fullId: newFullId(screenIdOf(this.id)) }) }
        : {}),
      manual: link.kind === 'subscriber' && this.manual,
      connectTimeoutMs: CONNECT_ATTEMPT_MS,
      handlers: {
        join: (fullId, c) => this.onJoin(fullId, c),
        left: (fullId) => this.onLeft(fullId),
        track: (stream) => this.onTrack(stream),
        speakers: (list) => this.onSpeakers(list),
        participants: (list) => this.onParticipants(list),
        participant: (p) => this.onParticipant(p),
        participantLeft: (id) => this.onParticipantLeft(id),
        data: (d) => this.emit('data', d),
        muted: (pub, trackId, muted) => this.onMuted(pub, trackId, muted),
        error: (err) => this.emit('error', err),
        lost: (reason) => void this.reconnect(link, reason),
        path: (up) => {
          // Path outage on the connection in use: show `reconnecting` while nothing
          // arrives; it heals on the same session, or is replaced after the grace.
          if (!self || link.conn !== self || this.closed) return;
          link.state = up ? 'connected' : 'reconnecting';
          this.refreshState(up ? undefined : 'ICE disconnected (no traffic)');
        },
      },
    });
    self = conn;
    // A link stopped while we were connecting: do not leave this connection behind.
    if (this.closed || !this.isCurrent(link)) {
      await conn.close();
      throw new WeeverError(0, 'stopped while connecting', 'protocol');
    }
    // what we set about ourselves, again (a reconnect, or a connection after setInfo)
    if (this.ownInfo) conn.sendControl(control.setInfo(this.ownInfo));
    if (link.kind === 'camera') {
      for (const kind of this.ownMuted) applyMute(conn, kind, true);
      // the screen share started or ended while this connection was being made
      const share = this.screenOnCamera;
      if (share && conn.screen === null) await conn.setScreen({ ...share, fullId: newFullId(screenIdOf(this.id)) });
      else if (!share && conn.screen) await conn.setScreen(null);
      if (conn.screen && this.screenOnCamera) this.screenOnCamera = conn.screen;
    }
    return conn;
  }

  /** A lost connection is replaced by a new one (new full id), with exponential backoff. */
  private async reconnect(link: Link, reason: string): Promise<void> {
    const old = link.conn;
    // No connection: already reconnecting (conn is only set again once connected), or stopped.
    if (!old || this.closed) return;
    link.conn = null;
    old.dispose(); // best-effort DELETE: if the instance is alive it cleans up at once
    if (link.kind === 'subscriber') this.forgetRemote();
    if (!this.reconnectOpts) {
      this.fail(link, reason, new WeeverError(0, `connection lost: ${reason}`, 'network'));
      return;
    }
    link.state = 'reconnecting';
    this.refreshState(reason);
    const { initialDelayMs, maxDelayMs, maxAttempts } = this.reconnectOpts;
    let lastStart = performance.now();
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      // jitter: a restarted server is not hit by everyone at once
      const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      // The delay counts from the previous attempt's start: an attempt that waited long
      // for a dead path (up to CONNECT_ATTEMPT_MS) has spaced the attempts already.
      await this.sleep(Math.max(0, delay - (performance.now() - lastStart)));
      if (this.closed || !this.isCurrent(link)) return;
      lastStart = performance.now();
      try {
        link.conn = await this.connect(link);
        link.state = 'connected';
        this.refreshState();
        return;
      } catch (err) {
        const e = err instanceof WeeverError ? err : new WeeverError(0, String(err), 'protocol');
        if (this.closed || !this.isCurrent(link)) return;
        if (!e.retryable) {
          this.fail(link, e.reason, e);
          return;
        }
      }
    }
    this.fail(link, `gave up after ${maxAttempts} attempts`, new WeeverError(0, `could not reconnect: ${reason}`, 'network'));
  }

  private fail(link: Link, reason: string, err: WeeverError): void {
    link.state = 'failed';
    this.refreshState(reason);
    this.emit('error', err);
  }

  /** Still the link in use: not stopped (or stopped and started anew) meanwhile. */
  private isCurrent(link: Link): boolean {
    return this.links.get(link.kind) === link;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private onMuted(pub: string, trackId: string, muted: boolean): void {
    const key = `${pub} ${trackId}`;
    if (muted === this.remoteMuted.has(key)) return;
    if (muted) this.remoteMuted.add(key);
    else this.remoteMuted.delete(key);
    const trackKind = trackId.startsWith('audio') ? 'audio' : 'video';
    this.emit(muted ? 'trackMuted' : 'trackUnmuted', { ...publisherInfo(pub), trackId, trackKind });
  }

  private onJoin(fullId: string, conn: Connection): void {
    const r = this.remote.get(fullId);
    if (r?.joined) return;
    const info = r?.info ?? publisherInfo(fullId);
    this.remote.set(fullId, { info, joined: true, stream: r?.stream ?? null });
    const quality = info.kind === 'camera' ? this.qualities.get(info.id) : undefined;
    if (quality) conn.sendControl(control.videoQuality(fullId, quality));
    const view = this.viewSizes.get(`${info.kind} ${info.id}`);
    if (view) conn.sendControl(control.videoSize(fullId, view.width, view.height));
    const kinds = this.manual ? this.chosen.get(info.id) : undefined;
    if (kinds) conn.sendControl(control.sub(fullId, [...kinds]));
    this.emit('publisherJoined', info);
  }

  /**
   * Caps the camera of user `id` (a publisher's id, not its full id: the cap outlives its
   * reconnects and ours) to `low` (its smallest simulcast layer), `medium`, or `high` (what
   * the path carries, the default): thumbnails low, the spotlight high.
   */
  setVideoQuality(id: string, quality: VideoQuality): void {
    if (!VIDEO_QUALITIES.includes(quality))
      throw new WeeverError(0, `quality must be low, medium or high, not ${String(quality)}`, 'bad-request');
    if (quality === 'high') this.qualities.delete(id);
    else this.qualities.set(id, quality);
    for (const [fullId, r] of this.remote) if (r.info.id === id && r.info.kind === 'camera') this.sendQuality(fullId, quality);
  }

  /**
   * Adaptive stream: participant `id`'s camera (or `'screen'`) is shown at `width`×`height`
   * CSS pixels (0×0: not shown). The server sends the smallest simulcast layer at least
   * that size in device pixels, and nothing of a video that is not shown. Kept
   * across reconnects; `observeVideo` calls it for an element.
   */
  setVideoSize(id: string, width: number, height: number, kind: PublisherKind = 'camera'): void {
    if (!(width >= 0 && height >= 0 && Number.isFinite(width) && Number.isFinite(height)))
      throw new WeeverError(0, 'width and height are numbers ≥ 0', 'bad-request');
    const dpr = globalThis.devicePixelRatio || 1;
    const shown = width > 0 && height > 0;
    const size = shown
      ? { width: Math.min(16383, Math.max(1, Math.round(width * dpr))), height: Math.min(16383, Math.max(1, Math.round(height * dpr))) }
      : { width: 0, height: 0 };
    const key = `${kind} ${id}`;
    const before = this.viewSizes.get(key);
    if (before && before.width === size.width && before.height === size.height) return;
    this.viewSizes.set(key, size);
    const conn = this.links.get('subscriber')?.conn;
    for (const [fullId, r] of this.remote)
      if (r.joined && r.info.id === id && r.info.kind === kind) conn?.sendControl(control.videoSize(fullId, size.width, size.height));
  }

  /**
   * Adaptive stream for a `<video>` element showing participant `id`'s camera (or screen):
   * its size as laid out, and 0×0 while it is not in the viewport, not displayed, or the
   * page is hidden, sent as it changes. Returns a function that stops observing.
   */
  observeVideo(el: HTMLElement, id: string, kind: PublisherKind = 'camera'): () => void {
    let visible: boolean | undefined;
    let width: number | undefined;
    let height = 0;
    const update = () => {
      // both observers report at once when observing starts: nothing is sent before both did
      if (visible === undefined || width === undefined) return;
      const shown = visible && document.visibilityState === 'visible';
      this.setVideoSize(id, shown ? width : 0, shown ? height : 0, kind);
    };
    const resize = new ResizeObserver((entries) => {
      const r = entries[entries.length - 1]!.contentRect;
      width = r.width;
      height = r.height;
      update();
    });
    const seen = new IntersectionObserver((entries) => {
      visible = entries[entries.length - 1]!.isIntersecting;
      update();
    });
    resize.observe(el);
    seen.observe(el);
    document.addEventListener('visibilitychange', update);
    return () => {
      resize.disconnect();
      seen.disconnect();
      document.removeEventListener('visibilitychange', update);
    };
  }

  private sendQuality(pubFullId: string, quality: VideoQuality): void {
    const dc = this.links.get('subscriber')?.conn?.dc;
    if (dc?.readyState === 'open') dc.send(control.videoQuality(pubFullId, quality));
  }

  private onLeft(fullId: string): void {
    const r = this.remote.get(fullId);
    this.remote.delete(fullId);
    this.previousStats.delete(fullId);
    this.emit('publisherLeft', r?.info ?? publisherInfo(fullId));
  }

  private onTrack(stream: MediaStream): void {
    const r = this.remote.get(stream.id);
    if (r?.stream === stream) return; // a further track of a stream already announced
    const info = r?.info ?? publisherInfo(stream.id);
    this.remote.set(stream.id, { info, joined: r?.joined ?? false, stream });
    this.emit('stream', { ...info, stream });
  }

  private onSpeakers(list: readonly { pub: string; level: number }[]): void {
    const own = new Set<string>();
    for (const [k, l] of this.links) if (k !== 'subscriber' && l.conn) own.add(l.conn.fullId);
    if (this.screenOnCamera) own.add(this.screenOnCamera.fullId);
    this.speakers = list.map((s) => ({ ...(this.remote.get(s.pub)?.info ?? publisherInfo(s.pub)), level: s.level, local: own.has(s.pub) }));
    this.emit('activeSpeakers', { speakers: this.activeSpeakers });
  }

  /** A new subscriber connection's snapshot: the differences from what we knew are events. */
  private onParticipants(list: readonly Participant[]): void {
    const now = new Set(list.map((p) => p.id));
    for (const [id, p] of [...this.people]) {
      if (now.has(id)) continue;
      this.people.delete(id);
      this.emit('participantLeft', p);
    }
    for (const p of list) this.onParticipant(p);
  }

  private onParticipant(p: Participant): void {
    const before = this.people.get(p.id);
    if (before && sameParticipant(before, p)) return;
    this.people.set(p.id, p);
    this.emit(before ? 'participantUpdated' : 'participantJoined', p);
  }

  private onParticipantLeft(id: string): void {
    const p = this.people.get(id);
    if (!p) return;
    this.people.delete(id);
    this.emit('participantLeft', p);
  }

  /** The subscriber connection is gone: everyone it showed is gone from our view too. */
  private forgetRemote(): void {
    const gone = [...this.remote.values()];
    this.remote.clear();
    for (const r of gone) this.emit('publisherLeft', r.info);
    if (this.speakers.length > 0) this.onSpeakers([]);
  }

  /** The client's state is its links' states, the most troubled one winning. */
  private refreshState(reason?: string): void {
    this.setState(this.closed ? 'closed' : overallState([...this.links.values()], this.state), reason);
  }

  private setState(next: ConnectionState, reason?: string): void {
    if (next === this.state) return;
    const previous = this.state;
    this.state = next;
    this.emit('connectionState', reason === undefined ? { state: next, previous } : { state: next, previous, reason });
  }
}

function overallState(links: readonly Link[], current: ConnectionState): ConnectionState {
  if (links.length === 0) return current === 'new' ? 'new' : 'closed';
  for (const state of ['reconnecting', 'failed', 'connecting'] as const) {
    if (links.some((l) => l.state === state)) return state;
  }
  return 'connected';
}

async function media(get: () => Promise<MediaStream>): Promise<MediaStream> {
  try {
    return await get();
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    throw new WeeverError(0, `cannot get media: ${name}: ${(err as Error).message ?? String(err)}`, 'media');
  }
}

/** Tells the server (`MUTE`/`UNMUTE <kind>`) on our camera connection. */
function applyMute(conn: Connection, kind: 'audio' | 'video', muted: boolean): void {
  conn.sendControl(control.mute(kind, muted));
}
