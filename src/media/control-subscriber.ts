/**
 * A subscriber over the `control` data channel: one PeerConnection that receives every
 * other publisher of the room. It starts with only the channel; once the channel is open
 * the server adds m-lines and sends offers. The Negotiator decides what changes; this
 * class applies its actions to the engine and the channel.
 */
import { type ClientCommand, control, type SubscribeMode } from 'weever-protocol';
import { randomSsrc } from 'weever-rtp';
import type { Unsubscribe } from '../bus/bus.js';
import type { DownTrack } from './down-track.js';
import { announcePublicIp } from './engine.js';
import { oneLine } from './errors.js';
import { type Action, Negotiator } from './negotiator.js';
import { userOf } from './participants.js';
import type { CloseReason, PeerContext } from './peer.js';
import { CODECS, codecByName, extensionsByMid, subscriberExtensions } from './sdp.js';
import { Subscriber } from './subscriber.js';
import { Subscriptions } from './subscriptions.js';

/**
 * Our offers say the DTLS role we already have (RFC 8842 §5.5: a subsequent offer keeps the
 * established association) instead of the engine's `actpass`. Chromium answers `passive` to
 * `actpass` anyway; Firefox answers `active`, which contradicts the role we took in our
 * first answer, and the engine then refuses its answer ("Incompatible roles"). Offered
 * `active`, every browser can only answer `passive`.
 */
export function keepDtlsRole(sdp: string, role: 'active' | 'passive' | undefined): string {
  return role ? sdp.replace(/^a=setup:actpass(?=\r?$)/gm, `a=setup:${role}`) : sdp;
}

export class ControlSubscriber extends Subscriber {
  private readonly negotiator: Negotiator;
  /** DownTracks by mid */
  private readonly byMid = new Map<string, DownTrack>();
  private ready = false;
  private answerTimer: NodeJS.Timeout | undefined;
  private offeredAt = 0;
  offersSent = 0;
  /** leaves the room's active speakers */
  private leaveSpeakers: Unsubscribe | undefined;
  private leaveParticipants: Unsubscribe | undefined;
  private leaveData: Unsubscribe | undefined;
  /** `<pub> <trackId>` of the muted tracks the client was told of (TRACK_MUTED) */
  private toldMuted = new Set<string>();
  /** what the client chose to receive (auto: everything) */
  private readonly subscriptions: Subscriptions;

  constructor(
    ctx: PeerContext,
    room: string,
    fullId: string,
    /** mids of the client's offer (its data channel), never reused for our m-lines */
    clientMids: ReadonlySet<string>,
    mode: SubscribeMode = 'auto',
  ) {
    super(ctx, room, fullId);
    this.negotiator = new Negotiator(clientMids);
    this.subscriptions = new Subscriptions(mode);
  }

  protected override onControlOpen(): void {
    if (this.closed) return; // an open event that raced with close: nothing would unsubscribe
    this.loadRoom()
      .then(async () => {
        if (this.closed) return;
        // The room's participants (PARTICIPANTS first) and its data messages, before the first offer.
        const leave = await this.ctx.participants.join(this.room, (message) => this.send(message));
        if (this.closed) {
          leave();
          return;
        }
        this.leaveParticipants = leave;
        this.leaveData = this.ctx.data.join(this.room, { user: userOf(this.fullId), deliver: (m) => this.deliverData(m) });
        this.ready = true;
        this.renegotiate();
        // The room's speakers from now on (the current ones at once), after the first offer.
        this.leaveSpeakers = this.ctx.speakers.join(this.room, (message) => this.send(message));
        this.log.info({ publishers: this.desired.size }, 'subscriber ready');
      })
      .catch(() => {
        this.send(control.error('room state unavailable'));
        this.close('negotiation-failed');
      });
  }

  protected override async release(reason: CloseReason): Promise<void> {
    this.leaveSpeakers?.();
    this.leaveSpeakers = undefined;
    this.leaveParticipants?.();
    this.leaveParticipants = undefined;
    this.leaveData?.();
    this.leaveData = undefined;
    await super.release(reason);
  }

  protected override onRoomChanged(): void {
    this.renegotiate();
  }

  /** Brings the connection to `desired` with one offer, unless one is outstanding. */
  private renegotiate(): void {
    if (!this.ready || this.closed) return;
    const actions = this.negotiator.next(this.desired, this.subscriptions.select(this.desired));
    for (const a of actions) this.apply(a);
    if (this.negotiator.offerOutstanding && actions.length > 0) this.sendOffer();
    this.tellMuted();
  }

  /**
   * TRACK_MUTED / TRACK_UNMUTED for what changed since the client was last told, about the
   * publishers it was told of (PUB_JOIN); a track or publisher that is gone needs no word.
   */
  private tellMuted(): void {
    const now = new Set<string>();
    for (const [pub, tracks] of this.desired) {
      if (!this.negotiator.isJoined(pub)) continue;
      for (const t of tracks) {
        const key = `${pub} ${t.trackId}`;
        if (t.muted) {
          now.add(key);
          if (!this.toldMuted.has(key)) this.send(control.trackMuted(pub, t.trackId, true));
        } else if (this.toldMuted.has(key)) this.send(control.trackMuted(pub, t.trackId, false));
      }
    }
    this.toldMuted = now;
  }

