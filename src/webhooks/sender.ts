/**
 * Delivers webhook events (docs/protocol.md, webhooks). Per receiver URL and room, one queue
 * sent one request at a time: a room's events arrive in the order they happened. Everything
 * runs off timers and promises, so a slow or dead receiver never holds up media or signalling;
 * each request has a timeout, the queues together hold at most `maxQueued` events per URL
 * (the oldest waiting one is dropped, counted and logged, when full).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/log.js';
import type { RoomHappening, WebhookEvent, WebhookEventName } from './event.js';
import { signWebhook } from './signature.js';

/** POSTs `body`; resolves to the HTTP status, rejects on a network error or timeout. */
export type Post = (url: string, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<number>;

export type Outcome = 'delivered' | 'retry' | 'failed' | 'dropped';

export interface WebhookSenderOptions {
  urls: readonly string[];
  /** never logged */
  secret: string;
  /** attempts per event, the first included */
  maxAttempts?: number;
  /** wait before the 2nd attempt; doubles each time up to maxDelayMs */
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  maxQueued?: number;
  log: Logger;
  post?: Post;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
  /** one call per attempt's outcome (metrics) */
  onOutcome?: (outcome: Outcome, event: WebhookEventName) => void;
}

/** Wait before attempt `attempt + 1` (attempt ≥ 1): base·2^(attempt−1), at most max. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** (attempt - 1));
}

/** Network errors, timeouts, 5xx and 429 are worth another attempt; other 4xx are not. */
export function retryable(status: number | 'error'): boolean {
  return status === 'error' || status === 429 || status >= 500;
}

interface Pending {
  event: WebhookEvent;
  body: string;
  seq: number;
  attempts: number;
}

class RoomQueue {
  readonly items: Pending[] = [];
  busy = false;
  timer: unknown;
}

class Receiver {
  readonly rooms = new Map<string, RoomQueue>();
  queued = 0;
  constructor(readonly url: string) {}
}

export const fetchPost: Post = async (url, body, headers, timeoutMs) => {
  const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  await res.body?.cancel();
  return res.status;
};

export class WebhookSender {
  private readonly receivers: Receiver[];
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly maxQueued: number;
  private readonly post: Post;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  private seq = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WebhookSenderOptions) {
    this.receivers = opts.urls.map((u) => new Receiver(u));
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxQueued = opts.maxQueued ?? 1000;
    this.post = opts.post ?? fetchPost;
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  /** Queues an event for every receiver; returns at once. */
  emit(happening: RoomHappening): WebhookEvent {
    const event: WebhookEvent = { id: `EV_${randomUUID()}`, createdAt: this.now(), ...happening };
    if (this.closed) return event;
    const body = JSON.stringify(event);
    const seq = this.seq++;
    for (const r of this.receivers) {
      if (r.queued >= this.maxQueued) this.dropOldest(r);
      let q = r.rooms.get(event.room);
      if (!q) {
        q = new RoomQueue();
        r.rooms.set(event.room, q);
      }
      q.items.push({ event, body, seq, attempts: 0 });
      r.queued++;
      if (!q.busy && q.timer === undefined) this.next(r, event.room, q);
    }
    return event;
  }

  /** Events waiting or in flight, all receivers. */
  queued(): number {
    return this.receivers.reduce((n, r) => n + r.queued, 0);
  }

  /** Resolves when nothing is queued (tests, shutdown). */
  idle(): Promise<void> {
    if (this.queued() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Waits (at most `ms`) for the queues to empty, then closes. */
  async flush(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    this.close();
  }

  /** Stops sending; what is queued is dropped. */
  close(): void {
    this.closed = true;
    for (const r of this.receivers) {
      for (const q of r.rooms.values()) if (q.timer !== undefined) this.clearTimer(q.timer);
      r.rooms.clear();
      r.queued = 0;
    }
    this.wakeIdle();
  }

  // The oldest event not in flight (an in-flight one finishes its attempt).
  private dropOldest(r: Receiver): void {
    let victim: { q: RoomQueue; room: string; i: number; seq: number } | undefined;
    for (const [room, q] of r.rooms) {
      const i = q.busy ? 1 : 0;
      const p = q.items[i];
      if (p && (!victim || p.seq < victim.seq)) victim = { q, room, i, seq: p.seq };
    }
    if (!victim) return;
    const [p] = victim.q.items.splice(victim.i, 1);
    r.queued--;
    if (victim.i === 0 && victim.q.timer !== undefined) {
      // it was waiting for a retry: the next event of that room goes now
      this.clearTimer(victim.q.timer);
      victim.q.timer = undefined;
      this.next(r, victim.room, victim.q);
    }
    this.opts.onOutcome?.('dropped', p!.event.event);
    this.opts.log.warn(
      { url: r.url, event: p!.event.event, room: victim.room, id: p!.event.id },
      'webhook queue full: dropped the oldest event',
    );
  }

  private next(r: Receiver, room: string, q: RoomQueue): void {
    const p = q.items[0];
    if (!p || this.closed) {
      if (q.items.length === 0 && r.rooms.get(room) === q) r.rooms.delete(room);
      this.wakeIdle();
      return;
    }
    q.busy = true;
    p.attempts++;
    const t = Math.floor(this.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'weever-streaming-webhook',
      'x-weever-signature': signWebhook(this.opts.secret, p.body, t),
      'x-weever-event-id': p.event.id,
      'x-weever-attempt': String(p.attempts),
    };
    this.post(r.url, p.body, headers, this.timeoutMs).then(
      (status) => this.settle(r, room, q, p, status),
      () => this.settle(r, room, q, p, 'error'),
    );
  }

  private settle(r: Receiver, room: string, q: RoomQueue, p: Pending, status: number | 'error'): void {
    q.busy = false;
    if (this.closed || q.items[0] !== p) return;
    const ok = status !== 'error' && status >= 200 && status < 300;
    if (!ok && retryable(status) && p.attempts < this.maxAttempts) {
      this.opts.onOutcome?.('retry', p.event.event);
      q.timer = this.setTimer(
        () => {
          q.timer = undefined;
          this.next(r, room, q);
        },
        backoffDelay(p.attempts, this.baseDelayMs, this.maxDelayMs),
      );
      return;
    }
    q.items.shift();
    r.queued--;
    if (ok) this.opts.onOutcome?.('delivered', p.event.event);
    else {
      this.opts.onOutcome?.('failed', p.event.event);
      this.opts.log.warn({ url: r.url, event: p.event.event, room, id: p.event.id, status, attempts: p.attempts }, 'webhook not delivered');
    }
    this.next(r, room, q);
  }

  private wakeIdle(): void {
    if (this.queued() === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
