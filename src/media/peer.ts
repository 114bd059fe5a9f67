/**
 * What publishers and subscribers share: one PeerConnection, the `control` data
 * channel, the timers the peer owns, and one idempotent `close` that releases all
 * of it on every exit path (STOP, DELETE, ICE failure, silence, session end, error).
 */
import { randomUUID } from 'node:crypto';
import {
  type ClientCommand,
  control,
  type DataEnvelope,
  idOf,
  type Kind,
  LOSSY_LABEL,
  parseClientMessage,
  payloadBytes,
  type Role,
  type TrackInfo,
} from 'weever-protocol';
import type { Bus } from '../bus/bus.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/log.js';
import type { StateStore } from '../state/store.js';
import type { ActiveSpeakers } from './active-speakers.js';
import { type DataRelay, DataSender } from './data-relay.js';
import { announcePublicIp, type DataChannel, guard, type MediaEngine, type PeerConnection, type Track } from './engine.js';
import { BadOfferError, IceRestartError, oneLine } from './errors.js';
import type { LayerRates } from './layer-rates.js';
import { type Participants, userOf } from './participants.js';

export interface PeerContext {
  /** a publisher told the room its tracks (all of them, each time) */
  onTracks?(peer: Peer, tracks: readonly TrackInfo[]): void;
  config: Config;
  engine: MediaEngine;
  store: StateStore;
  bus: Bus;
  log: Logger;
  /** the active speakers of the rooms with subscribers here */
  speakers: ActiveSpeakers;
  /** bitrates of the simulcast layers published here */
  layerRates: LayerRates;
  /** the rooms' participants: changes made here, and what subscribers here are told */
  participants: Participants;
  /** data messages between the rooms' participants */
  data: DataRelay;
  /** called once when a peer has closed, after its own cleanup started */
  onClosed(peer: Peer, reason: CloseReason): void;
  /** a connection fell silent past PRESENCE_TIMEOUT_MS (away) or spoke again */
  onPresence?(peer: Peer, away: boolean): void;
  /** a server offer was answered after `seconds` */
  onRenegotiated(seconds: number): void;
  /** a subscriber's simulcast layer switch waited `seconds` for the new layer's keyframe */
  onLayerSwitch(seconds: number): void;
  /** a subscriber's caps changed: the dynacast reports should go out soon */
  onLayerWantsChanged?(): void;
}

export type CloseReason =
  | 'stop'
  | 'delete'
  | 'control-closed'
  | 'ice-failed'
  | 'peer-closed'
  | 'connect-timeout'
  | 'media-timeout'
  | 'answer-timeout'
  | 'session-timeout'
  | 'bad-offer'
  | 'negotiation-failed'
  | 'shutdown'
  /** an operator ended it (admin kick) */
  | 'kicked';

const GATHERING_TIMEOUT_MS = 5000;
/**
 * A connection that pinged (the SDK, every 2 s) and then sent nothing for this long is
 * away: its participant leaves the lists long before --media-timeout ends the
 * session (a killed tab shows within 10 s). Traffic brings it back.
 */
export const PRESENCE_TIMEOUT_MS = 6000;

/** What a peer moved and repaired since it started, for the instance's totals (all monotonic). */
export interface Traffic {
  /** RTP packets received from publishers */
  receivedPackets: number;
  forwardedPackets: number;
  forwardedBytes: number;
  /** sequence numbers subscribers NACKed */
  nacksReceived: number;
  /** packets resent to subscribers for those NACKs */
  retransmittedPackets: number;
  /** sequence numbers NACKed to publishers (each try counts) */
  nacksSent: number;
  /** packets lost on a publisher's uplink that arrived later */
  recoveredPackets: number;
  /** packets lost on a publisher's uplink that never came (a keyframe was asked for instead) */
  unrecoveredPackets: number;
  /** keyframe requests (PLI) sent to publishers */
  keyframeRequests: number;
  /** sender reports sent to subscribers */
  senderReports: number;
}

export function emptyTraffic(): Traffic {
  return {
    receivedPackets: 0,
    forwardedPackets: 0,
    forwardedBytes: 0,
    nacksReceived: 0,
    retransmittedPackets: 0,
    nacksSent: 0,
    recoveredPackets: 0,
    unrecoveredPackets: 0,
    keyframeRequests: 0,
    senderReports: 0,
  };
}

/** Adds `t` into `into`, field by field. */
export function addTraffic(into: Traffic, t: Traffic): void {
  for (const k of Object.keys(into) as (keyof Traffic)[]) into[k] += t[k];
}

