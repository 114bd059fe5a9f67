/**
 * One peer connection to the server: the HTTP POST with a complete (non-trickle) offer,
 * the `control` data channel and its messages, failure detection and the goodbye
 * (`STOP` on the channel + `DELETE` of the session URL). docs/protocol.md, "Public HTTP
 * API" and "The control channel"; the messages are encoded and parsed by weever-protocol.
 */

import {
  type ActiveSpeaker,
  control,
  type DataDelivery,
  type DataRequest,
  encodeDataRequest,
  type IceServer,
  LOSSY_LABEL,
  type Participant,
  parseServerMessage,
  paths,
  type Role,
  SDP_CONTENT_TYPE,
} from 'weever-protocol';
import { WeeverError } from './errors.js';
import { layersFor, SIMULCAST_LAYERS, scaleLayers, simulcastOffer } from './simulcast.js';

export type { Role } from 'weever-protocol';

export interface ConnectionHandlers {
  /** `PUB_JOIN <fullId>` (subscriber); `conn`: this connection (it may not be handed out yet) */
  join?(fullId: string, conn: Connection): void;
  /** `PUB_LEFT <fullId>` (subscriber) */
  left?(fullId: string): void;
  /** `ACTIVE_SPEAKERS` (subscriber): the room's speakers, loudest first; empty when nobody speaks */
  speakers?(speakers: ActiveSpeaker[]): void;
  /** a remote track arrived; `stream.id` is the publisher's full id */
  track?(stream: MediaStream, track: MediaStreamTrack): void;
  /** `PARTICIPANTS` (subscriber): the room's participants when the channel opened */
  participants?(list: Participant[]): void;
  /** `PARTICIPANT_JOINED` / `PARTICIPANT_UPDATED` (subscriber): the whole participant */
  participant?(p: Participant): void;
  /** `PARTICIPANT_LEFT` (subscriber) */
  participantLeft?(id: string): void;
  /** `TRACK_MUTED` / `TRACK_UNMUTED` (subscriber): a publisher's track is muted, or not any more */
  muted?(pub: string, trackId: string, muted: boolean): void;
  /** `DATA` (subscriber): a data message from another participant */
  data?(d: DataDelivery): void;
  /** `ERROR <reason>` from the server, or a failure applying its offer */
  error?(err: WeeverError): void;
  /**
   * Every control message as received, before the connection acts on it (logging,
   * diagnostics). Messages are handled strictly in order: a returned promise delays the
   * handling of this message and of every later one until it settles.
   */
  message?(text: string): void | Promise<void>;
  /** the connection is lost (ICE failed, stayed disconnected, or the server closed the channel) */
  lost?(reason: string): void;
  /**
   * The path is interrupted (`false`: ICE `disconnected`, nothing arrives; the connection
   * may still heal) or works again (`true`: back to `connected` before it was lost).
   */
  path?(up: boolean): void;
}

export interface ConnectionOptions {
  /** base URL of the public server, e.g. `https://sfu.example.com` */
  url: string;
  role: Role;
  room: string;
  fullId: string;
  token?: string;
  /**
   * STUN/TURN servers for this connection. Left out: the SDK asks the server
   * (`GET /ice-servers/…`, fresh TURN credentials) before making its offer.
   */
  iceServers?: RTCIceServer[];
  /** `'relay'`: use TURN relays only (e.g. to test a relay); default `'all'` */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** publisher: the tracks to send (sendonly) */
  tracks?: readonly MediaStreamTrack[];
  stream?: MediaStream;
  /** publisher: send video in simulcast layers (client/simulcast.ts) */
  simulcast?: boolean;
  /** camera publisher: also carry this screen share, published as `fullId` (`<id>-screen+<suffix>`) */
  screen?: ScreenShare;
  /** subscriber: receive only what `SUB` asks for (`?subscribe=manual`) */
  manual?: boolean;
  /** how long ICE gathering may take before the offer goes with the candidates found so far */
  gatherTimeoutMs?: number;
  /** how long `disconnected` may last before the connection counts as lost; default 12000 */
  disconnectGraceMs?: number;
  /** how long connecting (POST answered → `control` open) may take; default 15000 */
  connectTimeoutMs?: number;
  handlers: ConnectionHandlers;
}

