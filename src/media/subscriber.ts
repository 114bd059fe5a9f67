/**
 * A subscriber: one PeerConnection that receives every other publisher of the room.
 * Starts with only the `control` channel; the server adds tracks and sends offers.
 *
 * Renegotiation: `desired` is what the room has (from the store snapshot and room
 * events); `attached` is what the last offer carried. At most one offer is
 * outstanding; changes meanwhile only mark the state dirty, and the answer
 * triggers ONE follow-up offer carrying all of them.
 *
 * WHEP mode (a player's offer with recvonly m-lines and no data channel): there is no
 * renegotiation. The player's m-lines become our slots, sendonly with a fixed SSRC, and
 * are filled before the answer with the room's tracks in publisher arrival order. Later,
 * a publisher that leaves frees its slots (the player's track goes silent) and one that
 * joins fills free slots of its kind — the msid of the answer then no longer names it,
 * which is why a dynamic room is better watched in control-channel mode.
 */
import { type RoomEvent, subjects, type TrackInfo, type Unsubscribe } from '../bus/bus.js';
import type { ClientCommand } from '../signalling/control.js';
import { errorMessage } from '../signalling/control.js';
import { idOf, ownerOf } from '../signalling/validate.js';
import type { TrackCounts } from '../state/store.js';
import { announcePublicIp, guard, type MediaDescription, type Track } from './engine.js';
import { Forwarder } from './forwarder.js';
import { KeyframeThrottle } from './keyframes.js';
import { type CloseReason, Peer, type PeerContext } from './peer.js';
import { hasKeyframeRequest, type RtpRewriter, randomSsrc } from './rtp.js';
import { CODECS, type CodecName, codecByName, type Kind, namedCodec, type OfferedCodec, type OfferedMedia, receivable } from './sdp.js';
import { SfuError } from './sfu-error.js';

/** Per-track spacing of keyframe requests caused by this subscriber's PLI/FIR. */
const SUBSCRIBER_PLI_MIN_INTERVAL_MS = 300;
/** Chromium sends receiver reports for audio only every ~5 s (randomised up to 7.5 s). */
const AUDIO_ONLY_SILENCE_MS = 16_000;
/** RTP timestamp step assumed across a source change: one 30 fps frame / one 20 ms Opus packet. */
const TS_STEP: Record<Kind, number> = { video: 3000, audio: 960 };

/** One m-line of the subscriber's connection. Recycled after its track is removed. */
interface Slot {
  mid: string;
  kind: Kind;
  /** the first engine handle of this m-line; callbacks live on it */
  track: Track;
  /**
   * Every handle the engine ever returned for this m-line. node-datachannel returns a new
   * JS wrapper each time a description is re-added with the same mid, and a wrapper that
   * is garbage-collected closes the native track it shares with the current one. So all
   * of them live as long as the connection (two per recycling of the m-line).
   */
  handles: Track[];
  /** what is on it now; undefined = inactive */
  pub?: string;
  info?: TrackInfo;
  ssrc?: number;
  forwarder?: Forwarder;
  unsubscribe?: Unsubscribe;
  keyframes?: KeyframeThrottle;
  /** made inactive in an offer not answered yet: not reusable before the answer */
  retiring?: boolean;
  /** added in the outstanding offer: forwarding starts after the answer */
  pending?: boolean;
  /** WHEP slot: the codecs the player's m-line accepts (its payload types) */
  accepts?: OfferedCodec[];
  /** WHEP slot: numbering of the last forwarder, continued by the next one */
  lastRewriter?: RtpRewriter;
}

/** What a WHEP player asked for. */
export interface WhepRequest {
  /** the player's audio/video m-lines, in offer order */
  media: OfferedMedia[];
  /** per-publisher endpoint: the publisher id (or full id) this session plays */
  target?: string;
}

/** Seconds a WHEP player is told to wait before asking again for a publisher that is not live. */
const WHEP_RETRY_AFTER_SECONDS = 5;