/** Live tracks per kind: received from publishers, forwarded to subscribers. */
export interface TrackTally {
  published: Record<Kind, number>;
  forwarded: Record<Kind, number>;
}

export abstract class Peer {
  abstract readonly role: Role;
  readonly sessionId = randomUUID();
  /** entity tag of the session resource (WHIP/WHEP PATCH needs it in If-Match) */
  readonly etag = `"${randomUUID()}"`;
  readonly id: string;
  readonly log: Logger;
  protected readonly pc: PeerConnection;
  protected control: DataChannel | undefined;
  /** the client's unordered, unreliable channel for lossy data messages, when it opened one */
  protected lossy: DataChannel | undefined;
  closed = false;
  /** false when the JWT said `canUpdateInfo: false`: SET_INFO is refused */
  canUpdateInfo = true;
  /** this connection's data-message limits, made on its first DATA */
  private dataSender: DataSender | undefined;
  /** bumped on inbound RTP/RTCP/control traffic; the sweeper watches it for silence */
  inbound = 0;
  private lastInbound = -1;
  private lastInboundAt = Date.now();
  /** the client sent PING: its silence means it is gone, not merely idle */
  private pinged = false;
  private away = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private gatheringWaiters: (() => void)[] = [];
  private connectTimer: NodeJS.Timeout | undefined;
  /** resolves when the store entries of this peer are gone */
  private cleanup: Promise<void> = Promise.resolve();

  constructor(
    protected readonly ctx: PeerContext,
    readonly room: string,
    readonly fullId: string,
    role: Role,
  ) {
    this.id = idOf(fullId);
    this.log = ctx.log.child({ role, room, peer: fullId, session: this.sessionId });
    this.pc = ctx.engine.createPeerConnection(`${role}:${room}/${fullId}`);
    this.pc.onStateChange(guard(this.log, 'pc.state', (state: string) => this.onConnectionState(state)));
    this.pc.onGatheringStateChange(
      guard(this.log, 'pc.gathering', (state: string) => {
        if (state === 'complete') this.flushGathering();
      }),
    );
    this.pc.onDataChannel(guard(this.log, 'pc.datachannel', (dc: DataChannel) => this.attachControl(dc)));
    this.pc.onTrack(guard(this.log, 'pc.track', (track: Track) => this.onRemoteTrack(track)));
    this.connectTimer = this.setTimer(ctx.config.connectTimeoutMs, () => this.close('connect-timeout'));
    this.setTimer(ctx.config.sessionTimeoutMs, () => this.close('session-timeout'));
  }

  /** Our DTLS role, fixed by our answer to the client's offer. */
  protected dtlsRole: 'active' | 'passive' | undefined;

  /** Not connected yet (ICE/DTLS still to complete), and not closed. */
  get connecting(): boolean {
    return this.connectTimer !== undefined && !this.closed;
  }

  /** Applies the client's complete offer; resolves with our complete answer (all candidates). */
  async answer(offerSdp: string): Promise<string> {
    this.pc.setRemoteDescription(offerSdp, 'offer');
    this.pc.setLocalDescription('answer');
    await this.gatheringComplete();
    const local = this.pc.localDescription();
    if (!local) throw new Error('engine produced no answer');
    const role = /^a=setup:(active|passive)/m.exec(local.sdp)?.[1];
    if (role === 'active' || role === 'passive') this.dtlsRole = role;
    return announcePublicIp(local.sdp, this.ctx.config.publicIp);
  }

