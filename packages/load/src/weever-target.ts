/**
 * Our server as a load-test target: node-datachannel (libdatachannel, SRTP in C++)
 * clients that speak the protocol (docs/protocol.md) exactly like a browser: one POST with a complete
 * offer, the `control` data channel, answers to the server's renegotiation offers.
 */
import nodeDataChannel from 'node-datachannel';
import { control as controlMessage, parseServerMessage, paths, SDP_CONTENT_TYPE, trackId } from 'weever-protocol';
import {
  addSendTrack,
  addSimulcastVideoTrack,
  forwardRtp,
  gathered,
  type RtpListener,
  simulcastOffer,
  watchLayerKeyframeRequests,
} from './peer.js';
import type { Choose, Kind, MediaSender, PublisherConnection, PublishMedia, SubscriberConnection, Target } from './target.js';

type PC = nodeDataChannel.PeerConnection;
type DataChannel = nodeDataChannel.DataChannel;

/**
 * The offer as POSTed: `a=setup:active`, so this client is the DTLS client. Offered as
 * `actpass`, the server answers `active` and sends its ClientHello as soon as its ICE
 * check succeeds; libdatachannel as DTLS server drops a record that arrives before its own
 * ICE reports connected, and the handshake then waits for the 1 s DTLS retransmission
 * (measured: 10 of 20 loopback connections opened in ~1000 ms instead of 3 ms; none with
 * `active`). Browsers do not lose that record, so `active` keeps our clients browser-like
 * in timing. RFC 5763 allows an offer with `active`.
 */
export function asDtlsClient(sdp: string): string {
  return sdp.replace(/a=setup:actpass/g, 'a=setup:active');
}