/**
 * Default for `disconnectGraceMs`. Chromium reports `disconnected` ~2.5 s into an outage,
 * so the connection is given up ~14.5 s in: after a 10 s outage it is still there (and so
 * is the server's session, kept for --media-timeout = 15 s of silence), and it is replaced
 * about when the server gives up on it.
 */
export const DISCONNECT_GRACE_MS = 12_000;
/** while `disconnected`, how often the SDK asks whether the server still has the session */
const SESSION_PROBE_MS = 2000;
/**
 * How often the SDK says it is still there (`PING`): a tab that is killed stops, and the
 * server takes its participant off the lists within seconds instead of at --media-timeout.
 */
const PING_MS = 2000;

/** A screen share carried on a camera connection. */
export interface ScreenShare {
  stream: MediaStream;
  /** the publisher it is published as: `<id>-screen+<suffix>` */
  fullId: string;
}

export class Connection {
  readonly pc: RTCPeerConnection;
  readonly role: Role;
  readonly fullId: string;
  /** absolute session URL from `Location` (DELETE ends the session) */
  session: string | null = null;
  /** server offers answered so far (subscriber renegotiations) */
  answered = 0;
  /** mid → publisher full id, from the a=msid lines of the server's last offer */
  streamOfMid = new Map<string, string>();

  /** the `control` data channel (the connection sends and handles its messages itself) */
  readonly dc: RTCDataChannel;
  /** unordered, no retransmission: lossy data messages both ways */
  readonly lossy: RTCDataChannel;
  private readonly opts: ConnectionOptions;
  /** the screen share carried now, if any */
  screen: ScreenShare | null = null;
  /** the transceivers the screen share used: reused by the next one, so m-lines never change mid */
  private readonly screenTransceivers: RTCRtpTransceiver[] = [];
  /** the publisher's own renegotiation (`addTrack`) waiting for the server's SDP_ANSWER */
  private answerWaiter: { resolve(sdp: string): void; reject(err: WeeverError): void } | null = null;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private lostFired = false;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** while `disconnected`: asks the server now and then whether our session still exists */
  private probeTimer: ReturnType<typeof setInterval> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  /** rejects `open()` when ICE fails before the control channel opened */
  private failConnecting: ((err: WeeverError) => void) | null = null;

  private constructor(opts: ConnectionOptions, iceServers: RTCIceServer[]) {
    this.opts = opts;
    this.role = opts.role;
    this.fullId = opts.fullId;
    this.pc = new RTCPeerConnection({ iceServers, ...(opts.iceTransportPolicy ? { iceTransportPolicy: opts.iceTransportPolicy } : {}) });
    this.dc = this.pc.createDataChannel('control');
    this.dc.binaryType = 'arraybuffer';
    this.lossy = this.pc.createDataChannel(LOSSY_LABEL, { ordered: false, maxRetransmits: 0 });
    this.lossy.binaryType = 'arraybuffer';
  }

  /**
   * Sends a data message (docs/protocol.md, "Data messages"); lossy ones on the lossy
   * channel when it is open. False when no channel is open.
   */
  sendData(r: DataRequest, lossy: boolean): boolean {
    const ch = lossy && this.lossy.readyState === 'open' ? this.lossy : this.dc;
    if (ch.readyState !== 'open') return false;
    const out = encodeDataRequest(r);
    if (typeof out === 'string') ch.send(out);
    else ch.send(out as Uint8Array<ArrayBuffer>);
    return true;
  }

  /** Sends one control message; false when the channel is not open. */
  sendControl(text: string): boolean {
    if (this.dc.readyState !== 'open') return false;
    this.dc.send(text);
    return true;
  }

  /** Connects; resolves once the answer is applied and the control channel is open. */
  static async open(opts: ConnectionOptions): Promise<Connection> {
    const c = new Connection(opts, opts.iceServers ?? (await fetchIceServers(opts)));
    try {
      await c.start();
      return c;
    } catch (err) {
      c.dispose();
      throw err instanceof WeeverError ? err : new WeeverError(0, `connecting failed: ${String(err)}`, 'protocol');
    }
  }