  /**
   * Applies a `application/trickle-ice-sdpfrag` body (RFC 8840): its candidates are added.
   * New ICE credentials would mean an ICE restart, which libdatachannel refuses ("Invalid
   * ICE settings from remote SDP", libdatachannel issue #545): WHIP/WHEP then prescribe
   * 422 (trickle supported, restart not); the session goes on untouched.
   * Returns how many candidates were added.
   */
  trickle(fragment: string): number {
    const remote = this.pc.remoteDescription()?.sdp ?? '';
    const remoteUfrag = /^a=ice-ufrag:(\S+)/m.exec(remote)?.[1];
    const remotePwd = /^a=ice-pwd:(\S+)/m.exec(remote)?.[1];
    const defaultMid = /^a=mid:(\S+)/m.exec(remote)?.[1] ?? '0';
    const lines = fragment.split(/\r?\n/).map((l) => l.trim());
    const candidates: { candidate: string; mid: string }[] = [];
    let mid = defaultMid;
    for (const line of lines) {
      if (line === '') continue;
      if (line.startsWith('m=')) mid = defaultMid;
      else if (line.startsWith('a=mid:')) mid = line.slice(6);
      else if (line.startsWith('a=ice-ufrag:')) {
        if (line.slice(12) !== remoteUfrag) throw new IceRestartError();
      } else if (line.startsWith('a=ice-pwd:')) {
        if (line.slice(10) !== remotePwd) throw new IceRestartError();
      } else if (line.startsWith('a=candidate:')) candidates.push({ candidate: line.slice(2), mid });
      else if (!/^[a-z]=/.test(line)) throw new BadOfferError(`not an SDP fragment line: ${line.slice(0, 60)}`);
    }
    for (const c of candidates) {
      if (!/^candidate:\S+ \d+ (udp|tcp) \d+ \S+ \d+ typ \w+/i.test(c.candidate)) {
        throw new BadOfferError(`malformed ICE candidate: ${c.candidate.slice(0, 80)}`);
      }
    }
    for (const c of candidates) {
      try {
        this.pc.addRemoteCandidate(c.candidate, c.mid);
      } catch (err) {
        throw new BadOfferError(`candidate refused: ${oneLine(err)}`);
      }
    }
    if (candidates.length > 0) this.log.debug({ candidates: candidates.length }, 'trickled candidates');
    return candidates.length;
  }

