/**
 * Webhooks against a real receiver (node:http on 127.0.0.1), a real server and Chromium
 * peers: events arrive in order and signed; a failing receiver gets retries with growing
 * waits; a receiver that never answers does not stop media.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WebhookEvent } from '../../src/webhooks/event.js';
import { verifyWebhook } from '../../src/webhooks/signature.js';
import { callIn, mediaOf, pagesPerTest, publishFrom, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';

const SECRET = 'webhook-secret-for-the-e2e-test-0123456789';

interface Received {
  event: WebhookEvent;
  attempt: number;
  at: number;
  verified: boolean;
}

/** Answers by room: `retry-*` → 500 twice for each room_started, `hang-*` → never, else 200. */
class Receiver {
  readonly got: Received[] = [];
  private readonly failures = new Map<string, number>();
  private readonly server = createServer((req, res) => void this.handle(req, res));
  url = '';

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }

  of(room: string): Received[] {
    return this.got.filter((r) => r.event.room === room);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let verified = true;
    try {
      verifyWebhook(SECRET, body, String(req.headers['x-weever-signature']), Math.floor(Date.now() / 1000));
    } catch {
      verified = false;
    }
    const event = JSON.parse(body) as WebhookEvent;
    this.got.push({ event, attempt: Number(req.headers['x-weever-attempt']), at: performance.now(), verified });
    if (event.room.startsWith('hang-')) return; // never answers: the server's timeout ends it
    if (event.room.startsWith('retry-') && event.event === 'room_started') {
      const n = this.failures.get(event.id) ?? 0;
      if (n < 2) {
        this.failures.set(event.id, n + 1);
        res.writeHead(500).end('try again');
        return;
      }
    }
    res.writeHead(200).end('ok');
  }
}

describe('webhooks', () => {
  const rx = new Receiver();
  before(() => rx.start());
  after(() => rx.stop());
  const ctx = serverAndBrowser(async () => ['--webhook-url', rx.url, '--webhook-secret', SECRET]);
  const page = pagesPerTest(ctx);

  async function call(room: string): Promise<{ pubId: string; subId: string }> {
    const pubPage = await page();
    const subPage = await page();
    const pubId = await publishFrom(pubPage, room, 'alice');
    const subId = await subscribeFrom(subPage, room, 'bob');
    await waitFor('media at the subscriber', async () => {
      const m = mediaOf(await subView(subPage));
      return m.videoFrames > 30 && m.audioPackets > 50;
    });
    await callIn(subPage, 'sub', 'stop');
    await callIn(pubPage, 'pub', 'stop');
    return { pubId, subId };
  }

  it('a call: every event once, signed, in the order it happened', async () => {
    const room = 'order-1';
    const { pubId, subId } = await call(room);
    await waitFor('room_finished', () => rx.of(room).some((r) => r.event.event === 'room_finished'));
    const got = rx.of(room);
    assert.ok(
      got.every((r) => r.verified),
      'every signature verifies',
    );
    assert.ok(
      got.every((r) => r.attempt === 1),
      'a 200 receiver gets each event once',
    );
    const names = got.map((r) => `${r.event.event} ${r.event.participant?.id ?? ''} ${r.event.track?.id ?? ''}`.trim());
    console.error(names);
    assert.equal(names[0], 'room_started');
    assert.equal(names.at(-1), 'room_finished');
    const at = (n: string) => {
      const i = names.indexOf(n);
      assert.ok(i >= 0, `${n} arrived`);
      assert.equal(names.lastIndexOf(n), i, `${n} arrived once`);
      return i;
    };
    for (const track of ['audio0', 'video0']) {
      assert.ok(at(`participant_joined ${pubId}`) < at(`track_published ${pubId} ${track}`));
      assert.ok(at(`track_published ${pubId} ${track}`) < at(`track_unpublished ${pubId} ${track}`));
      assert.ok(at(`track_unpublished ${pubId} ${track}`) < at(`participant_left ${pubId}`));
    }
    assert.ok(at(`participant_joined ${subId}`) < at(`participant_left ${subId}`));
    assert.equal(names.length, 10);
    const times = got.map((r) => r.event.createdAt);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'arrival order is the order they happened',
    );
    assert.equal(new Set(got.map((r) => r.event.id)).size, got.length, 'ids are unique');
    assert.ok(!ctx.server.logs.join('\n').includes(SECRET), 'the secret is never logged');
    const joined = got.find((r) => r.event.event === 'participant_joined' && r.event.participant?.id === pubId)!;
    assert.deepEqual(joined.event.participant, { id: pubId, role: 'pub' });
    const video = got.find((r) => r.event.event === 'track_published' && r.event.track?.id === 'video0')!;
    assert.equal(video.event.track?.kind, 'video');
  });

  it('a receiver answering 500 twice gets the event again with growing waits, then the rest in order', async () => {
    const room = 'retry-1';
    await call(room);
    await waitFor('room_finished', () => rx.of(room).some((r) => r.event.event === 'room_finished'), 30_000);
    const got = rx.of(room);
    const started = got.filter((r) => r.event.event === 'room_started');
    assert.deepEqual(
      started.map((r) => r.attempt),
      [1, 2, 3],
    );
    assert.equal(new Set(started.map((r) => r.event.id)).size, 1, 'the same event each time');
    const gap1 = started[1]!.at - started[0]!.at;
    const gap2 = started[2]!.at - started[1]!.at;
    console.error({ gap1, gap2 });
    assert.ok(gap1 >= 900, `first wait ≈ 1 s (${gap1} ms)`);
    assert.ok(gap2 > gap1 * 1.5, `the wait grows (${gap1} → ${gap2} ms)`);
    // nothing of the room overtook the event being retried
    assert.equal(
      got.findIndex((r) => r.event.event !== 'room_started'),
      3,
    );
    assert.equal(got.at(-1)!.event.event, 'room_finished');
  });

  it('a receiver that never answers does not stop media or signalling', async () => {
    const room = 'hang-1';
    const pubPage = await page();
    const subPage = await page();
    await publishFrom(pubPage, room, 'carol');
    await subscribeFrom(subPage, room, 'dave');
    const start = mediaOf(await subView(subPage));
    await waitFor('media keeps flowing while the receiver hangs', async () => {
      const m = mediaOf(await subView(subPage));
      return m.videoFrames > start.videoFrames + 60 && m.audioPackets > start.audioPackets + 100;
    });
    assert.ok(rx.of(room).length >= 1, 'the receiver got a request');
    assert.ok(
      rx.of(room).every((r) => r.event.event === 'room_started'),
      'one room at a time: the hung event holds back only its own room',
    );
  });
});