  private apply(a: Action): void {
    switch (a.type) {
      case 'pub-left':
        this.send(control.pubLeft(a.pub));
        break;
      case 'pub-join':
        this.send(control.pubJoin(a.pub));
        break;
      case 'retire': {
        const down = this.byMid.get(a.line.mid)!;
        this.unbind(down);
        const d = this.describe(a.line.mid, a.line.kind, [CODECS[a.line.kind]]);
        d.setDirection('Inactive');
        down.handles.push(this.pc.addTrack(d));
        break;
      }
      case 'attach': {
        const { mid, kind } = a.line;
        const pub = a.line.pub!;
        const info = a.line.info!;
        const ssrc = randomSsrc();
        const codec = codecByName(kind, info.codec);
        // The same extension ids on every m-line of the bundle (sdp.ts SUBSCRIBER_EXTENSIONS).
        const extensions = subscriberExtensions(kind);
        const d = this.describe(mid, kind, [codec], extensions);
        d.addSSRC(ssrc, pub, pub, info.trackId);
        const handle = this.pc.addTrack(d);
        let down = this.byMid.get(mid);
        if (!down) {
          down = this.newDownTrack(mid, kind, handle);
          this.byMid.set(mid, down);
        } else down.handles.push(handle);
        this.bind(down, pub, info, ssrc, codec.payloadType, extensions);
        break;
      }
    }
  }

  private sendOffer(): void {
    try {
      this.pc.setLocalDescription('offer');
      const offer = this.pc.localDescription();
      if (!offer) throw new Error('engine produced no offer');
      this.offeredAt = performance.now();
      this.offersSent++;
      this.answerTimer = this.setTimer(this.ctx.config.answerTimeoutMs, () => {
        this.send(control.error('no SDP_ANSWER to the last offer in time'));
        this.close('answer-timeout');
      });
      this.send(control.sdpOffer(announcePublicIp(keepDtlsRole(offer.sdp, this.dtlsRole), this.ctx.config.publicIp)));
    } catch (err) {
      this.log.error({ err }, 'could not create offer');
      this.send(control.error('server could not create an offer'));
      this.close('negotiation-failed');
    }
  }

  protected override onCommand(command: Exclude<ClientCommand, { cmd: 'STOP' | 'DATA' | 'SET_INFO' | 'PING' }>): void {
    if (command.cmd === 'VIDEO_QUALITY') {
      if (!this.downlink.setQuality(command.pub, command.quality)) this.send(control.error('too many publishers capped'));
      else {
        this.scheduleDownlink(); // the new cap at the next PAD_MS tick
        this.ctx.onLayerWantsChanged?.();
        this.log.debug({ pub: command.pub, quality: command.quality }, 'video quality set');
      }
      return;
    }
    if (command.cmd === 'VIDEO_SIZE') {
      if (!this.downlink.setViewSize(command.pub, command.width, command.height)) this.send(control.error('too many video sizes set'));
      else {
        this.scheduleDownlink();
        this.ctx.onLayerWantsChanged?.();
      }
      return;
    }
    if (command.cmd === 'SUB_MODE') {
      this.subscriptions.setMode(command.mode, this.desired);
      this.log.debug({ mode: command.mode }, 'subscribe mode set');
      this.renegotiate();
      return;
    }
    if (command.cmd === 'SUB' || command.cmd === 'UNSUB') {
      const on = command.cmd === 'SUB';
      const refused = this.subscriptions.set(command.pub, command.kinds, on, this.desired.has(command.pub));
      if (refused) this.send(control.error(refused));
      else this.renegotiate();
      return;
    }
    if (command.cmd !== 'SDP_ANSWER') {
      this.send(control.error(`${command.cmd} is not expected from a subscriber`));
      return;
    }
    if (!this.negotiator.offerOutstanding) {
      this.send(control.error('no offer is outstanding'));
      return;
    }
    try {
      this.pc.setRemoteDescription(command.sdp, 'answer');
    } catch (err) {
      // Our offer stays outstanding; a corrected answer may still come before the timeout.
      this.log.warn({ reason: oneLine(err) }, 'SDP_ANSWER refused');
      this.log.debug({ sdp: command.sdp }, 'refused SDP_ANSWER');
      this.send(control.error(`bad SDP_ANSWER: ${oneLine(err)}`));
      return;
    }
    const seconds = (performance.now() - this.offeredAt) / 1000;
    this.ctx.onRenegotiated(seconds);
    this.clearTimer(this.answerTimer);
    this.answerTimer = undefined;
    const { live, again } = this.negotiator.answered();
    this.log.info(
      { offer: this.offersSent, ms: Math.round(seconds * 1000), tracks: this.negotiator.attachedCount() },
      'subscriber renegotiated',
    );
    // The header extensions the client kept (at the ids it answered with) are what it is sent.
    const answered = extensionsByMid(command.sdp);
    for (const [mid, down] of this.byMid) {
      const ext = answered.get(mid);
      if (ext) down.negotiated(ext);
    }
    for (const line of live) this.byMid.get(line.mid)?.enable();
    if (again) this.renegotiate();
  }
}