  private async start(): Promise<void> {
    const { pc, dc, opts } = this;
    const opened = new Promise<void>((resolve, reject) => {
      this.failConnecting = reject;
      dc.addEventListener(
        'open',
        () => {
          // at once too: a tab killed in its first seconds must count as pinging
          this.sendControl(control.ping());
          this.pingTimer = setInterval(() => this.sendControl(control.ping()), PING_MS);
          resolve();
        },
        { once: true },
      );
      dc.addEventListener('close', () => reject(new WeeverError(0, 'control channel closed before it opened', 'protocol')), { once: true });
    });
    opened.catch(() => {}); // observed below; avoids an unhandled rejection if POST fails first
    const onData = (e: MessageEvent) => this.onMessage(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer));
    dc.addEventListener('message', onData);
    this.lossy.addEventListener('message', onData);
    dc.addEventListener('close', () => {
      clearInterval(this.pingTimer);
      this.markLost('the server closed the control channel');
    });
    pc.addEventListener('track', (e) => {
      const stream = e.streams[0];
      if (stream) opts.handlers.track?.(stream, e.track);
    });
    pc.addEventListener('connectionstatechange', () => this.onState());
    for (const track of opts.tracks ?? []) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: opts.stream ? [opts.stream] : [] });
    }
    if (opts.screen) await this.attachScreen(opts.screen);
    await this.setOffer();
    await this.gathered(opts.gatherTimeoutMs ?? 5000);
    const path = paths.connect(opts.role, opts.room, opts.fullId) + (opts.manual ? '?subscribe=manual' : '');
    const headers: Record<string, string> = { 'Content-Type': SDP_CONTENT_TYPE };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, opts.url), { method: 'POST', headers, body: this.offerToSend() });
    } catch (err) {
      throw new WeeverError(0, `cannot reach ${opts.url}: ${String(err)}`, 'network');
    }
    if (res.status !== 201) throw await WeeverError.fromResponse(res);
    const answer = await res.text();
    const location = res.headers.get('Location');
    this.session = location ? new URL(location, res.url || opts.url).href : null;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    try {
      await withTimeout(opened, opts.connectTimeoutMs ?? 15_000, 'control channel did not open');
    } finally {
      this.failConnecting = null;
    }
  }

  /** Non-trickle: the offer goes once gathering is complete (or the timeout passed). */
  private gathered(timeoutMs: number): Promise<void> {
    const pc = this.pc;
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => pc.iceGatheringState === 'complete' && done();
      const timer = setTimeout(done, timeoutMs);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  /** Messages are handled strictly one after the other: an offer is answered before the next is looked at. */
  private onMessage(msg: string | Uint8Array): void {
    this.queue = this.queue
      .then(() => this.handle(msg))
      .catch((err) => {
        if (!this.closed) this.opts.handlers.error?.(new WeeverError(0, `renegotiation failed: ${String(err)}`, 'protocol'));
      });
  }

  private async handle(msg: string | Uint8Array): Promise<void> {
    if (this.closed) return;
    const h = this.opts.handlers;
    if (typeof msg === 'string') await h.message?.(msg);
    if (this.closed) return;
    const parsed = parseServerMessage(msg);
    if (!parsed.ok) return; // anything newer than this SDK: nothing to do
    const m = parsed.command;
    switch (m.cmd) {
      case 'SDP_OFFER': {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        this.streamOfMid = msidsOf(m.sdp);
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        if (this.closed) return;
        this.dc.send(control.sdpAnswer(this.pc.localDescription!.sdp));
        this.answered++;
        return;
      }
      case 'SDP_ANSWER': {
        const waiter = this.answerWaiter;
        this.answerWaiter = null;
        waiter?.resolve(m.sdp);
        return;
      }
      case 'PUB_JOIN':
        h.join?.(m.pub, this);
        return;
      case 'PUB_LEFT':
        h.left?.(m.pub);
        return;
      case 'ACTIVE_SPEAKERS':
        h.speakers?.(m.speakers);
        return;
      case 'PARTICIPANTS':
        h.participants?.(m.participants);
        return;
      case 'PARTICIPANT_JOINED':
      case 'PARTICIPANT_UPDATED':
        h.participant?.(m.participant);
        return;
      case 'PARTICIPANT_LEFT':
        h.participantLeft?.(m.id);
        return;
      case 'DATA':
        h.data?.(m.data);
        return;
      case 'TRACK_MUTED':
      case 'TRACK_UNMUTED':
        h.muted?.(m.pub, m.trackId, m.cmd === 'TRACK_MUTED');
        return;
      case 'LAYERS':
        await this.setActiveLayers(m.mask);
        return;
      case 'ERROR': {
        const err = new WeeverError(0, m.reason, 'protocol');
        const waiter = this.answerWaiter;
        this.answerWaiter = null;
        waiter?.reject(err);
        h.error?.(err);
        return;
      }
      default:
        return; // OK: nothing to do
    }
  }

  /** simulcast layers the server last asked for (`LAYERS`; bit 0 the smallest) */
  layerMask = 0b111;

  /**
   * Dynacast (`LAYERS`): sends only the simulcast layers of `mask` (bit i = encoding i,
   * smallest first, as the server numbers them); the encoder pauses the others until asked
   * again. A publisher has one camera video sender.
   */
  private async setActiveLayers(mask: number): Promise<void> {
    this.layerMask = mask;
    const sender = this.cameraVideoSender();
    if (!sender) return;
    const params = sender.getParameters();
    if (params.encodings.length < 2) return;
    let changed = false;
    params.encodings.forEach((e, i) => {
      const active = (mask & (1 << i)) !== 0;
      if (e.active !== active) {
        e.active = active;
        changed = true;
      }
    });
    if (changed) await sender.setParameters(params);
  }

  /** The camera's video sender (not the screen share's). */
  private cameraVideoSender(): RTCRtpSender | undefined {
    return this.pc.getSenders().find((x) => x.track?.kind === 'video' && !this.screenTransceivers.some((t) => t.sender === x));
  }

  /** Creates and applies our offer; a simulcast publisher's camera video goes in layers. */
  private async setOffer(): Promise<void> {
    const offer = await this.pc.createOffer();
    if (this.opts.simulcast && offer.sdp) {
      const video = this.cameraVideoSender()?.track?.getSettings();
      const layers = video?.width && video.height ? layersFor(video.width, video.height) : SIMULCAST_LAYERS;
      // the screen share's m-lines are sent whole: by their mid once known, by their track before
      const screenTracks = new Set(this.screen?.stream.getTracks().map((t) => t.id) ?? []);
      const screenMids = this.screenMids();
      const camera = new Set<string>();
      for (const [mid, track] of tracksOfMids(offer.sdp)) if (!screenMids.has(mid) && !screenTracks.has(track)) camera.add(mid);
      offer.sdp = simulcastOffer(offer.sdp, layers, camera);
    }
    await this.pc.setLocalDescription(offer);
    if (this.opts.simulcast) await scaleLayers(this.pc);
  }

  /** Our offer as the server gets it: the screen share's m-lines marked with its full id (msid). */
  private offerToSend(): string {
    const sdp = this.pc.localDescription!.sdp;
    if (!this.screen) return sdp;
    return markStream(sdp, this.screenMids(), this.screen.fullId);
  }

  /** The mids of the screen share's m-lines, once negotiated. */
  private screenMids(): Set<string> {
    return new Set(this.screenTransceivers.map((t) => t.mid).filter((m): m is string => m !== null));
  }

  /** Puts the screen share's tracks on transceivers: the idle ones of an earlier share first. */
  private async attachScreen(screen: ScreenShare): Promise<void> {
    const idle = this.screenTransceivers.filter((t) => t.sender.track === null);
    for (const track of screen.stream.getTracks()) {
      const reuse = idle.find((t) => t.receiver.track.kind === track.kind);
      if (reuse) {
        idle.splice(idle.indexOf(reuse), 1);
        await reuse.sender.replaceTrack(track);
        reuse.direction = 'sendonly';
      } else {
        this.screenTransceivers.push(this.pc.addTransceiver(track, { direction: 'sendonly', streams: [screen.stream] }));
      }
    }
    this.screen = screen;
  }

  /**
   * Camera publisher: starts (`screen`) or ends (`null`) carrying a screen share, by
   * renegotiating on the control channel. Subscribers see it as the separate publisher
   * `screen.fullId`; ending it leaves the camera untouched.
   */
  async setScreen(screen: ScreenShare | null): Promise<void> {
    this.checkRenegotiation();
    if (screen) {
      if (this.screen) throw new WeeverError(0, 'a screen share is carried already', 'protocol');
      await this.attachScreen(screen);
    } else {
      if (!this.screen) return;
      this.screen = null;
      for (const t of this.screenTransceivers) {
        t.direction = 'inactive';
        await t.sender.replaceTrack(null);
      }
    }
    await this.renegotiate();
  }

  /** The publisher the stats of m-line `mid` belong to: ours, or the screen share's. */
  publisherOfMid(mid: string | undefined): string {
    if (this.screen && mid !== undefined && this.screenTransceivers.some((t) => t.mid === mid)) return this.screen.fullId;
    return this.fullId;
  }

  private checkRenegotiation(): void {
    if (this.role !== 'pub') throw new WeeverError(0, 'only a publisher sends tracks', 'protocol');
    if (this.closed) throw new WeeverError(0, 'the connection is closed', 'protocol');
    if (this.answerWaiter) throw new WeeverError(0, 'a renegotiation is already under way', 'protocol');
  }

  /** Our offer (`SDP_OFFER`), the server's `SDP_ANSWER` applied; its `ERROR` rejects. */
  private async renegotiate(): Promise<void> {
    await this.setOffer();
    const answer = new Promise<string>((resolve, reject) => {
      this.answerWaiter = { resolve, reject };
    });
    this.dc.send(control.sdpOffer(this.offerToSend()));
    let sdp: string;
    try {
      sdp = await withTimeout(answer, 15_000, 'no SDP_ANSWER to our offer');
    } finally {
      this.answerWaiter = null;
    }
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /**
   * Publisher: adds a track to the running publication by renegotiating on the control
   * channel (our `SDP_OFFER`, the server's `SDP_ANSWER`). Rejects with the server's
   * `ERROR` reason, or when no answer comes within 15 s. One at a time.
   */
  async addTrack(track: MediaStreamTrack): Promise<void> {
    this.checkRenegotiation();
    this.pc.addTransceiver(track, { direction: 'sendonly', streams: this.opts.stream ? [this.opts.stream] : [] });
    await this.renegotiate();
  }

  private onState(): void {
    const state = this.pc.connectionState;
    if (state === 'connected') {
      if (this.graceTimer !== undefined) {
        clearTimeout(this.graceTimer);
        clearInterval(this.probeTimer);
        this.graceTimer = this.probeTimer = undefined;
        if (!this.closed && !this.lostFired) this.opts.handlers.path?.(true);
      }
    } else if (state === 'failed' || state === 'closed') {
      // Still connecting: the attempt failed (open() rejects, its caller may try again).
      this.failConnecting?.(new WeeverError(0, `ICE ${state} while connecting`, 'network'));
      this.markLost(`ICE ${state}`);
    } else if (state === 'disconnected' && this.graceTimer === undefined) {
      // A path outage: nothing arrives. It often heals by itself (the server keeps the
      // session through --media-timeout of silence, 15 s); a dead server only shows as
      // `failed` much later, so after the grace the connection is replaced.
      this.graceTimer = setTimeout(() => this.markLost('ICE disconnected'), this.opts.disconnectGraceMs ?? DISCONNECT_GRACE_MS);
      this.probeTimer = setInterval(() => void this.probe(), SESSION_PROBE_MS);
      if (!this.closed && !this.lostFired) this.opts.handlers.path?.(false);
    }
  }

  /**
   * Is our session still on the server? A PATCH with an empty trickle fragment (no
   * candidates: it changes nothing, and does not count as traffic) answers 204 while it
   * is, 404 once the server has given it up (its silence limit, a restart): then waiting
   * for the path is pointless and the connection is replaced at once. No answer (HTTP
   * down too) decides nothing: the grace timer does.
   */
  private async probe(): Promise<void> {
    if (!this.session || this.closed || this.lostFired) return;
    try {
      const res = await fetch(this.session, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' },
        body: 'a=end-of-candidates\r\n',
        signal: AbortSignal.timeout(SESSION_PROBE_MS),
      });
      if (res.status === 404 && this.graceTimer !== undefined) this.markLost('the server ended the session');
    } catch {
      // unreachable: the grace timer decides
    }
  }

  private markLost(reason: string): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    if (this.closed || this.lostFired) return;
    this.lostFired = true;
    this.opts.handlers.lost?.(reason);
  }

  /** Polite goodbye: `STOP` on the channel, `DELETE` of the session, then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.goodbye();
    this.pc.close();
  }

  /** Closes without waiting (page unload, or a connection already lost). */
  dispose(): void {
    if (!this.closed) void this.goodbye();
    this.pc.close();
  }

  /**
   * Marks the connection closed, sends `STOP` and `DELETE`s the session. The DELETE is
   * keepalive (it survives the page being unloaded) and times out (a hung server must not
   * keep close() from resolving: its own timeouts end the session).
   */
  private goodbye(): Promise<void> {
    this.closed = true;
    clearTimeout(this.graceTimer);
    clearInterval(this.probeTimer);
    clearInterval(this.pingTimer);
    if (this.dc.readyState === 'open') {
      try {
        this.dc.send(control.stop());
      } catch {
        // channel closing under us: the DELETE below still ends the session
      }
    }
    if (!this.session) return Promise.resolve();
    return fetch(this.session, { method: 'DELETE', keepalive: true, signal: AbortSignal.timeout(5000) }).then(
      () => {},
      () => {},
    );
  }
}

