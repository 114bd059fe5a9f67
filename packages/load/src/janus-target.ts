/**
 * Janus' videoroom plugin as a load-tool target, over Janus' HTTP REST API (Janus 1.x):
 * one Janus session per target, one plugin handle per publisher and per subscriber plus
 * one for room administration. Events (answers to asynchronous requests) arrive by
 * long-poll, which also keeps the session alive while it lives. Clients are
 * node-datachannel PeerConnections like the weever target's, negotiating without trickle
 * (complete offers and answers), so both servers see the same clients. They bind to the
 * address Janus gathers its candidates on (its info `local-ip`): Janus never uses a
 * loopback interface, and a client on 127.0.0.1 does not complete ICE with it.
 */
import nodeDataChannel from 'node-datachannel';
import sdpTransform from 'sdp-transform';
import { addSendTrack, forwardRtp, gathered, type RtpListener, waitForPc, watchKeyframeRequests } from './peer.js';
import type { Kind, MediaSender, PublisherConnection, SubscriberConnection, Target } from './target.js';

type PC = nodeDataChannel.PeerConnection;

const PLUGIN = 'janus.plugin.videoroom';
/** Janus' videoroom error code for "room already exists": another worker created it first. */
const ROOM_EXISTS = 427;
/** Bounds every wait: an HTTP request, a plugin event, ICE gathering, a connection. */
const REQUEST_TIMEOUT_MS = 10_000;
const EVENT_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 15_000;
/** Events per long-poll answer. */
const MAX_EVENTS = 32;

interface JanusJsep {
  type: 'offer' | 'answer';
  sdp: string;
}

interface JanusMessage {
  janus: string;
  transaction?: string;
  sender?: number;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: JanusJsep;
}

export interface PluginReply {
  data: Record<string, unknown>;
  jsep?: JanusJsep;
}

interface Pending {
  resolve: (m: JanusMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Our string room → a numeric Janus room id, the same in every worker and run (FNV-1a, never 0). */
export function janusRoomId(room: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < room.length; i++) {
    h ^= room.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h % 0x7ffffffe) + 1;
}

/** One Janus session: requests, plugin handles, and the long-poll that delivers events and keeps it alive. */
export class JanusSession {
  private readonly pending = new Map<string, Pending>();
  private readonly poller = new AbortController();
  private closed = false;
  private polling = true;
  private txSeq = 0;
  private readonly txPrefix = Math.random().toString(36).slice(2, 8);

  private constructor(
    private readonly url: string,
    readonly id: number,
    /** the address Janus gathers ICE candidates on (its info `local-ip`) */
    readonly localIp: string | undefined,
  ) {}

  static async create(url: string): Promise<JanusSession> {
    const [info, r] = await Promise.all([
      fetch(`${url}/info`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).then((x) => x.json() as Promise<{ 'local-ip'?: string }>),
      post(url, { janus: 'create', transaction: 'create' }),
    ]);
    if (r.janus !== 'success' || typeof r.data?.id !== 'number') throw janusError('create session', r);
    const s = new JanusSession(url, r.data.id, info['local-ip']);
    void s.poll();
    return s;
  }

  async attach(): Promise<number> {
    const r = await this.send(`${this.url}/${this.id}`, { janus: 'attach', plugin: PLUGIN });
    if (r.janus !== 'success' || typeof r.data?.id !== 'number') throw janusError('attach', r);
    return r.data.id;
  }

  /** A videoroom request; resolves with the plugin's answer, synchronous or (after an ack) by event. */
  async message(handle: number, body: Record<string, unknown>, jsep?: JanusJsep & { trickle: false }): Promise<PluginReply> {
    const r = await this.send(`${this.url}/${this.id}/${handle}`, { janus: 'message', body, ...(jsep ? { jsep } : {}) });
    if ((r.janus !== 'success' && r.janus !== 'event') || !r.plugindata) throw janusError(String(body.request), r);
    const data = r.plugindata.data;
    if (data.error_code !== undefined || data.error !== undefined) {
      const e = new Error(`janus ${String(body.request)}: ${String(data.error ?? 'error')} (${String(data.error_code)})`);
      (e as Error & { code?: unknown }).code = data.error_code;
      throw e;
    }
    return r.jsep ? { data, jsep: r.jsep } : { data };
  }