  private gatheringComplete(): Promise<void> {
    if (this.pc.gatheringState() === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      // Host candidates come in milliseconds; a slow STUN/TURN server must not hold the answer for ever.
      const timer = this.setTimer(GATHERING_TIMEOUT_MS, () => done());
      const done = () => {
        this.clearTimer(timer);
        resolve();
      };
      this.gatheringWaiters.push(done);
      if (this.pc.gatheringState() === 'complete') this.flushGathering();
    });
  }

  private flushGathering(): void {
    const waiters = this.gatheringWaiters;
    this.gatheringWaiters = [];
    for (const w of waiters) w();
  }

  private onConnectionState(state: string): void {
    this.log.debug({ state }, 'connection state');
    switch (state) {
      case 'connected':
        this.clearTimer(this.connectTimer);
        this.connectTimer = undefined;
        break;
      case 'disconnected':
        // A path outage. Tolerated as a browser does: the peer stays until its traffic has
        // been silent for --media-timeout (sweep) or ICE consent expires ('failed', 30 s in
        // libjuice). libjuice does not report this state once connected; kept for engines that do.
        break;
      case 'failed':
        this.close('ice-failed');
        break;
      case 'closed':
        this.close('peer-closed');
        break;
    }
  }

  private attachControl(dc: DataChannel): void {
    if (this.closed) return;
    if (dc.getLabel() === LOSSY_LABEL && !this.lossy) {
      this.lossy = dc;
      dc.onMessage(guard(this.log, 'lossy.message', (msg: string | Buffer | ArrayBuffer) => this.onControlMessage(msg, true)));
      return;
    }
    if (dc.getLabel() !== 'control' || this.control) {
      // Only one control channel is part of the protocol.
      dc.close();
      return;
    }
    this.control = dc;
    dc.onMessage(guard(this.log, 'control.message', (msg: string | Buffer | ArrayBuffer) => this.onControlMessage(msg)));
    dc.onClosed(guard(this.log, 'control.closed', () => this.close('control-closed')));
    if (dc.isOpen()) this.onControlOpen();
    else dc.onOpen(guard(this.log, 'control.open', () => this.onControlOpen()));
  }

  private onControlMessage(msg: string | Buffer | ArrayBuffer, lossy = false): void {
    if (this.closed) return;
    this.inbound++;
    const parsed = parseClientMessage(msg);
    if (!parsed.ok) {
      this.log.info({ error: parsed.error }, 'bad control message');
      this.send(control.error(parsed.error));
      return;
    }
    const c = parsed.command;
    if (lossy && c.cmd !== 'DATA') {
      this.send(control.error(`only DATA is sent on the ${LOSSY_LABEL} channel`));
      return;
    }
    switch (c.cmd) {
      case 'STOP':
        this.close('stop');
        return;
      case 'PING':
        this.pinged = true;
        return;
      case 'DATA': {
        this.dataSender ??= new DataSender(this.ctx.data, this.room, userOf(this.fullId));
        const refused = this.dataSender.send(c.request, payloadBytes(c.request.payload), lossy);
        if (refused) this.send(control.error(refused));
        return;
      }
      case 'SET_INFO':
        if (!this.canUpdateInfo) {
          this.send(control.error('SET_INFO: this participant may not change its name or attributes (token)'));
          return;
        }
        void this.ctx.participants.setInfo(this.room, this.fullId, c.update).then((refused) => {
          if (refused) this.send(control.error(`SET_INFO: ${refused}`));
        });
        return;
      default:
        this.onCommand(c);
    }
  }

  /** Delivers a data message on `lossy` when it is lossy and that channel is open, else on `control`. */
  deliverData(message: DataEnvelope): void {
    if (this.closed) return;
    const out = control.data(message);
    const dc = message.lossy && this.lossy?.isOpen() ? this.lossy : this.control;
    if (!dc?.isOpen()) return;
    try {
      if (typeof out === 'string') dc.sendMessage(out);
      else dc.sendMessageBinary(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    } catch (err) {
      this.log.debug({ err }, 'data send failed');
    }
  }

  /** Sends one text message on `control`; false when it could not be sent. */
  send(text: string): boolean {
    const dc = this.control;
    if (!dc || this.closed) return false;
    try {
      return dc.isOpen() ? dc.sendMessage(text) : false;
    } catch (err) {
      this.log.debug({ err }, 'control send failed');
      return false;
    }
  }

  /** How long this peer has sent nothing at all (RTP, RTCP or control), as of the last sweep, ms. */
  protected quietForMs(now: number): number {
    return this.inbound === this.lastInbound ? now - this.lastInboundAt : 0;
  }

  /** Called once a second by the SFU; closes the peer when its traffic stopped. */
  sweep(now: number): void {
    if (this.closed) return;
    if (this.inbound !== this.lastInbound) {
      this.lastInbound = this.inbound;
      this.lastInboundAt = now;
      if (this.away) this.setAway(false);
      return;
    }
    if (!this.away && this.pinged && now - this.lastInboundAt > PRESENCE_TIMEOUT_MS) this.setAway(true);
    const limit = this.silenceLimitMs();
    if (limit !== undefined && now - this.lastInboundAt > limit) this.close('media-timeout');
  }

  private setAway(away: boolean): void {
    this.away = away;
    this.log.info({ away }, away ? 'away: silent' : 'back');
    this.ctx.onPresence?.(this, away);
  }

  /** Packets this peer moved since it started (monotonic). */
  abstract traffic(): Traffic;

  /** Adds this peer's live tracks to `tally`. */
  abstract countTracks(tally: TrackTally): void;

  /** RTP packets received per kind, for a publisher; undefined for any other peer. */
  receivedByKind(): Record<Kind, number> | undefined {
    return undefined;
  }

  /** RTP packets sent per publisher track (`<pubFullId>/<trackId>`), for a subscriber; undefined for any other peer. */
  forwardedByTrack(): Record<string, number> | undefined {
    return undefined;
  }

  /** Repeats what this peer told the room (after the state store came back); nothing by default. */
  reannounce(): void {}

  /** How long this peer may stay silent, or undefined when it is not expected to send anything. */
  protected abstract silenceLimitMs(): number | undefined;
  protected abstract onControlOpen(): void;
  protected abstract onCommand(command: Exclude<ClientCommand, { cmd: 'STOP' | 'DATA' | 'SET_INFO' | 'PING' }>): void;
  protected abstract onRemoteTrack(track: Track): void;
  /** Releases what the subclass owns; may return the store cleanup to wait on. */
  protected abstract release(reason: CloseReason): Promise<void>;

  setTimer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(
      guard(this.log, 'timer', () => {
        this.timers.delete(t);
        fn();
      }),
      ms,
    );
    this.timers.add(t);
    return t;
  }

  setRepeating(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setInterval(guard(this.log, 'interval', fn), ms);
    this.timers.add(t);
    return t;
  }

  clearTimer(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  get timerCount(): number {
    return this.timers.size;
  }

  /** Resolves when the peer's cleanup (store entries, room events) has finished. */
  released(): Promise<void> {
    return this.cleanup;
  }

  /** Idempotent; everything the peer owns is released here and only here. */
  close(reason: CloseReason): Promise<void> {
    if (this.closed) return this.cleanup;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.flushGathering();
    this.cleanup = this.release(reason).catch((err) => this.log.error({ err }, 'cleanup failed'));
    for (const dc of [this.control, this.lossy]) {
      try {
        dc?.close();
      } catch {
        // already closed
      }
    }
    try {
      this.pc.close();
    } catch {
      // already closed
    }
    this.ctx.onClosed(this, reason);
    return this.cleanup;
  }
}
