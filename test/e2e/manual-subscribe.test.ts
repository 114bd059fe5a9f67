/**
 * Choosing what to receive, manual mode (issue 23 item 4; docs/protocol.md "Choosing what
 * to receive") on two instances sharing Redis and a 3-node NATS cluster: alice publishes
 * on A (Chromium); bob subscribes on A (Chromium), carol on B (Firefox ESR), both with
 * `subscribe({ auto: false })`.
 *
 * - before any `subscribeTo`: alice is announced (`publisherJoined`) but nothing of her
 *   arrives (server counters, `inbound-rtp`);
 * - `subscribeTo('alice', ['video'])`: a decoded frame within 1 s, still no audio;
 * - `unsubscribeFrom('alice')`: from 1 s after it, no packet is sent or received;
 * - subscribing again works, and the choice survives a reconnect of the subscriber
 *   connection (the server kicks it; the SDK reconnects and asks again).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { launchFirefox } from './firefox.js';
import { launchBrowser, type ServerProcess, waitFor } from './harness.js';
import { sitePage } from './sdk-page.js';
import { type Cluster, startCluster } from './services.js';

type Client = import('../../dist/client/weever.js').WeeverClient;
type W = {
  c: Client;
  joined: string[];
  inbound(kind: string): Promise<{ packets: number; frames: number }>;
  /** RTP packets per inbound SSRC, and the directions of the transceivers */
  receiving(): Promise<{ bySsrc: Record<string, number>; directions: string[] }>;
};

async function join(
  browser: { newPage(): Promise<unknown> },
  server: ServerProcess,
  room: string,
  id: string,
  publish = false,
): Promise<Page> {
  const page = await sitePage(browser, server, id);
  await page.evaluate(
    async ({ room, id, publish }) => {
      const w = window as unknown as W;
      const sdk = await import('/sdk/weever.js' as string);
      w.joined = [];
      w.c = new sdk.WeeverClient({ room, id });
      w.c.on('publisherJoined', (p) => w.joined.push(p.fullId));
      // what the current subscriber connection received of a kind: RTP packets, decoded frames
      w.inbound = async (kind) => {
        const conn = (w.c as unknown as { links: Map<string, { conn: { pc: RTCPeerConnection } | null }> }).links.get('subscriber')?.conn;
        let packets = 0;
        let frames = 0;
        (await conn?.pc.getStats())?.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === kind) {
            packets += s.packetsReceived ?? 0;
            frames += s.framesDecoded ?? 0;
          }
        });
        return { packets, frames };
      };
      w.receiving = async () => {
        const pc = (w.c as unknown as { links: Map<string, { conn: { pc: RTCPeerConnection } }> }).links.get('subscriber')!.conn.pc;
        const bySsrc: Record<string, number> = {};
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp') bySsrc[String(s.ssrc)] = s.packetsReceived ?? 0;
        });
        return { bySsrc, directions: pc.getTransceivers().map((t) => t.currentDirection ?? 'none') };
      };
      if (publish) await w.c.publish({ audio: true, video: true });
      else await w.c.subscribe({ auto: false });
    },
    { room, id, publish },
  );
  return page;
}

