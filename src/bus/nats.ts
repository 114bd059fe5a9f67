/**
 * The NATS bus (docs/protocol.md, "Media routing"): RTP on `rtc.<room>.<pub>.<kind>.<trackId>`, one packet
 * per message; room events on `cmd.<room>`; keyframe requests on `kf.<room>.<pub>.<kind>.<trackId>`.
 *
 * Per track subject there is one channel object, as in the local bus. A packet from a
 * publisher on this instance goes to the local sinks directly and, copied, to NATS for
 * the other instances. This instance subscribes to a track's subject only while it has
 * sinks for it and no local sender: a subscriber next to its publisher never touches NATS,
 * and a packet never arrives twice. The connection is `noEcho`, so our own publications
 * (room events included, which are delivered locally at once) never come back.
 *
 * Media is real time: while disconnected, packets are dropped (counted) rather than
 * buffered for a burst of stale video after the reconnect. Errors are counted and
 * logged once per interval, never per packet.
 */
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  type DataEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  encodeRoomEvent,
  keyframeSubjectOf,
  layerWantsSubjectOf,
  parseLayerWants,
  parseRoomEvent,
  subjects,
} from 'weever-protocol';
import { RtpHeader } from 'weever-rtp';
import type { Logger } from '../observability/log.js';
import { type Bus, type BusStats, deliverRoomEvent, type PacketSink, type RoomEvent, type TrackSender, type Unsubscribe } from './bus.js';

const ERROR_LOG_INTERVAL_MS = 10_000;

export interface NatsCounters {
  /** RTP messages published to NATS */
  published: number;
  /** RTP messages received from NATS */
  received: number;
  /** publish calls that threw */
  publishErrors: number;
  /** packets not sent because the connection was down */
  droppedDisconnected: number;
  /** packets from NATS a local sink threw on */
  sinkErrors: number;
  slowConsumers: number;
  serverErrors: number;
  disconnects: number;
  reconnects: number;
}

class TrackChannel {
  sinks: readonly PacketSink[] = [];
  senders = 0;
  remote: Subscription | undefined;
  /** header of the packet being fanned out from NATS; reused */
  readonly header = new RtpHeader();
  constructor(readonly subject: string) {}
}

class NatsTrackSender implements TrackSender {
  private closed = false;
  constructor(
    private readonly bus: NatsBus,
    private readonly channel: TrackChannel,
  ) {}

  send(packet: Buffer, header: RtpHeader): void {
    // NATS first: local sinks rewrite the buffer in place, and nats.js keeps a reference
    // to what it is given until it flushes, hence the copy.
    this.bus.publishPacket(this.channel.subject, packet);
    const sinks = this.channel.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.onPacket(packet, header);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bus.releaseSender(this.channel);
  }
}

/** Admin kicks, to every instance (docs/protocol.md, private API). */
const KICK_SUBJECT = 'adm.kick';

export interface NatsBusOptions {
  servers: string[];
  name: string;
  log: Logger;
  onError?: (err: unknown) => void;
  /** errors are summed and logged at most once per this interval (default 10 s) */
  errorLogIntervalMs?: number;
}

