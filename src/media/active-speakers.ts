/**
 * Active speakers per room, for the subscribers on this instance (docs/protocol.md,
 * `ACTIVE_SPEAKERS`). A room is watched while at least one of its control-channel
 * subscribers is here: every audio track of every publisher of the room (the subscriber's
 * own included) is taken from the bus like any other sink takes it — in process next to
 * its publisher, over NATS from another instance — and its packets' audio levels
 * (RFC 6464, read by `AudioLevelReader`) feed a `SpeakerRanking`. Every 250 ms the window
 * closes; when the ranking changed, one `ACTIVE_SPEAKERS` message goes to each subscriber
 * of the room here. Each instance ranks from the same packets, so subscribers on different
 * instances hear the same speakers.
 *
 * Which tracks the room has comes from the state store and room events, as for a subscriber.
 *
 *   bus (audio track) ─▶ LevelSink ─▶ AudioLevelReader ─▶ SpeakerSlot (per publisher)
 *   every 250 ms: SpeakerRanking.tick ─▶ changed? ─▶ control.activeSpeakers ─▶ subscribers
 */
import { control, type RoomEvent, subjects, type TrackInfo } from 'weever-protocol';
import type { RtpHeader } from 'weever-rtp';
import type { Bus, PacketSink, Unsubscribe } from '../bus/bus.js';
import type { Logger } from '../observability/log.js';
import type { StateStore } from '../state/store.js';
import { oneLine } from './errors.js';
import { EXT_AUDIO_LEVEL } from './sdp.js';
import { type RankingOptions, SpeakerRanking, type SpeakerSlot } from './speaker-ranking.js';
import { AudioLevelReader } from './stages/audio-level.js';

/** One window of the ranking: at most 4 messages a second. */
export const SPEAKER_WINDOW_MS = 250;

/** A room's subscriber here: receives each ranking change as a control message. */
export type SpeakerListener = (message: string) => void;

/** The bus sink of one audio track: its level goes to its publisher's slot. */
class LevelSink implements PacketSink {
  constructor(
    private readonly reader: AudioLevelReader,
    private readonly slot: SpeakerSlot,
  ) {}

  onPacket(packet: Buffer, header: RtpHeader): void {
    if (header.rtcp) return;
    const r = this.reader;
    r.onRtp(packet, header);
    if (r.present) this.slot.onLevel(r.level);
  }
}

interface Source {
  pub: string;
  unsubscribe: Unsubscribe;
}

/** One room watched on this instance. */
class RoomSpeakers {
  readonly listeners = new Set<SpeakerListener>();
  readonly ranking: SpeakerRanking;
  /** audio track subject → its sink's subscription */
  private readonly sources = new Map<string, Source>();
  private readonly timer: NodeJS.Timeout;
  private unsubscribeRoom: Unsubscribe | undefined;
  /** events that arrive while the snapshot loads */
  private queued: RoomEvent[] | undefined = [];
  /** the message of the current ranking, sent to a subscriber that joins */
  message = control.activeSpeakers([]);
  private closed = false;

  constructor(
    readonly room: string,
    private readonly bus: Bus,
    store: StateStore,
    private readonly log: Logger,
    options: RankingOptions,
    windowMs: number,
  ) {
    this.ranking = new SpeakerRanking(options);
    this.timer = setInterval(() => this.tick(), windowMs);
    this.timer.unref();
    // Events first, then the snapshot, so no publisher falls between the two (as a subscriber loads its room).
    this.unsubscribeRoom = bus.subscribeRoom(room, (e) => {
      if (this.queued) this.queued.push(e);
      else this.apply(e);
    });
    store
      .getMedia(room)
      .then((media) => {
        if (this.closed) return;
        for (const [pub, tracks] of media) this.setTracks(pub, tracks);
      })
      .catch((err) => this.log.warn({ room, err: oneLine(err) }, 'active speakers: room media unavailable; following room events only'))
      .finally(() => {
        const queued = this.queued ?? [];
        this.queued = undefined;
        if (!this.closed) for (const e of queued) this.apply(e);
      });
  }

  private apply(e: RoomEvent): void {
    if (this.closed) return;
    if (e.type === 'pub-join') this.setTracks(e.pub, e.tracks);
    else if (e.type === 'pub-left') this.setTracks(e.pub, []);
  }

  /** `pub`'s audio tracks are now `tracks` (audio ones only count). */
  private setTracks(pub: string, tracks: readonly TrackInfo[]): void {
    const keep = new Set<string>();
    for (const info of tracks) {
      if (info.kind !== 'audio') continue;
      const subject = subjects.track(this.room, pub, info.kind, info.trackId);
      keep.add(subject);
      if (this.sources.has(subject)) continue;
      const sink = new LevelSink(new AudioLevelReader(info.ext?.[EXT_AUDIO_LEVEL] ?? 0), this.ranking.slot(pub));
      this.sources.set(subject, { pub, unsubscribe: this.bus.subscribeTrack(subject, sink) });
    }
    for (const [subject, s] of this.sources) {
      if (s.pub !== pub || keep.has(subject)) continue;
      s.unsubscribe();
      this.sources.delete(subject);
    }
    if (keep.size === 0) this.ranking.remove(pub);
  }

  private tick(): void {
    try {
      const speakers = this.ranking.tick();
      if (!speakers) return;
      this.message = control.activeSpeakers(speakers);
      for (const l of [...this.listeners]) l(this.message);
    } catch (err) {
      this.log.error({ err, room: this.room }, 'active speakers tick failed');
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribeRoom?.();
    this.unsubscribeRoom = undefined;
    for (const s of this.sources.values()) s.unsubscribe();
    this.sources.clear();
    this.listeners.clear();
  }
}

/** The rooms watched on this instance. */
export class ActiveSpeakers {
  private readonly rooms = new Map<string, RoomSpeakers>();

  constructor(
    private readonly bus: Bus,
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly options: RankingOptions = {},
    /** the ranking's window: how often it may change (tests shorten it) */
    private readonly windowMs = SPEAKER_WINDOW_MS,
  ) {}

  /**
   * A subscriber of `room` wants the room's speakers: `listener` gets the current ranking
   * now (when someone speaks) and every change after. Returns its unsubscribe; the room
   * stops being watched when its last subscriber here leaves.
   */
  join(room: string, listener: SpeakerListener): Unsubscribe {
    let r = this.rooms.get(room);
    if (!r) {
      r = new RoomSpeakers(room, this.bus, this.store, this.log, this.options, this.windowMs);
      this.rooms.set(room, r);
    }
    const entry = r;
    entry.listeners.add(listener);
    if (entry.ranking.current.length > 0) listener(entry.message);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.listeners.delete(listener);
      if (entry.listeners.size > 0) return;
      entry.close();
      if (this.rooms.get(room) === entry) this.rooms.delete(room);
    };
  }

  /** Rooms watched here (metrics, tests). */
  get size(): number {
    return this.rooms.size;
  }

  close(): void {
    for (const r of this.rooms.values()) r.close();
    this.rooms.clear();
  }
}