export class Subscriber extends Peer {
  readonly role = 'sub' as const;
  /** publisher full id → its tracks, as the room has them */
  private readonly desired = new Map<string, TrackInfo[]>();
  /** publisher full id → slots carrying its tracks, as last offered */
  private readonly attached = new Map<string, Slot[]>();
  private readonly slots: Slot[] = [];
  private unsubscribeRoom: Unsubscribe | undefined;
  /** room events that arrived while the initial snapshot was loading */
  private queued: RoomEvent[] | undefined;
  private ready = false;
  private negotiating = false;
  private dirty = false;
  private answerTimer: NodeJS.Timeout | undefined;
  offersSent = 0;
  /** what forwarders of removed tracks sent, so totals only grow */
  retiredPackets = 0;
  retiredBytes = 0;
  private offeredAt = 0;
  /** RTCP came from this client at least once: then its silence means it is gone */
  private rtcpSeen = false;
  /** video packets forwarded to this client, and when that count last moved */
  private videoSent = 0;
  private videoSentAt = 0;

  constructor(
    ctx: PeerContext,
    room: string,
    fullId: string,
    /** mids of the client's offer (its data channel), never reused for our m-lines */
    private readonly clientMids: ReadonlySet<string>,
    /** set for a WHEP player: no data channel, media in the answer */
    private readonly whep?: WhepRequest,
  ) {
    super(ctx, room, fullId, 'sub');
  }

  /**
   * A publisher never sent to this subscriber: one of its own user's; on the per-publisher
   * WHEP endpoint, any but the target, named by full id or by id (any connection of that
   * user, so a reconnect plays on).
   */
  private isExcluded(pubFullId: string): boolean {
    const target = this.whep?.target;
    if (target !== undefined) return target.includes('+') ? pubFullId !== target : idOf(pubFullId) !== target;
    return ownerOf(idOf(pubFullId)) === this.id;
  }

  override async answer(offerSdp: string): Promise<string> {
    if (this.whep) await this.prepareWhep(this.whep);
    return super.answer(offerSdp);
  }

  /** WHEP: reads the room, then adds one sendonly m-line per player m-line, filled where a track fits. */
  private async prepareWhep(whep: WhepRequest): Promise<void> {
    this.queued = [];
    this.unsubscribeRoom = this.ctx.bus.subscribeRoom(this.room, (e) => this.onRoomEvent(e));
    let media: Map<string, TrackCounts>;
    try {
      media = await this.ctx.store.getMedia(this.room);
    } catch (err) {
      this.log.error({ err }, 'could not read room media');
      throw new SfuError(503, 'state store unavailable');
    }
    if (this.closed) return;
    for (const [pub, counts] of media) this.setDesired(pub, tracksOf(counts));
    for (const e of this.queued) this.applyEvent(e);
    this.queued = undefined;
    if (whep.target !== undefined && this.desired.size === 0)
      throw new SfuError(409, `publisher ${whep.target} is not live in room ${this.room}`, {
        'Retry-After': String(WHEP_RETRY_AFTER_SECONDS),
      });
    // The per-publisher endpoint names its one MediaStream after the publisher it plays.
    const streamId = whep.target === undefined ? '-' : [...this.desired.keys()][0]!;
    const planned = this.plan(whep.media.map((m) => ({ kind: m.kind, accepts: m.codecs })));
    whep.media.forEach((m, i) => {
      const fill = planned[i];
      if (m.codecs.length === 0 || m.direction === 'inactive') {
        // Nothing we could ever send on it: answered inactive.
        const d = this.describe(m.mid, m.kind, [CODECS[m.kind]]);
        d.setDirection('Inactive');
        this.pc.addTrack(d);
        return;
      }
      const ssrc = randomSsrc();
      // Sendonly with every codec of the player's m-line we can forward, at its payload types.
      const d = this.describe(m.mid, m.kind, m.codecs);
      const msid = fill ? (whep.target === undefined ? fill.pub : streamId) : streamId;
      d.addSSRC(ssrc, msid === '-' ? this.fullId : msid, msid, fill?.info.trackId ?? `${m.kind}${i}`);
      const slot = this.newSlot(m.mid, m.kind, this.pc.addTrack(d));
      slot.ssrc = ssrc;
      slot.accepts = m.codecs;
      if (fill) this.assign(slot, fill.pub, fill.info);
    });
    this.log.info({ publishers: this.desired.size, filled: this.attachedCount(), mlines: whep.media.length }, 'WHEP subscriber ready');
  }