/**
 * The server's STUN/TURN servers for the connection `opts` is about to make
 * (docs/protocol.md, "ICE servers"), with the connection's token. A server without the
 * endpoint (404) has none to offer: the connection goes without.
 */
export async function fetchIceServers(
  opts: Pick<ConnectionOptions, 'url' | 'role' | 'room' | 'fullId' | 'token'>,
): Promise<RTCIceServer[]> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await fetch(new URL(paths.iceServers(opts.role, opts.room, opts.fullId), opts.url), {
      headers,
      signal: AbortSignal.timeout(ICE_SERVERS_TIMEOUT_MS),
    });
  } catch (err) {
    throw new WeeverError(0, `cannot reach ${opts.url}: ${String(err)}`, 'network');
  }
  if (res.status === 404) return [];
  if (res.status !== 200) throw await WeeverError.fromResponse(res);
  let list: unknown;
  try {
    list = await res.json();
  } catch {
    throw new WeeverError(0, 'the ICE servers are not JSON', 'protocol');
  }
  if (!Array.isArray(list) || !list.every(isIceServer))
    throw new WeeverError(0, 'the ICE servers are not a list of RTCIceServer', 'protocol');
  return list;
}

/** How long asking for the ICE servers may take. */
const ICE_SERVERS_TIMEOUT_MS = 5000;

