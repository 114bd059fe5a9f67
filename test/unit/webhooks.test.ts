import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { RoomHappening } from '../../src/media/room-happening.js';
import type { WebhookEvent } from '../../src/webhooks/event.js';
import { backoffDelay, type Outcome, type Post, retryable, WebhookSender } from '../../src/webhooks/sender.js';
import { signWebhook, verifyWebhook, WebhookSignatureError } from '../../src/webhooks/signature.js';

const SECRET = 'x'.repeat(32);
const log = pino({ level: 'silent' });

/** Timers run only when the test advances the clock. */
class FakeClock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void }[] = [];
  now = () => this.t;
  setTimer = (fn: () => void, ms: number) => {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return timer;
  };
  clearTimer = (t: unknown) => {
    this.timers = this.timers.filter((x) => x !== t);
  };
  /** the delays of the pending timers, from now */
  pending(): number[] {
    return this.timers.map((x) => x.at - this.t);
  }
  async advance(ms: number): Promise<void> {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const d of due) d.fn();
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

/** A receiver the test answers by hand: each request waits for `answer`. */
class FakeReceiver {
  readonly requests: { url: string; event: WebhookEvent; headers: Record<string, string>; body: string }[] = [];
  private waiting: ((status: number | Error) => void)[] = [];
  post: Post = (url, body, headers) =>
    new Promise((resolve, reject) => {
      this.requests.push({ url, event: JSON.parse(body) as WebhookEvent, headers, body });
      this.waiting.push((s) => (s instanceof Error ? reject(s) : resolve(s)));
    });
  async answer(status: number | Error): Promise<void> {
    const w = this.waiting.shift();
    assert.ok(w, 'a request is waiting');
    w(status);
    await flush();
  }
}

const joined = (room: string, id: string): RoomHappening => ({ event: 'participant_joined', room, participant: { id, role: 'pub' } });

function sender(rx: FakeReceiver, clock: FakeClock, more: Partial<ConstructorParameters<typeof WebhookSender>[0]> = {}) {
  const outcomes: Outcome[] = [];
  const s = new WebhookSender({
    urls: ['http://a.invalid/hook'],
    secret: SECRET,
    log,
    post: rx.post,
    now: clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    baseDelayMs: 1000,
    maxDelayMs: 8000,
    onOutcome: (o) => outcomes.push(o),
    ...more,
  });
  return { s, outcomes };
}

describe('webhook signature', () => {
  it('is HMAC-SHA256 of "<t>.<body>" in hex, with t in the header', () => {
    const body = '{"a":1}';
    const h = signWebhook(SECRET, body, 1700000000);
    const mac = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
    assert.equal(h, `t=1700000000,v1=${mac}`);
    verifyWebhook(SECRET, body, h, 1700000010);
  });

  it('refuses another body, another secret, a malformed header and an old timestamp', () => {
    const h = signWebhook(SECRET, 'body', 1700000000);
    assert.throws(() => verifyWebhook(SECRET, 'bodY', h, 1700000000), WebhookSignatureError);
    assert.throws(() => verifyWebhook('y'.repeat(32), 'body', h, 1700000000), /mismatch/);
    assert.throws(() => verifyWebhook(SECRET, 'body', 'v1=abc', 1700000000), /malformed/);
    assert.throws(() => verifyWebhook(SECRET, 'body', h, 1700000000 + 301), /tolerance/);
  });
});

describe('webhook backoff', () => {
  it('doubles from the base up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 1000, 8000)),
      [1000, 2000, 4000, 8000, 8000, 8000],
    );
  });
  it('retries network errors, 5xx and 429, not other 4xx', () => {
    assert.equal(retryable('error'), true);
    assert.equal(retryable(500), true);
    assert.equal(retryable(503), true);
    assert.equal(retryable(429), true);
    assert.equal(retryable(400), false);
    assert.equal(retryable(404), false);
  });
});

describe('WebhookSender', () => {
  it('sends a room one event at a time, in order, signed, with a stable id across retries', async () => {
    const rx = new FakeReceiver();
    const clock = new FakeClock();
    const { s, outcomes } = sender(rx, clock);
    s.emit(joined('r', 'a'));
    s.emit(joined('r', 'b'));
    await flush();
    assert.equal(rx.requests.length, 1, 'the second waits for the first');
    await rx.answer(500);
    assert.deepEqual(clock.pending(), [1000]);
    await clock.advance(1000);
    assert.equal(rx.requests.length, 2);
    assert.equal(rx.requests[1]!.event.participant!.id, 'a', 'the retry comes before the next event');
    assert.equal(rx.requests[1]!.event.id, rx.requests[0]!.event.id);
    assert.equal(rx.requests[1]!.headers['x-weever-attempt'], '2');
    await rx.answer(200);
    assert.equal(rx.requests[2]!.event.participant!.id, 'b');
    await rx.answer(204);
    for (const r of rx.requests) verifyWebhook(SECRET, r.body, r.headers['x-weever-signature']!, Math.floor(clock.t / 1000));
    assert.deepEqual(outcomes, ['retry', 'delivered', 'delivered']);
    assert.equal(s.queued(), 0);
  });

  it('rooms do not wait for each other', async () => {
    const rx = new FakeReceiver();
    const clock = new FakeClock();
    const { s } = sender(rx, clock);
    s.emit(joined('r1', 'a'));
    s.emit(joined('r2', 'b'));
    await flush();
    assert.deepEqual(
      rx.requests.map((r) => r.event.room),
      ['r1', 'r2'],
    );
  });

  it('gives up after maxAttempts with growing waits, and at once on a 4xx', async () => {
    const rx = new FakeReceiver();
    const clock = new FakeClock();
    const { s, outcomes } = sender(rx, clock, { maxAttempts: 4 });
    s.emit(joined('r', 'a'));
    await flush();
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      await rx.answer(new Error('ECONNREFUSED'));
      waits.push(...clock.pending());
      await clock.advance(clock.pending()[0]!);
    }
    await rx.answer(503);
    assert.deepEqual(waits, [1000, 2000, 4000]);
    assert.equal(rx.requests.length, 4);
    assert.deepEqual(outcomes, ['retry', 'retry', 'retry', 'failed']);
    s.emit(joined('r', 'b'));
    await flush();
    await rx.answer(400);
    assert.equal(rx.requests.length, 5);
    assert.deepEqual(clock.pending(), []);
    assert.equal(outcomes.at(-1), 'failed');
    assert.equal(s.queued(), 0);
  });

  it('drops the oldest waiting event when the queue is full, never the one in flight', async () => {
    const rx = new FakeReceiver();
    const clock = new FakeClock();
    const { s, outcomes } = sender(rx, clock, { maxQueued: 3 });
    for (const id of ['a', 'b', 'c', 'd']) s.emit(joined('r', id));
    await flush();
    assert.deepEqual(outcomes, ['dropped']);
    assert.equal(s.queued(), 3);
    await rx.answer(200);
    await rx.answer(200);
    await rx.answer(200);
    assert.deepEqual(
      rx.requests.map((r) => r.event.participant!.id),
      ['a', 'c', 'd'],
    );
  });

  it('close drops what is queued and cancels retries', async () => {
    const rx = new FakeReceiver();
    const clock = new FakeClock();
    const { s } = sender(rx, clock);
    s.emit(joined('r', 'a'));
    await flush();
    await rx.answer(500);
    assert.equal(clock.pending().length, 1);
    s.close();
    assert.deepEqual(clock.pending(), []);
    assert.equal(s.queued(), 0);
    await s.idle();
  });
});