  /**
   * Which track goes on which slot: publishers in arrival order, their tracks in order,
   * each on the first free slot of its kind that can receive its codec. Per-publisher
   * WHEP takes at most one track per kind.
   */
  private plan(slots: { kind: Kind; accepts: OfferedCodec[]; taken?: boolean }[]): ({ pub: string; info: TrackInfo } | undefined)[] {
    const out: ({ pub: string; info: TrackInfo } | undefined)[] = slots.map(() => undefined);
    const perKind = this.whep?.target !== undefined;
    for (const [pub, tracks] of this.desired) {
      if (perKind && this.isPlaced(pub)) continue;
      const kindsDone = new Set<Kind>();
      for (const info of tracks) {
        if (perKind && kindsDone.has(info.kind)) continue;
        if (this.isAssigned(pub, info.trackId)) continue;
        const codec: CodecName = info.codec ?? CODECS[info.kind].name;
        const i = slots.findIndex((s, n) => !s.taken && !out[n] && s.kind === info.kind && receivable(s.accepts, codec) !== undefined);
        if (i < 0) continue; // no m-line of the player can take it (kind full, or e.g. H264 to a VP8-only player)
        out[i] = { pub, info };
        kindsDone.add(info.kind);
      }
      if (perKind && kindsDone.size > 0) break; // one publisher only
    }
    return out;
  }

  /** Per-publisher WHEP plays one publisher at a time: while one is placed, others wait. */
  private isPlaced(pub: string): boolean {
    for (const s of this.slots) if (s.pub !== undefined && s.pub !== pub) return true;
    return false;
  }

  private isAssigned(pub: string, trackId: string): boolean {
    return this.slots.some((s) => s.pub === pub && s.info?.trackId === trackId);
  }

  /** Puts a publisher track on a WHEP slot; forwarding starts once the track is open. */
  private assign(slot: Slot, pub: string, info: TrackInfo): void {
    const codec = receivable(slot.accepts ?? [], info.codec ?? CODECS[info.kind].name);
    if (!codec || slot.ssrc === undefined) return;
    this.connect(slot, pub, info, slot.ssrc, codec.payloadType);
    this.enable(slot);
  }

  /**
   * Puts a publisher track on a slot: a forwarder (disabled until `enable`) subscribed to
   * the track, and for video a throttle for the keyframe requests the client sends.
   * A WHEP slot's forwarder continues the numbering of the slot's previous one.
   */
  private connect(slot: Slot, pub: string, info: TrackInfo, ssrc: number, payloadType: number): void {
    slot.pub = pub;
    slot.info = info;
    slot.ssrc = ssrc;
    const subject = subjects.track(this.room, pub, info.kind, info.trackId);
    const forwarder = new Forwarder(slot.track, ssrc, payloadType, TS_STEP[info.kind], slot.lastRewriter);
    slot.forwarder = forwarder;
    slot.unsubscribe = this.ctx.bus.subscribeTrack(subject, forwarder);
    if (info.kind === 'video') {
      slot.keyframes = new KeyframeThrottle(() => this.ctx.bus.requestKeyframe(subject), SUBSCRIBER_PLI_MIN_INTERVAL_MS);
    }
  }

  /** Stops what `connect` started; the forwarder's totals go to the retired ones, so totals only grow. */
  private disconnect(slot: Slot): Forwarder | undefined {
    const forwarder = slot.forwarder;
    slot.unsubscribe?.();
    slot.keyframes?.close();
    if (forwarder) {
      forwarder.enabled = false;
      this.retiredPackets += forwarder.packets;
      this.retiredBytes += forwarder.bytes;
    }
    slot.unsubscribe = slot.forwarder = slot.keyframes = slot.pub = slot.info = undefined;
    return forwarder;
  }