export class NatsBus implements Bus {
  readonly counters: NatsCounters = {
    published: 0,
    received: 0,
    publishErrors: 0,
    droppedDisconnected: 0,
    sinkErrors: 0,
    slowConsumers: 0,
    serverErrors: 0,
    disconnects: 0,
    reconnects: 0,
  };
  private connected = true;
  private readonly tracks = new Map<string, TrackChannel>();
  private readonly rooms = new Map<string, { handlers: Set<(e: RoomEvent) => void>; sub: Subscription }>();
  private readonly keyframes = new Map<string, { handlers: Set<() => void>; sub: Subscription }>();
  private readonly wants = new Map<string, { handlers: Set<(from: string, max: number) => void>; sub: Subscription }>();
  private readonly errorLog: NodeJS.Timeout;
  private logged: NatsCounters;
  private readonly log: Logger;
  private readonly onError: (err: unknown) => void;
  private readonly errorLogIntervalMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    opts: NatsBusOptions,
  ) {
    this.log = opts.log;
    this.onError = opts.onError ?? (() => {});
    this.logged = { ...this.counters };
    this.errorLogIntervalMs = opts.errorLogIntervalMs ?? ERROR_LOG_INTERVAL_MS;
    this.errorLog = setInterval(() => this.logErrors(), this.errorLogIntervalMs);
    this.errorLog.unref();
    void this.watchStatus();
  }

  /** Connects to the first reachable server, or throws. Reconnects forever afterwards. */
  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: opts.servers,
      name: opts.name,
      noEcho: true,
      // Each instance names its own node first (the reference topology); the others are fallbacks.
      noRandomize: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 2000,
      maxPingOut: 2,
      timeout: 3000,
    });
    return new NatsBus(nc, opts);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.connected = false;
          this.counters.disconnects++;
          this.log.warn({ server: s.server }, 'nats disconnected');
          break;
        case 'reconnect':
          this.connected = true;
          this.counters.reconnects++;
          this.log.info({ server: s.server }, 'nats reconnected');
          break;
        case 'slowConsumer':
          this.counters.slowConsumers++;
          break;
        case 'error':
          this.counters.serverErrors++;
          break;
        default:
          break;
      }
    }
  }

  private logErrors(): void {
    const c = this.counters;
    const l = this.logged;
    const d = {
      publishErrors: c.publishErrors - l.publishErrors,
      droppedDisconnected: c.droppedDisconnected - l.droppedDisconnected,
      sinkErrors: c.sinkErrors - l.sinkErrors,
      slowConsumers: c.slowConsumers - l.slowConsumers,
      serverErrors: c.serverErrors - l.serverErrors,
    };
    if (d.publishErrors + d.droppedDisconnected + d.sinkErrors + d.slowConsumers + d.serverErrors > 0) {
      this.log.warn({ ...d, intervalMs: this.errorLogIntervalMs }, 'nats bus errors in the last interval');
    }
    this.logged = { ...c };
  }

  /** null when usable, else why not (readiness). */
  health(): string | null {
    if (this.nc.isClosed()) return 'nats connection closed';
    return this.connected ? null : 'nats disconnected';
  }

  /** The per-packet publish: a copy, no lookup, no logging. */
  publishPacket(subject: string, packet: Buffer): void {
    if (!this.connected) {
      this.counters.droppedDisconnected++;
      return;
    }
    try {
      this.nc.publish(subject, new Uint8Array(packet));
      this.counters.published++;
    } catch {
      this.counters.publishErrors++;
    }
  }

  private channel(subject: string): TrackChannel {
    let ch = this.tracks.get(subject);
    if (!ch) {
      ch = new TrackChannel(subject);
      this.tracks.set(subject, ch);
    }
    return ch;
  }

  /** Subscribed to NATS exactly while there are local sinks and no local sender. */
  private updateRemote(ch: TrackChannel): void {
    const want = ch.sinks.length > 0 && ch.senders === 0;
    if (want && !ch.remote) {
      ch.remote = this.nc.subscribe(ch.subject, {
        callback: (err, msg) => {
          if (err) return;
          // nats.js hands a Buffer, or a plain Uint8Array for a message that spanned two
          // socket reads: view the same bytes as a Buffer (no copy).
          const d = msg.data;
          const data = Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
          // A throw here would stop nats.js's reader, and with it every subscription.
          try {
            if (!ch.header.read(data)) return;
            ch.header.receivedAt = performance.now();
            this.counters.received++;
            const sinks = ch.sinks;
            for (let i = 0; i < sinks.length; i++) sinks[i]!.onPacket(data, ch.header);
          } catch {
            this.counters.sinkErrors++; // logged once per interval, never per packet
          }
        },
      });
    } else if (!want && ch.remote) {
      ch.remote.unsubscribe();
      ch.remote = undefined;
    }
    if (ch.senders === 0 && ch.sinks.length === 0 && this.tracks.get(ch.subject) === ch) this.tracks.delete(ch.subject);
  }

  trackSender(subject: string): TrackSender {
    const ch = this.channel(subject);
    ch.senders++;
    this.updateRemote(ch);
    return new NatsTrackSender(this, ch);
  }

  releaseSender(ch: TrackChannel): void {
    ch.senders--;
    this.updateRemote(ch);
  }

  subscribeTrack(subject: string, sink: PacketSink): Unsubscribe {
    const ch = this.channel(subject);
    ch.sinks = [...ch.sinks, sink];
    this.updateRemote(ch);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      ch.sinks = ch.sinks.filter((s) => s !== sink);
      this.updateRemote(ch);
    };
  }

  publishRoomEvent(room: string, event: RoomEvent): void {
    // Here at once (asynchronously, as a remote event would arrive), elsewhere over NATS.
    this.deliverRoomEvent(room, event);
    try {
      this.nc.publish(subjects.room(room), encodeRoomEvent(event));
    } catch (err) {
      this.counters.publishErrors++;
      this.log.warn({ err: (err as Error).message, room }, 'could not publish room event');
    }
  }

  private deliverRoomEvent(room: string, event: RoomEvent): void {
    const entry = this.rooms.get(room);
    if (entry) deliverRoomEvent(entry.handlers, event, this.onError);
  }

  subscribeRoom(room: string, handler: (event: RoomEvent) => void): Unsubscribe {
    let entry = this.rooms.get(room);
    if (!entry) {
      const sub = this.nc.subscribe(subjects.room(room), {
        callback: (err, msg) => {
          if (err) return;
          const event = parseRoomEvent(msg.string());
          if (event) this.deliverRoomEvent(room, event);
          else this.log.warn({ room }, 'ignored a malformed room event');
        },
      });
      entry = { handlers: new Set(), sub };
      this.rooms.set(room, entry);
    }
    const e = entry;
    e.handlers.add(handler);
    return () => {
      if (!e.handlers.delete(handler) || e.handlers.size > 0) return;
      e.sub.unsubscribe();
      if (this.rooms.get(room) === e) this.rooms.delete(room);
    };
  }

  private readonly data = new Map<string, { handlers: Set<(m: DataEnvelope) => void>; sub: Subscription }>();

  publishData(room: string, message: DataEnvelope): void {
    // Here at once (asynchronously), elsewhere over NATS (noEcho: ours does not come back).
    this.deliverData(room, message);
    try {
      this.nc.publish(subjects.data(room), encodeEnvelope(message));
    } catch (err) {
      this.counters.publishErrors++;
      this.log.warn({ err: (err as Error).message, room }, 'could not publish a data message');
    }
  }

  private deliverData(room: string, message: DataEnvelope): void {
    const entry = this.data.get(room);
    if (entry) for (const h of [...entry.handlers]) queueMicrotask(() => h(message));
  }

  subscribeData(room: string, handler: (message: DataEnvelope) => void): Unsubscribe {
    let entry = this.data.get(room);
    if (!entry) {
      const sub = this.nc.subscribe(subjects.data(room), {
        callback: (err, msg) => {
          if (err) return;
          const message = decodeEnvelope(msg.data);
          if (message) this.deliverData(room, message);
          else this.log.warn({ room }, 'ignored a malformed data message');
        },
      });
      entry = { handlers: new Set(), sub };
      this.data.set(room, entry);
    }
    const e = entry;
    e.handlers.add(handler);
    return () => {
      if (!e.handlers.delete(handler) || e.handlers.size > 0) return;
      e.sub.unsubscribe();
      if (this.data.get(room) === e) this.data.delete(room);
    };
  }

  private readonly kicks = new Set<(room: string, fullId: string) => void>();
  private kickSub: Subscription | undefined;

  publishKick(room: string, fullId: string): void {
    // Here at once, elsewhere over NATS (noEcho: our own message does not come back).
    for (const h of [...this.kicks]) queueMicrotask(() => h(room, fullId));
    try {
      this.nc.publish(KICK_SUBJECT, JSON.stringify({ room, fullId }));
    } catch (err) {
      this.counters.publishErrors++;
      this.log.warn({ err: (err as Error).message, room }, 'could not publish a kick');
    }
  }

  onKick(handler: (room: string, fullId: string) => void): Unsubscribe {
    this.kicks.add(handler);
    this.kickSub ??= this.nc.subscribe(KICK_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        let k: { room?: unknown; fullId?: unknown } | undefined;
        try {
          k = msg.json();
        } catch {
          k = undefined;
        }
        if (typeof k?.room !== 'string' || typeof k.fullId !== 'string') {
          this.log.warn('ignored a malformed kick');
          return;
        }
        const { room, fullId } = k as { room: string; fullId: string };
        for (const h of [...this.kicks]) {
          try {
            h(room, fullId);
          } catch (e) {
            this.onError(e);
          }
        }
      },
    });
    return () => {
      if (!this.kicks.delete(handler) || this.kicks.size > 0) return;
      this.kickSub?.unsubscribe();
      this.kickSub = undefined;
    };
  }

  requestKeyframe(trackSubject: string): void {
    const local = this.keyframes.get(trackSubject);
    if (local) {
      for (const h of [...local.handlers]) h();
      return;
    }
    try {
      this.nc.publish(keyframeSubjectOf(trackSubject));
    } catch {
      this.counters.publishErrors++;
    }
  }

  onKeyframeRequest(trackSubject: string, handler: () => void): Unsubscribe {
    return this.shared(this.keyframes, trackSubject, keyframeSubjectOf(trackSubject), (): [] => [], handler);
  }

  /**
   * One NATS subscription per `key` for all its local handlers (keyframe requests, layer
   * wants of a track): `parse` turns a message into the handlers' arguments (undefined:
   * not ours, ignored); the last handler gone unsubscribes.
   */
  private shared<A extends unknown[]>(
    map: Map<string, { handlers: Set<(...args: A) => void>; sub: Subscription }>,
    key: string,
    subject: string,
    parse: (msg: Msg) => A | undefined,
    handler: (...args: A) => void,
  ): Unsubscribe {
    let entry = map.get(key);
    if (!entry) {
      const handlers = new Set<(...args: A) => void>();
      const sub = this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          const args = parse(msg);
          if (!args) return;
          for (const h of [...handlers]) {
            try {
              h(...args);
            } catch (e) {
              this.onError(e);
            }
          }
        },
      });
      entry = { handlers, sub };
      map.set(key, entry);
    }
    const e = entry;
    e.handlers.add(handler);
    return () => {
      if (!e.handlers.delete(handler) || e.handlers.size > 0) return;
      e.sub.unsubscribe();
      if (map.get(key) === e) map.delete(key);
    };
  }

  publishLayerWants(trackSubject: string, from: string, max: number): void {
    const local = this.wants.get(trackSubject);
    if (local) {
      for (const h of [...local.handlers]) h(from, max);
      return;
    }
    try {
      this.nc.publish(layerWantsSubjectOf(trackSubject), `${from} ${max}`);
    } catch {
      this.counters.publishErrors++;
    }
  }

  onLayerWants(trackSubject: string, handler: (from: string, max: number) => void): Unsubscribe {
    return this.shared(
      this.wants,
      trackSubject,
      layerWantsSubjectOf(trackSubject),
      (msg) => {
        // not ours, or malformed: nothing to do
        const w = parseLayerWants(msg.string());
        return w ? ([w.from, w.max] as [string, number]) : undefined;
      },
      handler,
    );
  }

  stats(): BusStats {
    let trackSinks = 0;
    let remoteTrackSubscriptions = 0;
    for (const ch of this.tracks.values()) {
      trackSinks += ch.sinks.length;
      if (ch.remote) remoteTrackSubscriptions++;
    }
    let roomSubscriptions = 0;
    for (const r of this.rooms.values()) roomSubscriptions += r.handlers.size;
    let keyframeSubscriptions = 0;
    for (const k of this.keyframes.values()) keyframeSubscriptions += k.handlers.size;
    let layerWantsSubscriptions = 0;
    for (const w of this.wants.values()) layerWantsSubscriptions += w.handlers.size;
    let dataSubscriptions = 0;
    for (const d of this.data.values()) dataSubscriptions += d.handlers.size;
    return {
      trackChannels: this.tracks.size,
      trackSinks,
      roomSubscriptions,
      dataSubscriptions,
      keyframeSubscriptions,
      layerWantsSubscriptions,
      remoteTrackSubscriptions,
      nats: { ...this.counters },
    };
  }

  async close(): Promise<void> {
    this.connected = false;
    clearInterval(this.errorLog);
    this.logErrors();
    this.tracks.clear();
    this.rooms.clear();
    this.data.clear();
    this.keyframes.clear();
    this.wants.clear();
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => {});
    }
  }
}