/** POSTs an SDP offer; the answer on 201, an error with the server's reason otherwise. */
export async function postOffer(url: string, sdp: string): Promise<string> {
  let r: Response;
  try {
    r = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': SDP_CONTENT_TYPE },
      body: sdp,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, timeout …) is its cause
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`POST ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await r.text();
  if (r.status !== 201) throw new Error(`${r.status} ${text.trim()}`);
  return text;
}

/** Resolves when `ch` opens; rejects when the connection fails or closes first, or after `timeoutMs`. */
function opened(pc: PC, ch: { isOpen(): boolean; onOpen(cb: () => void): void }, what: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (ch.isOpen()) return resolve();
    const done = (err?: Error) => {
      clearTimeout(t);
      clearInterval(watch);
      if (err) reject(err);
      else resolve();
    };
    const t = setTimeout(() => done(new Error(`${what} did not open within ${timeoutMs} ms`)), timeoutMs);
    // polled, not onStateChange: that callback is the application's (one per connection)
    const watch = setInterval(() => {
      const state = pc.state();
      if (state === 'failed' || state === 'closed') done(new Error(`${CONNECTION_LOST} before ${what} opened (${state})`));
    }, 20);
    ch.onOpen(() => done());
  });
}

/** Answers the server's offers on the control channel; records PUB_JOIN and ERROR lines. */
function handleControl(pc: PC, dc: DataChannel, peer: { offers: number; joins: string[]; errors: string[] }, choose?: Choose): void {
  // A throw inside a native callback aborts the process: catch everything here.
  dc.onMessage((msg) => {
    try {
      // What the load clients do not act on (PUB_LEFT, OK, a message they cannot parse) is ignored.
      const parsed = parseServerMessage(String(msg));
      if (!parsed.ok) return;
      const m = parsed.command;
      if (m.cmd === 'SDP_OFFER') {
        peer.offers++;
        pc.setRemoteDescription(m.sdp, 'offer');
        const answer = pc.localDescription();
        if (answer) dc.sendMessage(controlMessage.sdpAnswer(answer.sdp));
      } else if (m.cmd === 'PUB_JOIN') {
        peer.joins.push(m.pub);
        const q = choose?.(m.pub);
        if (q === 'low') dc.sendMessage(controlMessage.videoQuality(m.pub, 'low'));
        if (q) dc.sendMessage(controlMessage.sub(m.pub));
      } else if (m.cmd === 'ERROR') peer.errors.push(m.reason);
    } catch (err) {
      peer.errors.push(`client: ${String(err)}`);
    }
  });
}

function closePc(pc: PC, dc: DataChannel): void {
  try {
    if (dc.isOpen()) dc.sendMessage(controlMessage.stop());
    pc.close();
  } catch {
    // closed
  }
}

const CONNECTION_LOST = 'connection lost';

/**
 * About 1 in 30–100 loopback connections of a libdatachannel client fails right after ICE
 * connects: its DTLS handshake ends with "certificate verify failed" (alert "unknown CA")
 * and the connection closes; the answer then cannot be applied ("Got a remote candidate
 * without ICE transport") or the channel never opens. Seen more often on a loaded machine
 * and in a freshly started process; never with Chromium clients. The server's session is
 * dropped by its connect timeout; a new connection under another full id (`<id>-2` …
 * `<id>-5`) after a pause works. The pause doubles (0.1, 0.2, 0.4, 0.8 s): on a loaded
 * machine quick retries could all fail the same way.
 */
const ATTEMPTS = 5;
export const RETRY_SUFFIX = /-[2-5]$/;
export async function retryConnect<T>(id: string, connect: (fullId: string) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect(attempt === 1 ? id : `${id}-${attempt}`);
    } catch (err) {
      const message = String((err as Error).message);
      if (attempt === ATTEMPTS || !(message.includes('without ICE transport') || message.includes(CONNECTION_LOST))) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)));
    }
  }
}

export class WeeverPublisher implements PublisherConnection {
  video?: MediaSender;
  videoLayers?: MediaSender[];
  audio?: MediaSender;
  offers = 0;
  joins: string[] = [];
  errors: string[] = [];
  private keyframeRequest: ((ssrc: number) => void) | undefined;

  constructor(
    readonly id: string,
    private readonly pc: PC,
    // Held so the GC does not collect the channel: node-datachannel closes it when it does.
    readonly control: DataChannel,
  ) {}

  onKeyframeRequest(cb: (ssrc: number) => void): void {
    this.keyframeRequest = cb;
  }

  /** RTCP arriving on the video send track: PLI or FIR for one of our SSRCs (a layer's) asks for a keyframe. */
  watchKeyframeRequests(senders: readonly MediaSender[]): void {
    watchLayerKeyframeRequests(senders, (ssrc) => this.keyframeRequest?.(ssrc));
  }

  async close(): Promise<void> {
    closePc(this.pc, this.control);
  }
}

export class WeeverSubscriber implements SubscriberConnection, RtpListener {
  offers = 0;
  joins: string[] = [];
  errors: string[] = [];
  rtp: ((kind: Kind, packet: Buffer) => void) | undefined;
  rtcp: ((kind: Kind, packet: Buffer) => void) | undefined;
  // Held so the GC does not collect them (node-datachannel closes what it collects).
  readonly tracks: nodeDataChannel.Track[] = [];

  constructor(
    readonly id: string,
    private readonly pc: PC,
    readonly control: DataChannel,
  ) {
    pc.onTrack((track) => {
      this.tracks.push(track);
      forwardRtp(track, track.type() === 'audio' ? 'audio' : 'video', this);
    });
  }

  onRtp(cb: (kind: Kind, packet: Buffer) => void): void {
    this.rtp = cb;
  }

  /** RTCP on the first received track of `kind` (a recvonly track carries our receiver reports). */
  sendRtcp(kind: Kind, packet: Buffer): boolean {
    for (const t of this.tracks) {
      if ((t.type() === 'audio' ? 'audio' : 'video') !== kind) continue;
      try {
        return t.isOpen() && t.sendMessageBinary(packet);
      } catch {
        return false;
      }
    }
    return false;
  }

  /** Every RTCP packet the server sends on a received track (sender reports). */
  onRtcp(cb: (kind: Kind, packet: Buffer) => void): void {
    this.rtcp = cb;
  }

  async close(): Promise<void> {
    closePc(this.pc, this.control);
  }
}

export interface WeeverTargetOptions {
  /** public base URL of the server, e.g. http://127.0.0.1:8080 */
  url: string;
  /** how long a track or the control channel may take to open */
  openTimeoutMs?: number;
}

export class WeeverTarget implements Target {
  readonly name = 'weever';
  private readonly base: string;
  private readonly openTimeoutMs: number;
  /** client candidates: loopback only when the server is on loopback (fewer candidates, no other interface touched) */
  private readonly bind: { bindAddress?: string };

  constructor(o: WeeverTargetOptions) {
    // WEEVER_LOAD_ENGINE_LOG=Debug (or Verbose, Info, Warning): libdatachannel's log on stderr, for diagnosis
    const level = process.env.WEEVER_LOAD_ENGINE_LOG as nodeDataChannel.LogLevel | undefined;
    if (level)
      nodeDataChannel.initLogger(level, (l, m) => process.stderr.write(`[${process.pid} ${performance.now().toFixed(1)} ${l}] ${m}\n`));
    this.base = o.url.replace(/\/+$/, '');
    this.openTimeoutMs = o.openTimeoutMs ?? 15_000;
    const host = new URL(this.base).hostname;
    this.bind = host === 'localhost' || host.startsWith('127.') ? { bindAddress: '127.0.0.1' } : {};
  }

  async publish(room: string, id: string, media: PublishMedia): Promise<WeeverPublisher> {
    return retryConnect(id, (fullId) => this.publishOnce(room, fullId, media));
  }

  private async publishOnce(room: string, id: string, media: PublishMedia): Promise<WeeverPublisher> {
    const pc = new nodeDataChannel.PeerConnection(id, { iceServers: [], disableAutoNegotiation: true, ...this.bind });
    const control = pc.createDataChannel('control');
    const p = new WeeverPublisher(id, pc, control);
    handleControl(pc, control, p);
    const layers = media.layers ?? 1;
    if (media.video && layers > 1) {
      // SSRC simulcast as the SDK offers it (docs/design.md "Simulcast"): one SSRC per layer, a SIM group
      p.videoLayers = addSimulcastVideoTrack(pc, { cname: 'load', msid: id, trackId: trackId('video', 0) }, layers);
      p.video = p.videoLayers[0]!;
      p.watchKeyframeRequests(p.videoLayers);
    } else if (media.video) {
      p.video = addSendTrack(pc, 'video', { cname: 'load', msid: id, trackId: trackId('video', 0) });
      p.watchKeyframeRequests([p.video]);
    }
    if (media.audio) p.audio = addSendTrack(pc, 'audio', { cname: 'load', msid: id, trackId: trackId('audio', 0) });
    try {
      pc.setLocalDescription();
      await gathered(pc, this.openTimeoutMs);
      let offer = asDtlsClient(pc.localDescription()!.sdp);
      if (p.videoLayers)
        offer = simulcastOffer(
          offer,
          p.videoLayers.map((s) => s.ssrc),
        );
      const answer = await postOffer(`${this.base}${paths.connect('pub', room, id)}`, offer);
      pc.setRemoteDescription(answer, 'answer');
      for (const s of [p.video, p.audio]) if (s) await opened(pc, s.track, `publisher ${id} track`, this.openTimeoutMs);
    } catch (err) {
      pc.close();
      throw err;
    }
    return p;
  }

  async subscribe(room: string, id: string, choose?: Choose): Promise<WeeverSubscriber> {
    return retryConnect(id, (fullId) => this.subscribeOnce(room, fullId, choose));
  }

  private async subscribeOnce(room: string, id: string, choose?: Choose): Promise<WeeverSubscriber> {
    // forceMediaTransport: tracks only arrive later, by renegotiation, on a data-channel-only connection
    const pc = new nodeDataChannel.PeerConnection(id, { iceServers: [], forceMediaTransport: true, ...this.bind });
    const control = pc.createDataChannel('control');
    const sub = new WeeverSubscriber(id, pc, control);
    handleControl(pc, control, sub, choose);
    try {
      await gathered(pc, this.openTimeoutMs);
      const url = `${this.base}${paths.connect('sub', room, id)}${choose ? '?subscribe=manual' : ''}`;
      const answer = await postOffer(url, asDtlsClient(pc.localDescription()!.sdp));
      pc.setRemoteDescription(answer, 'answer');
      await opened(pc, control, `subscriber ${id} control channel`, this.openTimeoutMs);
    } catch (err) {
      const state = `${pc.state()}/${pc.iceState()}/${pc.gatheringState()}`;
      pc.close();
      throw new Error(`${String((err as Error).message ?? err)} (client pc ${state})`);
    }
    return sub;
  }

  async close(): Promise<void> {}
}