  /** Takes a track off a WHEP slot; the slot keeps its SSRC and numbering for the next one. */
  private unassign(slot: Slot): void {
    const forwarder = this.disconnect(slot);
    if (forwarder) slot.lastRewriter = forwarder.rewriter;
  }

  /** WHEP: brings the slots to `desired` without renegotiating (see the module comment). */
  private refill(): void {
    for (const slot of this.slots) {
      if (slot.pub === undefined) continue;
      const tracks = this.desired.get(slot.pub);
      if (!tracks?.some((t) => t.trackId === slot.info!.trackId)) this.unassign(slot);
    }
    const free = this.slots.map((s) => ({ kind: s.kind, accepts: s.accepts ?? [], taken: s.pub !== undefined || s.ssrc === undefined }));
    const planned = this.plan(free);
    planned.forEach((fill, i) => {
      if (fill) this.assign(this.slots[i]!, fill.pub, fill.info);
    });
  }

  protected override onControlOpen(): void {
    if (this.closed) return; // an open event that raced with close: nothing would unsubscribe
    // Subscribe before reading the snapshot so no event falls between the two.
    this.queued = [];
    this.unsubscribeRoom = this.ctx.bus.subscribeRoom(this.room, (e) => this.onRoomEvent(e));
    this.ctx.store
      .getMedia(this.room)
      .then((media) => this.start(media))
      .catch((err) => {
        this.log.error({ err }, 'could not read room media');
        this.send(errorMessage('room state unavailable'));
        this.close('negotiation-failed');
      });
  }