const inbound = (page: Page, kind: 'audio' | 'video') => page.evaluate((k) => (window as unknown as W).inbound(k), kind);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('manual subscription across two instances (Redis + NATS)', () => {
  let cluster: Cluster;
  let browser: Browser;
  let firefox: FirefoxBrowser;
  let a: ServerProcess;
  let b: ServerProcess;
  const room = 'manual';
  let aliceCam = '';
  let subs: { name: string; page: Page; server: ServerProcess }[] = [];

  before(async () => {
    cluster = await startCluster(2);
    [a, b] = cluster.servers as [ServerProcess, ServerProcess];
    browser = await launchBrowser();
    firefox = await launchFirefox();
    const alice = await join(browser, a, room, 'alice', true);
    aliceCam = await alice.evaluate(() => (window as unknown as W).c.fullIds.camera!);
    subs = [
      { name: 'bob (A, Chromium)', page: await join(browser, a, room, 'bob'), server: a },
      { name: 'carol (B, Firefox)', page: await join(firefox, b, room, 'carol'), server: b },
    ];
  });
  after(async () => {
    await firefox?.close();
    await browser?.close();
    await cluster?.stop();
  });

  /** Packets of alice's tracks each subscriber's instance sent it so far (absent: 0). */
  async function serverSent(): Promise<{ audio: number; video: number }[]> {
    return Promise.all(
      subs.map(async (s) => {
        const t = (await fetch(`${s.server.privateUrl}/debug/traffic/${room}`).then((r) => r.json())) as {
          subscribers: Record<string, Record<string, number>>;
        };
        const fullId = await s.page.evaluate(() => (window as unknown as W).c.fullIds.subscriber!);
        const mine = t.subscribers[fullId] ?? {};
        return { audio: mine[`${aliceCam}/audio0`] ?? 0, video: mine[`${aliceCam}/video0`] ?? 0 };
      }),
    );
  }
  const call = (page: Page, what: 'sub-video' | 'sub' | 'unsub') =>
    page.evaluate((what) => {
      const c = (window as unknown as W).c;
      if (what === 'sub-video') c.subscribeTo('alice', ['video']);
      else if (what === 'sub') c.subscribeTo('alice');
      else c.unsubscribeFrom('alice');
    }, what);

  it('?subscribe= other than auto or manual, or on a publisher, is a clear 400', async () => {
    const post = (path: string) =>
      fetch(`${a.publicUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
    const bad = await post(`/sub/${room}/zed+1?subscribe=some`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /subscribe must be auto or manual/);
    const pub = await post(`/pub/${room}/zed+1?subscribe=manual`);
    assert.equal(pub.status, 400);
    assert.match(await pub.text(), /subscribe is a subscriber option/);
    const listed = await fetch(`${a.privateUrl}/list/sub/${room}`).then((r) => r.text());
    assert.ok(!listed.includes('zed'), `nothing of zed is left: ${listed}`);
  });

  it('announces alice but sends nothing of her before subscribeTo', async () => {
    for (const s of subs)
      await waitFor(`${s.name} is told of alice`, async () =>
        (await s.page.evaluate(() => (window as unknown as W).joined)).includes(aliceCam),
      );
    await sleep(1500); // what an automatic subscriber would have got by now: its first frames
    assert.deepEqual(await serverSent(), [
      { audio: 0, video: 0 },
      { audio: 0, video: 0 },
    ]);
    for (const s of subs) {
      assert.equal((await inbound(s.page, 'video')).packets, 0, `${s.name}: no video`);
      assert.equal((await inbound(s.page, 'audio')).packets, 0, `${s.name}: no audio`);
    }
  });

  it('subscribeTo(alice, video): a decoded frame within 1 s, and still no audio', async () => {
    await Promise.all(
      subs.map(async (s) => {
        const at = Date.now();
        await call(s.page, 'sub-video');
        await waitFor(`${s.name} decodes alice`, async () => ((await inbound(s.page, 'video')).frames > 0 ? true : null), 10_000, 10);
        const ms = Date.now() - at;
        console.error(`${s.name}: first frame ${ms} ms after subscribeTo`);
        assert.ok(ms <= 1000, `${s.name}: first frame after ${ms} ms`);
      }),
    );
    await sleep(500);
    for (const s of subs) assert.equal((await inbound(s.page, 'audio')).packets, 0, `${s.name}: audio was not asked for`);
    for (const x of await serverSent()) assert.equal(x.audio, 0);
  });

  it('unsubscribeFrom(alice): from 1 s after it, no packet is sent or received', async () => {
    await Promise.all(subs.map((s) => call(s.page, 'sub')));
    await waitFor('audio flows too', async () => (await serverSent()).every((x) => x.audio > 0 && x.video > 0), 10_000);
    const at = Date.now();
    await Promise.all(subs.map((s) => call(s.page, 'unsub')));
    await sleep(Math.max(0, at + 1000 - Date.now()));
    const server1 = await serverSent();
    const client1 = await Promise.all(subs.map((s) => s.page.evaluate(() => (window as unknown as W).receiving())));
    await sleep(2000);
    const server2 = await serverSent();
    const client2 = await Promise.all(subs.map((s) => s.page.evaluate(() => (window as unknown as W).receiving())));
    console.error(`sent 1 s and 3 s after unsubscribeFrom: ${JSON.stringify(server1)} / ${JSON.stringify(server2)}`);
    assert.ok(
      server1.every((x) => x.audio > 0 && x.video > 0),
      'the counters keep what was sent before the UNSUB',
    );
    assert.deepEqual(server2, server1, 'no packet forwarded from 1 s after UNSUB on');
    subs.forEach((s, i) => {
      // a browser may drop the stats of a receiver that stopped; none that is left grew
      for (const [ssrc, n] of Object.entries(client2[i]!.bySsrc))
        assert.equal(n, client1[i]!.bySsrc[ssrc], `${s.name}: inbound-rtp ${ssrc} did not move (${JSON.stringify(client1[i])})`);
      assert.ok(
        client2[i]!.directions.every((d) => d !== 'recvonly' && d !== 'sendrecv'),
        `${s.name}: no transceiver receives any more: ${client2[i]!.directions}`,
      );
    });
  });

  it('subscribing again works, and the choice survives a reconnect of the subscriber connection', async () => {
    const before = await Promise.all(subs.map((s) => inbound(s.page, 'video')));
    await Promise.all(subs.map((s) => call(s.page, 'sub-video')));
    await Promise.all(
      subs.map((s, i) =>
        waitFor(
          `${s.name} decodes alice again`,
          async () => ((await inbound(s.page, 'video')).frames > before[i]!.frames ? true : null),
          5000,
        ),
      ),
    );
    // carol's instance ends her subscriber session; the SDK reconnects with a new full id
    const carol = subs[1]!;
    const old = await carol.page.evaluate(() => (window as unknown as W).c.fullIds.subscriber!);
    const kicked = await fetch(`${b.privateUrl}/rooms/${room}/participants/${encodeURIComponent(old)}`, { method: 'DELETE' });
    assert.ok(kicked.ok, `kick: ${kicked.status}`);
    await waitFor('carol reconnected', async () => {
      const now = await carol.page.evaluate(() => (window as unknown as W).c.fullIds.subscriber);
      return now !== undefined && now !== old;
    });
    await waitFor(
      'carol decodes alice on the new connection',
      async () => ((await inbound(carol.page, 'video')).frames > 0 ? true : null),
      10_000,
    );
    await sleep(500);
    assert.equal((await inbound(carol.page, 'audio')).packets, 0, 'audio is still not subscribed');
  });
});
