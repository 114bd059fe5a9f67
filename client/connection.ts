/**
 * One peer connection to the server: the HTTP POST with a complete (non-trickle) offer,
 * the `control` data channel and its messages, failure detection and the goodbye
 * (`STOP` on the channel + `DELETE` of the session URL). Contract §2–§3.
 */
import { WeeverError } from './errors.js';

export type Role = 'pub' | 'sub';

export interface ConnectionHandlers {
  /** `PUB_JOIN <fullId>` (subscriber) */
  join?(fullId: string): void;
  /** `PUB_LEFT <fullId>` (subscriber) */
  left?(fullId: string): void;
  /** a remote track arrived; `stream.id` is the publisher's full id */
  track?(stream: MediaStream, track: MediaStreamTrack): void;
  /** `ERROR <reason>` from the server, or a failure applying its offer */
  error?(err: WeeverError): void;
  /** the connection is lost (ICE failed, stayed disconnected, or the server closed the channel) */
  lost?(reason: string): void;
}

export interface ConnectionOptions {
  /** base URL of the public server, e.g. `https://sfu.example.com` */
  url: string;
  role: Role;
  room: string;
  fullId: string;
  token?: string;
  iceServers?: RTCIceServer[];
  /** publisher: the tracks to send (sendonly) */
  tracks?: readonly MediaStreamTrack[];
  stream?: MediaStream;
  /** how long ICE gathering may take before the offer goes with the candidates found so far */
  gatherTimeoutMs?: number;
  /** how long `disconnected` may last before the connection counts as lost */
  disconnectGraceMs?: number;
  handlers: ConnectionHandlers;
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

  private readonly dc: RTCDataChannel;
  private readonly opts: ConnectionOptions;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private lostFired = false;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(opts: ConnectionOptions) {
    this.opts = opts;
    this.role = opts.role;
    this.fullId = opts.fullId;
    this.pc = new RTCPeerConnection({ iceServers: opts.iceServers ?? [] });
    this.dc = this.pc.createDataChannel('control');
  }

  /** Connects; resolves once the answer is applied and the control channel is open. */
  static async open(opts: ConnectionOptions): Promise<Connection> {
    const c = new Connection(opts);
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
      dc.addEventListener('open', () => resolve(), { once: true });
      dc.addEventListener('close', () => reject(new WeeverError(0, 'control channel closed before it opened', 'protocol')), { once: true });
    });
    opened.catch(() => {}); // observed below; avoids an unhandled rejection if POST fails first
    dc.addEventListener('message', (e) => this.onMessage(String(e.data)));
    dc.addEventListener('close', () => this.markLost('the server closed the control channel'));
    pc.addEventListener('track', (e) => {
      const stream = e.streams[0];
      if (stream) opts.handlers.track?.(stream, e.track);
    });
    pc.addEventListener('connectionstatechange', () => this.onState());
    for (const track of opts.tracks ?? []) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: opts.stream ? [opts.stream] : [] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await this.gathered(opts.gatherTimeoutMs ?? 5000);
    const path = `/${opts.role}/${encodeURIComponent(opts.room)}/${encodeURIComponent(opts.fullId)}`;
    const headers: Record<string, string> = { 'Content-Type': 'application/sdp' };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, opts.url), { method: 'POST', headers, body: pc.localDescription!.sdp });
    } catch (err) {
      throw new WeeverError(0, `cannot reach ${opts.url}: ${String(err)}`, 'network');
    }
    if (res.status !== 201) throw await WeeverError.fromResponse(res);
    const answer = await res.text();
    const location = res.headers.get('Location');
    this.session = location ? new URL(location, res.url || opts.url).href : null;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await withTimeout(opened, 15_000, 'control channel did not open');
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
  private onMessage(msg: string): void {
    this.queue = this.queue
      .then(() => this.handle(msg))
      .catch((err) => {
        if (!this.closed) this.opts.handlers.error?.(new WeeverError(0, `renegotiation failed: ${String(err)}`, 'protocol'));
      });
  }

  private async handle(msg: string): Promise<void> {
    if (this.closed) return;
    const space = msg.indexOf(' ');
    const cmd = space < 0 ? msg : msg.slice(0, space);
    const arg = space < 0 ? '' : msg.slice(space + 1);
    const h = this.opts.handlers;
    switch (cmd) {
      case 'SDP_OFFER': {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: arg });
        this.streamOfMid = msidsOf(arg);
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        if (this.closed) return;
        this.dc.send(`SDP_ANSWER ${this.pc.localDescription!.sdp}`);
        this.answered++;
        return;
      }
      case 'PUB_JOIN':
        h.join?.(arg);
        return;
      case 'PUB_LEFT':
        h.left?.(arg);
        return;
      case 'ERROR':
        h.error?.(new WeeverError(0, arg, 'protocol'));
        return;
      default:
        return; // OK and anything newer: nothing to do
    }
  }

  private onState(): void {
    const state = this.pc.connectionState;
    if (state === 'connected') {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    } else if (state === 'failed' || state === 'closed') {
      this.markLost(`ICE ${state}`);
    } else if (state === 'disconnected' && this.graceTimer === undefined) {
      // `disconnected` often heals by itself; a dead server only shows as `failed` much later.
      this.graceTimer = setTimeout(() => this.markLost('ICE disconnected'), this.opts.disconnectGraceMs ?? 3000);
    }
  }

  private markLost(reason: string): void {
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
    if (this.dc.readyState === 'open') {
      try {
        this.dc.send('STOP');
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

/** mid → MediaStream id (the publisher's full id) of each active m-line of an SDP. */
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