  async detach(handle: number): Promise<void> {
    if (this.closed) return;
    await this.send(`${this.url}/${this.id}/${handle}`, { janus: 'detach' }).catch(() => undefined);
  }

  async destroy(): Promise<void> {
    if (this.closed) return;
    // stop polling first: a poll sent after the destroy would find no session
    this.polling = false;
    this.poller.abort();
    try {
      await this.send(`${this.url}/${this.id}`, { janus: 'destroy' });
    } catch {
      // already gone (server stopped or session timed out)
    }
    this.close(new Error('janus session destroyed'));
  }

  /**
   * Sends a request; an `ack` means the answer comes later as an event with the same
   * transaction. The waiter is registered before sending: the event may come by
   * long-poll before the HTTP answer does.
   */
  private send(url: string, msg: Record<string, unknown>): Promise<JanusMessage> {
    if (this.closed) return Promise.reject(new Error('janus session closed'));
    const transaction = `${this.txPrefix}-${++this.txSeq}`;
    const event = new Promise<JanusMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new Error(`janus: no answer to ${String(msg.janus)} ${describe(msg)} within ${EVENT_TIMEOUT_MS} ms`));
      }, EVENT_TIMEOUT_MS);
      this.pending.set(transaction, { resolve, reject, timer });
    });
    event.catch(() => undefined); // awaited below only after an ack
    return post(url, { ...msg, transaction }).then(
      (r) => {
        if (r.janus === 'ack') return event;
        this.settle(transaction);
        return r;
      },
      (err: unknown) => {
        this.settle(transaction);
        throw err;
      },
    );
  }

  private settle(transaction: string): void {
    const p = this.pending.get(transaction);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(transaction);
  }

  /** Long-poll loop: delivers events to their waiters; each poll also refreshes the session's timeout. */
  private async poll(): Promise<void> {
    let failures = 0;
    while (this.polling && !this.closed) {
      try {
        const r = await fetch(`${this.url}/${this.id}?maxev=${MAX_EVENTS}&rid=${Date.now()}`, { signal: this.poller.signal });
        if (r.status !== 200) throw new Error(`long-poll: HTTP ${r.status}`);
        const body = (await r.json()) as JanusMessage | JanusMessage[];
        failures = 0;
        for (const m of Array.isArray(body) ? body : [body]) this.dispatch(m);
      } catch (err) {
        if (!this.polling || this.closed) return;
        // The session is gone (server stopped, or Janus timed it out): fail every waiter.
        if (++failures >= 3) return this.close(new Error(`janus session ${this.id} lost: ${String((err as Error).message ?? err)}`));
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private dispatch(m: JanusMessage): void {
    if (!m.transaction) return; // webrtcup, media, hangup, slowlink, keepalive: nothing waits for them
    const p = this.pending.get(m.transaction);
    if (!p || m.janus === 'ack') return;
    clearTimeout(p.timer);
    this.pending.delete(m.transaction);
    p.resolve(m);
  }

  private close(err: Error): void {
    this.closed = true;
    this.poller.abort();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

async function post(url: string, msg: Record<string, unknown>): Promise<JanusMessage> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(msg),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (r.status !== 200) throw new Error(`janus ${String(msg.janus)}: HTTP ${r.status} ${(await r.text()).trim().slice(0, 200)}`);
  return (await r.json()) as JanusMessage;
}

function describe(msg: Record<string, unknown>): string {
  const body = msg.body as { request?: string } | undefined;
  return body?.request ?? '';
}

function janusError(what: string, r: JanusMessage): Error {
  const reason = r.error ? `${r.error.reason} (${r.error.code})` : `unexpected ${r.janus}`;
  return new Error(`janus ${what}: ${reason}`);
}

function closePc(pc: PC): void {
  try {
    pc.close();
  } catch {
    // already closed
  }
}

/** The payload type Janus' answer kept for `codec` in the m-line `mid`. */
function answeredPayloadType(answer: sdpTransform.SessionDescription, mid: string, codec: string): number {
  const m = answer.media.find((x) => String(x.mid) === mid);
  const rtp = m && m.port !== 0 ? m.rtp.find((r) => r.codec.toLowerCase() === codec) : undefined;
  if (!rtp) throw new Error(`janus rejected ${codec} (m-line ${mid})`);
  return rtp.payload;
}

/** A client PeerConnection with its plugin handle: closing detaches the handle and tells the target. */
abstract class JanusConnection {
  private closed = false;

  constructor(
    readonly id: string,
    private readonly pc: PC,
    private readonly session: JanusSession,
    private readonly handle: number,
    private readonly onClosed: () => void,
  ) {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
    closePc(this.pc);
    await this.session.detach(this.handle);
  }
}

class JanusPublisher extends JanusConnection implements PublisherConnection {
  video?: MediaSender;
  audio?: MediaSender;
  readonly keyframeCbs: ((ssrc: number) => void)[] = [];

  onKeyframeRequest(cb: (ssrc: number) => void): void {
    this.keyframeCbs.push(cb);
  }
}

class JanusSubscriber extends JanusConnection implements SubscriberConnection, RtpListener {
  rtp: ((kind: Kind, packet: Buffer) => void) | undefined;
  /** Held so the GC does not collect them while packets flow. */
  readonly tracks: nodeDataChannel.Track[] = [];

  /** Per track, once: the callback reads the current listener, so onRtp may be set later. */
  addTrack(track: nodeDataChannel.Track, kind: Kind): void {
    this.tracks.push(track);
    forwardRtp(track, kind, this);
  }

  onRtp(cb: (kind: Kind, packet: Buffer) => void): void {
    this.rtp = cb;
  }

  override close(): Promise<void> {
    this.rtp = undefined;
    return super.close();
  }
}

export class JanusTarget implements Target {
  readonly name = 'janus';
  private readonly url: string;
  private sessionP: Promise<JanusSession> | undefined;
  private adminHandle: Promise<number> | undefined;
  private readonly rooms = new Map<string, Promise<number>>();
  private readonly connections = new Set<JanusPublisher | JanusSubscriber>();

  /** `url`: Janus' HTTP API base, e.g. http://127.0.0.1:8088/janus */
  constructor(opts: { url: string }) {
    this.url = opts.url.replace(/\/+$/, '');
  }

  async publish(room: string, id: string, media: { audio: boolean; video: boolean; layers?: number }): Promise<PublisherConnection> {
    if ((media.layers ?? 1) > 1) throw new Error('the Janus target publishes one video layer (no simulcast)');
    if (!media.audio && !media.video) throw new Error('janus publish: send audio, video or both');
    const roomId = await this.room(room);
    const session = await this.session();
    const handle = await session.attach();
    const pc = new nodeDataChannel.PeerConnection(id, this.rtcConfig(session, true));
    const pub: JanusPublisher = new JanusPublisher(id, pc, session, handle, () => this.connections.delete(pub));
    this.connections.add(pub);
    try {
      if (media.video) {
        pub.video = addSendTrack(pc, 'video', { cname: id, msid: id, trackId: `${id}-video` });
        const ssrc = pub.video.ssrc;
        watchKeyframeRequests(pub.video, () => {
          for (const cb of pub.keyframeCbs) cb(ssrc);
        });
      }
      if (media.audio) pub.audio = addSendTrack(pc, 'audio', { cname: id, msid: id, trackId: `${id}-audio` });
      const tracks = [pub.video, pub.audio].flatMap((s) => (s ? [s.track] : []));
      pc.setLocalDescription();
      await gathered(pc, CONNECT_TIMEOUT_MS);
      const offer = pc.localDescription();
      if (!offer) throw new Error('janus publish: no local offer');
      await session.message(handle, { request: 'join', ptype: 'publisher', room: roomId, display: id });
      const { jsep } = await session.message(handle, { request: 'publish' }, { type: 'offer', sdp: offer.sdp, trickle: false });
      if (jsep?.type !== 'answer') throw new Error('janus publish: no SDP answer');
      const answer = sdpTransform.parse(jsep.sdp);
      if (pub.video) pub.video.payloadType = answeredPayloadType(answer, '0', 'vp8');
      if (pub.audio) pub.audio.payloadType = answeredPayloadType(answer, '1', 'opus');
      pc.setRemoteDescription(jsep.sdp, 'answer');
      // the load tool writes to the tracks right away: they must be open (DTLS done)
      await waitForPc('janus publish: connection', pc, () => tracks.every((t) => t.isOpen()), CONNECT_TIMEOUT_MS);
    } catch (err) {
      await pub.close();
      throw err;
    }
    return pub;
  }

  async subscribe(room: string, id: string, choose?: unknown): Promise<SubscriberConnection> {
    if (choose) throw new Error('manual subscription: weever only');
    const roomId = await this.room(room);
    const session = await this.session();
    const { data } = await session.message(await this.admin(), { request: 'listparticipants', room: roomId });
    const participants = (data.participants ?? []) as { id: number | string; publisher?: boolean; display?: string }[];
    // conference ids (`p<i>+sub` beside `p<i>+pub`): nobody subscribes to their own feed, as on ours
    const own = id.endsWith('+sub') ? `${id.slice(0, -'+sub'.length)}+pub` : undefined;
    const feeds = participants.filter((p) => p.publisher && p.display !== own).map((p) => ({ feed: p.id }));
    if (feeds.length === 0) throw new Error(`janus subscribe: room ${room} has no publisher yet`);
    const handle = await session.attach();
    const pc = new nodeDataChannel.PeerConnection(id, this.rtcConfig(session, false));
    const sub: JanusSubscriber = new JanusSubscriber(id, pc, session, handle, () => this.connections.delete(sub));
    this.connections.add(sub);
    try {
      const { jsep } = await session.message(handle, { request: 'join', ptype: 'subscriber', room: roomId, streams: feeds });
      if (jsep?.type !== 'offer') throw new Error('janus subscribe: no SDP offer');
      const kinds = new Map<string, Kind>();
      for (const m of sdpTransform.parse(jsep.sdp).media) {
        if (m.type === 'audio' || m.type === 'video') kinds.set(String(m.mid), m.type);
      }
      pc.onTrack((track) => {
        const kind = kinds.get(track.mid());
        if (kind) sub.addTrack(track, kind);
      });
      // auto-negotiation: the answer (recvonly) is made as the offer is set
      pc.setRemoteDescription(jsep.sdp, 'offer');
      await gathered(pc, CONNECT_TIMEOUT_MS);
      const answer = pc.localDescription();
      if (answer?.type !== 'answer') throw new Error('janus subscribe: no local answer');
      await session.message(handle, { request: 'start' }, { type: 'answer', sdp: answer.sdp, trickle: false });
      await waitForPc('janus subscribe: connection', pc, () => pc.state() === 'connected', CONNECT_TIMEOUT_MS);
    } catch (err) {
      await sub.close();
      throw err;
    }
    return sub;
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections].map((c) => c.close()));
    this.connections.clear();
    const s = this.sessionP;
    this.sessionP = undefined;
    this.adminHandle = undefined; // belongs to that session
    if (s) await (await s.catch(() => undefined))?.destroy();
  }

  private rtcConfig(session: JanusSession, disableAutoNegotiation: boolean): nodeDataChannel.RtcConfig {
    return { iceServers: [], disableAutoNegotiation, ...(session.localIp ? { bindAddress: session.localIp } : {}) };
  }

  private session(): Promise<JanusSession> {
    if (!this.sessionP) {
      this.sessionP = JanusSession.create(this.url);
      this.sessionP.catch(() => {
        this.sessionP = undefined;
      });
    }
    return this.sessionP;
  }

  /** A handle for room administration (create, listparticipants), shared by the target. */
  private admin(): Promise<number> {
    if (!this.adminHandle) {
      this.adminHandle = this.session().then((s) => s.attach());
      this.adminHandle.catch(() => {
        this.adminHandle = undefined;
      });
    }
    return this.adminHandle;
  }

  /** Creates the room on first use; another worker may have created it already. */
  private room(name: string): Promise<number> {
    let p = this.rooms.get(name);
    if (!p) {
      p = this.createRoom(name);
      this.rooms.set(name, p);
      p.catch(() => this.rooms.delete(name));
    }
    return p;
  }

  private async createRoom(name: string): Promise<number> {
    const room = janusRoomId(name);
    const session = await this.session();
    try {
      await session.message(await this.admin(), {
        request: 'create',
        room,
        description: name,
        publishers: 1000,
        bitrate: 0, // no cap: our ~1 Mbps must pass
        fir_freq: 0, // keyframes only when a subscriber asks (PLI on join), like ours
        audiocodec: 'opus',
        videocodec: 'vp8',
        notify_joining: false,
      });
    } catch (err) {
      if ((err as { code?: unknown }).code !== ROOM_EXISTS) throw err;
    }
    return room;
  }
}
