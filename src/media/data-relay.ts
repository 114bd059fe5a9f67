/**
 * Data messages (docs/protocol.md, "Data messages"): a connection's `DATA` is checked
 * against its rate, stamped with the sender's user id and sent on the bus; every instance
 * delivers what comes from the bus to its own receivers in the room — the subscribers of
 * the addressed participants, never the sender's own user.
 */
import type { DataEnvelope, DataRequest } from 'weever-protocol';
import type { Bus, Unsubscribe } from '../bus/bus.js';
import { TokenBucket } from './token-bucket.js';

/** Messages per sending connection: a burst of 40, then 20 a second. */
export const DATA_MESSAGES = { capacity: 40, perSecond: 20 };
/** Payload bytes per sending connection: a burst of 256 KiB, then 64 KiB a second. */
export const DATA_BYTES = { capacity: 256 * 1024, perSecond: 64 * 1024 };

/** A subscriber here that receives the room's data messages. */
export interface DataReceiver {
  /** its user id */
  readonly user: string;
  deliver(message: DataEnvelope): void;
}

/** One sending connection's limits. */
export class DataSender {
  private readonly messages: TokenBucket;
  private readonly bytes: TokenBucket;

  constructor(
    private readonly relay: DataRelay,
    private readonly room: string,
    /** the user id the server stamps as `from` */
    private readonly user: string,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    const t = this.now();
    this.messages = new TokenBucket(DATA_MESSAGES.capacity, DATA_MESSAGES.perSecond, t);
    this.bytes = new TokenBucket(DATA_BYTES.capacity, DATA_BYTES.perSecond, t);
  }

  /** null when sent, else why not (nothing was relayed). */
  send(request: DataRequest, size: number, lossy: boolean): string | null {
    const t = this.now();
    if (!this.messages.take(1, t))
      return `DATA: rate limit (${DATA_MESSAGES.perSecond} messages a second, bursts of ${DATA_MESSAGES.capacity}); nothing was sent`;
    if (!this.bytes.take(size, t)) return `DATA: rate limit (${DATA_BYTES.perSecond / 1024} KiB a second); nothing was sent`;
    const message: DataEnvelope = { from: this.user, payload: request.payload, lossy };
    if (request.to) message.to = request.to;
    if (request.topic) message.topic = request.topic;
    this.relay.publish(this.room, message);
    return null;
  }
}

export class DataRelay {
  private readonly rooms = new Map<string, { receivers: Set<DataReceiver>; unsubscribe: Unsubscribe }>();

  constructor(private readonly bus: Bus) {}

  publish(room: string, message: DataEnvelope): void {
    this.bus.publishData(room, message);
  }

  /** `receiver` gets the room's data messages until the result is called. */
  join(room: string, receiver: DataReceiver): Unsubscribe {
    let r = this.rooms.get(room);
    if (!r) {
      const receivers = new Set<DataReceiver>();
      r = { receivers, unsubscribe: this.bus.subscribeData(room, (m) => deliver(receivers, m)) };
      this.rooms.set(room, r);
    }
    const entry = r;
    entry.receivers.add(receiver);
    return () => {
      if (!entry.receivers.delete(receiver) || entry.receivers.size > 0) return;
      entry.unsubscribe();
      if (this.rooms.get(room) === entry) this.rooms.delete(room);
    };
  }
}

function deliver(receivers: Set<DataReceiver>, m: DataEnvelope): void {
  for (const r of receivers) {
    if (r.user === m.from) continue;
    if (m.to && !m.to.includes(r.user)) continue;
    r.deliver(m);
  }
}