  private start(media: Map<string, TrackCounts>): void {
    if (this.closed) return;
    for (const [pub, counts] of media) this.setDesired(pub, tracksOf(counts));
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const e of queued) this.applyEvent(e);
    this.ready = true;
    this.renegotiate();
    this.log.info({ publishers: this.desired.size }, 'subscriber ready');
  }

  private onRoomEvent(event: RoomEvent): void {
    if (this.closed) return;
    if (this.queued) {
      this.queued.push(event);
      return;
    }
    this.applyEvent(event);
    if (this.whep) this.refill();
    else this.renegotiate();
  }

  private applyEvent(event: RoomEvent): void {
    if (event.type === 'pub-join') this.setDesired(event.pub, event.tracks);
    else this.desired.delete(event.pub);
  }

  private setDesired(pub: string, tracks: TrackInfo[]): void {
    if (this.isExcluded(pub)) return;
    if (tracks.length === 0) this.desired.delete(pub);
    else this.desired.set(pub, tracks);
  }

  /** Brings the connection to `desired` with one offer, unless one is outstanding. */
  private renegotiate(): void {
    if (!this.ready || this.closed) return;
    if (this.negotiating) {
      this.dirty = true;
      return;
    }
    this.dirty = false;
    let changed = false;
    for (const [pub, slots] of this.attached) {
      if (this.desired.has(pub)) continue;
      this.send(`PUB_LEFT ${pub}`);
      for (const slot of slots) this.retire(slot);
      this.attached.delete(pub);
      changed = true;
    }
    for (const [pub, tracks] of this.desired) {
      let slots = this.attached.get(pub);
      if (!slots) {
        slots = [];
        this.attached.set(pub, slots);
        this.send(`PUB_JOIN ${pub}`);
      }
      const wanted = new Set(tracks.map((t) => t.trackId));
      for (const slot of slots.filter((s) => !wanted.has(s.info!.trackId))) {
        this.retire(slot);
        slots.splice(slots.indexOf(slot), 1);
        changed = true;
      }
      for (const info of tracks) {
        if (slots.some((s) => s.info!.trackId === info.trackId)) continue;
        slots.push(this.attach(pub, info));
        changed = true;
      }
    }
    if (changed) this.sendOffer();
  }

  /** An m-line of ours carrying `codecs` (each at its payload type). */
  private describe(mid: string, kind: Kind, codecs: readonly OfferedCodec[]): MediaDescription {
    if (kind === 'video') {
      const v = this.ctx.engine.video(mid);
      for (const c of codecs) {
        if (c.name === 'H264') v.addH264Codec(c.payloadType, c.fmtp);
        else v.addVP8Codec(c.payloadType);
      }
      return v;
    }
    const a = this.ctx.engine.audio(mid);
    for (const c of codecs) a.addOpusCodec(c.payloadType, c.fmtp);
    return a;
  }

  private attach(pub: string, info: TrackInfo): Slot {
    const kind = info.kind;
    const ssrc = randomSsrc();
    const recycled = this.slots.find((s) => s.kind === kind && !s.pub && !s.retiring);
    const mid = recycled ? recycled.mid : this.nextMid();
    const codec = codecByName(kind, info.codec);
    const d = this.describe(mid, kind, [codec]);
    d.addSSRC(ssrc, pub, pub, info.trackId);
    const handle = this.pc.addTrack(d);
    const slot = recycled ?? this.newSlot(mid, kind, handle);
    slot.handles.push(handle);
    slot.pending = true;
    this.connect(slot, pub, info, ssrc, codec.payloadType);
    return slot;
  }

  /** Mids are numbers, skipping those the client's own offer used (its data channel). */
  private nextMid(): string {
    let n = this.slots.length + 1;
    while (this.clientMids.has(String(n)) || this.slots.some((s) => s.mid === String(n))) n++;
    return String(n);
  }

  /**
   * Callbacks are registered once per m-line, on its first handle, and read the slot's
   * current state: re-registering on each new handle would pile up closures.
   */
  private newSlot(mid: string, kind: Kind, track: Track): Slot {
    const slot: Slot = { mid, kind, track, handles: [] };
    this.slots.push(slot);
    track.onMessage((packet: Buffer) => {
      try {
        if (!slot.forwarder) return; // inactive m-line: its RTCP says nothing about liveness
        this.inbound++;
        this.rtcpSeen = true;
        if (slot.keyframes && slot.ssrc !== undefined && hasKeyframeRequest(packet, slot.ssrc)) slot.keyframes.request();
      } catch (err) {
        this.log.error({ err }, 'subscriber RTCP error');
      }
    });
    track.onOpen(guard('subscriber.track.open', () => this.enable(slot)));
    return slot;
  }

  /** Starts forwarding on a slot once its offer is answered and its track is open. */
  private enable(slot: Slot): void {
    if (this.closed || slot.pending || !slot.forwarder || slot.forwarder.enabled) return;
    let open = false;
    try {
      open = slot.track.isOpen();
    } catch {
      open = false;
    }
    if (!open) return;
    slot.forwarder.enabled = true;
    // A new viewer needs a keyframe now, not at the next periodic one.
    slot.keyframes?.request();
  }

  private retire(slot: Slot): void {
    this.disconnect(slot);
    slot.ssrc = undefined;
    slot.pending = false;
    slot.retiring = true;
    const d = this.describe(slot.mid, slot.kind, [CODECS[slot.kind]]);
    d.setDirection('Inactive');
    slot.handles.push(this.pc.addTrack(d));
  }

  private sendOffer(): void {
    try {
      this.pc.setLocalDescription('offer');
      const offer = this.pc.localDescription();
      if (!offer) throw new Error('engine produced no offer');
      this.negotiating = true;
      this.offeredAt = performance.now();
      this.offersSent++;
      this.answerTimer = this.setTimer(this.ctx.config.answerTimeoutMs, () => {
        this.send(errorMessage('no SDP_ANSWER to the last offer in time'));
        this.close('answer-timeout');
      });
      this.send(`SDP_OFFER ${announcePublicIp(offer.sdp, this.ctx.config.publicIp)}`);
    } catch (err) {
      this.log.error({ err }, 'could not create offer');
      this.send(errorMessage('server could not create an offer'));
      this.close('negotiation-failed');
    }
  }

  protected override onCommand(command: Exclude<ClientCommand, { cmd: 'STOP' }>): void {
    if (command.cmd !== 'SDP_ANSWER') {
      this.send(errorMessage(`${command.cmd} is not expected from a subscriber`));
      return;
    }
    if (!this.negotiating) {
      this.send(errorMessage('no offer is outstanding'));
      return;
    }
    try {
      this.pc.setRemoteDescription(command.sdp, 'answer');
    } catch (err) {
      // Our offer stays outstanding; a corrected answer may still come before the timeout.
      this.send(errorMessage(`bad SDP_ANSWER: ${String(err instanceof Error ? err.message : err).split('\n')[0]}`));
      return;
    }
    this.negotiating = false;
    const seconds = (performance.now() - this.offeredAt) / 1000;
    this.ctx.onRenegotiated(seconds);
    this.log.info({ offer: this.offersSent, ms: Math.round(seconds * 1000), tracks: this.attachedCount() }, 'subscriber renegotiated');
    this.clearTimer(this.answerTimer);
    this.answerTimer = undefined;
    for (const slot of this.slots) {
      slot.retiring = false;
      if (slot.pending) {
        slot.pending = false;
        this.enable(slot);
      }
    }
    if (this.dirty) this.renegotiate();
  }

  private attachedCount(): number {
    let n = 0;
    for (const slots of this.attached.values()) n += slots.length;
    return n;
  }

  protected override onRemoteTrack(track: Track): void {
    // A subscriber's m-lines are all ours; the client adds none.
    void track;
  }

  protected override silenceLimitMs(): number | undefined {
    // Browsers send receiver reports for what they receive; a client that never sent any
    // RTCP, or receives nothing now, is watched by ICE consent freshness and the data channel.
    if (!this.rtcpSeen || !this.slots.some((s) => s.forwarder?.enabled)) return undefined;
    // Video receivers report about every second, audio-only ones every ~5 s (up to 7.5 s):
    // the short limit holds only while video is actually being sent to this client.
    return Date.now() - this.videoSentAt < 2000 ? this.ctx.config.mediaTimeoutMs : AUDIO_ONLY_SILENCE_MS;
  }

  override sweep(now: number): void {
    let video = 0;
    for (const s of this.slots) if (s.kind === 'video' && s.forwarder) video += s.forwarder.packets;
    if (video !== this.videoSent) {
      this.videoSent = video;
      this.videoSentAt = now;
    }
    super.sweep(now);
  }

  /** Forwarded packets so far, per publisher track; for stats and tests. */
  forwarded(): { pub: string; kind: Kind; trackId: string; packets: number; bytes: number }[] {
    return this.slots
      .filter((s) => s.forwarder && s.pub && s.info)
      .map((s) => ({ pub: s.pub!, kind: s.kind, trackId: s.info!.trackId, packets: s.forwarder!.packets, bytes: s.forwarder!.bytes }));
  }

  protected override async release(reason: CloseReason): Promise<void> {
    this.unsubscribeRoom?.();
    for (const slot of this.slots) {
      slot.unsubscribe?.();
      slot.keyframes?.close();
      if (slot.forwarder) slot.forwarder.enabled = false;
      // Releases node-datachannel's references to our callbacks, so this peer can be collected.
      for (const h of slot.handles) closeHandle(h);
      closeHandle(slot.track);
    }
    try {
      await this.ctx.store.removePeer('sub', this.room, this.fullId);
    } catch (err) {
      // Redis down: the store forgot us already and removes us there when it is back.
      this.log.warn({ err: String((err as Error).message ?? err) }, 'state store unavailable while leaving');
    }
    this.log.info({ reason, offers: this.offersSent }, 'subscriber left');
  }
}

function closeHandle(h: Track): void {
  try {
    h.close();
  } catch {
    // already closed
  }
}

function tracksOf(counts: TrackCounts): TrackInfo[] {
  const out: TrackInfo[] = [];
  for (const kind of ['audio', 'video'] as const) {
    for (let i = 0; i < counts[kind]; i++) {
      const codec = namedCodec(kind, kind === 'video' ? counts.videoCodecs?.[i] : undefined);
      out.push({ kind, trackId: `${kind}${i}`, ...(codec ? { codec } : {}) });
    }
  }
  return out;
}
