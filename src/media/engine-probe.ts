/**
 * Is the engine still passing packets? libdatachannel can wedge: one malformed RTCP packet
 * from any peer (an SDES item longer than its packet) sends its dispatch loop spinning for
 * ever, and from then on no peer of the process gets media — while the JavaScript side,
 * and so a naive /liveness, stays perfectly healthy. The engine cannot be patched from
 * here, so we watch it: two PeerConnections of our own, connected over loopback through
 * the same engine, send one RTP packet every `intervalMs`; when `lostLimit` packets in a
 * row were sent and none arrived (2 s at the default pace), the engine is wedged. Counting
 * packets, not time: a starved or blocked JavaScript thread sends fewer, so it never
 * mistakes its own delays for the engine's. That thread's own health is judged apart: a
 * tick that has not run for `lateMs` means timers starve (the engine floods the thread
 * with callbacks: issue 22) or the loop is blocked, and `healthy()` says no as well — the
 * supervisor's heartbeat asks it (heartbeat.ts), from outside the flooded loop.
 */
import nodeDataChannel from 'node-datachannel';
import { randomSsrc } from 'weever-rtp';
import type { Logger } from '../observability/log.js';
import { holdHandles } from './engine-handles.js';

export interface ProbeOptions {
  rtcConfig: nodeDataChannel.RtcConfig;
  log: Logger;
  intervalMs?: number;
  /** packets in a row that may go unanswered */
  lostLimit?: number;
  /**
   * A probe that has not carried a packet this long after it started counts as wedged
   * (unset: it only counts once it worked). Set when an earlier probe of the process worked:
   * an engine that wedges while the probe connects would otherwise never be judged.
   */
  connectWithinMs?: number;
  /** called once, when the engine is found wedged */
  onWedged: (silentMs: number) => void;
}

export class EngineProbe {
  private readonly a: nodeDataChannel.PeerConnection;
  private readonly b: nodeDataChannel.PeerConnection;
  private sender: nodeDataChannel.Track | undefined;
  private receiver: nodeDataChannel.Track | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly packet = Buffer.alloc(16);
  private seq = 0;
  /** when the last probe packet came through; 0 until the pair first carried one */
  private lastArrival = 0;
  private wedged = false;
  private closed = false;
  /** probe packets sent since the last one arrived */
  private unanswered = 0;
  private readonly lostLimit: number;
  private readonly lateMs: number;
  /** when the timer last ran */
  private lastTick = performance.now();
  private readonly startedAt = performance.now();

  constructor(private readonly o: ProbeOptions) {
    this.lostLimit = o.lostLimit ?? 8;
    const intervalMs = o.intervalMs ?? 250;
    this.lateMs = Math.max(2000, 4 * intervalMs);
    const config = { ...o.rtcConfig, iceServers: [] }; // loopback: no STUN/TURN needed
    this.a = holdHandles(new nodeDataChannel.PeerConnection('engine-probe-a', config));
    this.b = holdHandles(new nodeDataChannel.PeerConnection('engine-probe-b', config));
    const ssrc = randomSsrc();
    this.packet[0] = 0x80;
    this.packet[1] = 96;
    this.packet.writeUInt32BE(ssrc, 8);
    const video = new nodeDataChannel.Video('probe', 'SendOnly');
    video.addVP8Codec(96);
    video.addSSRC(ssrc, 'probe');
    this.sender = this.a.addTrack(video);
    this.b.onTrack((t) => {
      this.receiver = t; // kept: a collected wrapper closes the track
      t.onMessage(() => {
        this.lastArrival = performance.now();
        this.unanswered = 0;
      });
    });
    this.connect();
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  private connect(): void {
    try {
      // Candidates trickle: each goes to the other side as it comes (registered before gathering starts).
      this.a.onLocalCandidate((c, mid) => this.addCandidate(this.b, c, mid));
      this.b.onLocalCandidate((c, mid) => this.addCandidate(this.a, c, mid));
      this.a.setLocalDescription('offer');
      const offer = this.a.localDescription();
      if (!offer) throw new Error('no offer');
      this.b.setRemoteDescription(offer.sdp, 'offer');
      this.b.setLocalDescription('answer');
      const answer = this.b.localDescription();
      if (!answer) throw new Error('no answer');
      this.a.setRemoteDescription(answer.sdp, 'answer');
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'engine probe could not start; wedge detection is off');
    }
  }

  private addCandidate(pc: nodeDataChannel.PeerConnection, candidate: string, mid: string): void {
    try {
      if (!this.closed) pc.addRemoteCandidate(candidate, mid);
    } catch {
      // the other side closed
    }
  }

  /** Time since the last probe packet came through; undefined while the probe never worked. */
  silentMs(now = performance.now()): number | undefined {
    return this.lastArrival === 0 ? undefined : now - this.lastArrival;
  }

  /** False once packets stopped coming through the engine, or while our own timers run late. */
  healthy(now = performance.now()): boolean {
    if (this.wedged || now - this.lastTick > this.lateMs) return false;
    if (this.lastArrival === 0) return !this.neverConnected(now);
    return this.unanswered < this.lostLimit;
  }

  private neverConnected(now: number): boolean {
    return this.o.connectWithinMs !== undefined && now - this.startedAt > this.o.connectWithinMs;
  }

  /** True once a probe packet came through. */
  worked(): boolean {
    return this.lastArrival !== 0;
  }

  private tick(): void {
    this.lastTick = performance.now();
    if (this.closed || this.wedged) return;
    if ((this.lastArrival !== 0 && this.unanswered >= this.lostLimit) || (this.lastArrival === 0 && this.neverConnected(this.lastTick))) {
      this.wedged = true;
      this.o.onWedged(this.silentMs() ?? this.lastTick - this.startedAt);
      return;
    }
    const s = this.sender;
    try {
      if (!s?.isOpen()) return;
      this.packet.writeUInt16BE(this.seq++ & 0xffff, 2);
      this.packet.writeUInt32BE((this.seq * 3000) >>> 0, 4);
      s.sendMessageBinary(this.packet);
      this.unanswered++;
    } catch {
      // closed under us: the next tick sees it
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const t of [this.sender, this.receiver]) {
      try {
        t?.close();
      } catch {
        // already closed
      }
    }
    for (const pc of [this.a, this.b]) {
      try {
        pc.close();
      } catch {
        // already closed
      }
    }
  }
}