function isIceServer(x: unknown): x is IceServer {
  const s = x as IceServer;
  return (
    typeof s === 'object' &&
    s !== null &&
    Array.isArray(s.urls) &&
    s.urls.every((u) => typeof u === 'string') &&
    (s.username === undefined || typeof s.username === 'string') &&
    (s.credential === undefined || typeof s.credential === 'string')
  );
}

/** mid → MediaStream id (the publisher's full id) of each active m-line of an SDP. */
/** Each m-section's mid → the track id of its `a=msid` (sections without one are left out). */
export function tracksOfMids(sdp: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const track = /^a=msid:\S+ (\S+)/m.exec(section)?.[1];
    if (mid && track) out.set(mid, track);
  }
  return out;
}

/**
 * `sdp` with the stream id of the m-sections of `mids` set to `stream`, in `a=msid` and in
 * the SSRCs' msid attributes: how the server learns that those m-lines are the screen
 * share `stream` (docs/protocol.md, "One connection for camera and screen"). Only the copy
 * sent to the server is changed; the browser's own description keeps its ids.
 */
export function markStream(sdp: string, mids: ReadonlySet<string>, stream: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  let inMarked = false;
  const sectionMid = (from: number): string | undefined => {
    for (let i = from + 1; i < lines.length && !lines[i]!.startsWith('m='); i++)
      if (lines[i]!.startsWith('a=mid:')) return lines[i]!.slice(6);
    return undefined;
  };
  return lines
    .map((line, i) => {
      if (line.startsWith('m=')) {
        const mid = sectionMid(i);
        inMarked = mid !== undefined && mids.has(mid);
        return line;
      }
      if (!inMarked) return line;
      if (line.startsWith('a=msid:')) return line.replace(/^a=msid:\S+/, `a=msid:${stream}`);
      return line.replace(/^(a=ssrc:\d+ msid:)\S+/, `$1${stream}`);
    })
    .join(eol);
}

export function msidsOf(sdp: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const msid = /^a=msid:(\S+)/m.exec(section)?.[1];
    if (mid && msid && msid !== '-' && !/^a=inactive/m.test(section)) out.set(mid, msid);
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WeeverError(0, what, 'protocol')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
