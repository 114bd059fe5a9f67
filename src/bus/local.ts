/**
 * In-process bus. A track's subject resolves to one channel object when the sender or
 * a sink is created, so the per-packet path is a loop over an array: no lookup, no
 * allocation. Sink arrays are replaced, never mutated, so a sink may unsubscribe
 * while a packet is being fanned out.
 */
import type { RtpHeader } from 'weever-rtp';
import {
  type Bus,
  type BusStats,
  type DataEnvelope,
  deliverRoomEvent,
  type PacketSink,
  type RoomEvent,
  type TrackSender,
  type Unsubscribe,
} from './bus.js';

class TrackChannel {
  sinks: readonly PacketSink[] = [];
  senders = 0;
}

class LocalTrackSender implements TrackSender {
  private closed = false;
  constructor(
    private readonly channel: TrackChannel,
    private readonly release: () => void,
  ) {}

  send(packet: Buffer, header: RtpHeader): void {
    const sinks = this.channel.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.onPacket(packet, header);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }
}

export class LocalBus implements Bus {
  /** `onError` receives what a room-event handler threw; it never reaches the event loop. */
  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  private readonly tracks = new Map<string, TrackChannel>();
  private readonly rooms = new Map<string, Set<(event: RoomEvent) => void>>();
  private readonly keyframes = new Map<string, Set<() => void>>();

  private channel(subject: string): TrackChannel {
    let ch = this.tracks.get(subject);
    if (!ch) {
      ch = new TrackChannel();
      this.tracks.set(subject, ch);
    }
    return ch;
  }

  private releaseIfUnused(subject: string, ch: TrackChannel): void {
    if (ch.senders === 0 && ch.sinks.length === 0 && this.tracks.get(subject) === ch) this.tracks.delete(subject);
  }

  trackSender(subject: string): TrackSender {
    const ch = this.channel(subject);
    ch.senders++;
    return new LocalTrackSender(ch, () => {
      ch.senders--;
      this.releaseIfUnused(subject, ch);
    });
  }

  subscribeTrack(subject: string, sink: PacketSink): Unsubscribe {
    const ch = this.channel(subject);
    ch.sinks = [...ch.sinks, sink];
    let done = false;
    return () => {
      if (done) return;
      done = true;
      ch.sinks = ch.sinks.filter((s) => s !== sink);
      this.releaseIfUnused(subject, ch);
    };
  }

  publishRoomEvent(room: string, event: RoomEvent): void {
    const handlers = this.rooms.get(room);
    if (handlers) deliverRoomEvent(handlers, event, this.onError);
  }

  subscribeRoom(room: string, handler: (event: RoomEvent) => void): Unsubscribe {
    return addTo(this.rooms, room, handler);
  }

  private readonly data = new Map<string, Set<(m: DataEnvelope) => void>>();

  publishData(room: string, message: DataEnvelope): void {
    const handlers = this.data.get(room);
    if (handlers) for (const h of [...handlers]) queueMicrotask(() => h(message));
  }

  subscribeData(room: string, handler: (message: DataEnvelope) => void): Unsubscribe {
    return addTo(this.data, room, handler);
  }

  private readonly kicks = new Set<(room: string, fullId: string) => void>();

  publishKick(room: string, fullId: string): void {
    for (const h of [...this.kicks]) queueMicrotask(() => h(room, fullId));
  }

  onKick(handler: (room: string, fullId: string) => void): Unsubscribe {
    this.kicks.add(handler);
    return () => this.kicks.delete(handler);
  }

  requestKeyframe(trackSubject: string): void {
    const handlers = this.keyframes.get(trackSubject);
    if (handlers) for (const h of [...handlers]) h();
  }

  onKeyframeRequest(trackSubject: string, handler: () => void): Unsubscribe {
    return addTo(this.keyframes, trackSubject, handler);
  }

  private readonly wants = new Map<string, Set<(from: string, max: number) => void>>();

  publishLayerWants(trackSubject: string, from: string, max: number): void {
    const handlers = this.wants.get(trackSubject);
    if (handlers) for (const h of [...handlers]) h(from, max);
  }

  onLayerWants(trackSubject: string, handler: (from: string, max: number) => void): Unsubscribe {
    return addTo(this.wants, trackSubject, handler);
  }

  stats(): BusStats {
    let trackSinks = 0;
    for (const ch of this.tracks.values()) trackSinks += ch.sinks.length;
    return {
      trackChannels: this.tracks.size,
      trackSinks,
      roomSubscriptions: handlerCount(this.rooms),
      dataSubscriptions: handlerCount(this.data),
      keyframeSubscriptions: handlerCount(this.keyframes),
      layerWantsSubscriptions: handlerCount(this.wants),
    };
  }

  health(): string | null {
    return null;
  }

  async close(): Promise<void> {
    this.tracks.clear();
    this.rooms.clear();
    this.data.clear();
    this.keyframes.clear();
    this.wants.clear();
    this.kicks.clear();
  }
}

/** Handlers over all keys of a subject → handlers map. */
function handlerCount(map: Map<string, Set<unknown>>): number {
  let n = 0;
  for (const s of map.values()) n += s.size;
  return n;
}

function addTo<T>(map: Map<string, Set<T>>, key: string, value: T): Unsubscribe {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
  return () => {
    const s = map.get(key);
    if (!s) return;
    s.delete(value);
    if (s.size === 0) map.delete(key);
  };
}
