/**
 * Camera and screen over one connection (issue 23 item 5; docs/protocol.md "One connection
 * for camera and screen") on two instances sharing Redis and a 3-node NATS cluster: alice
 * publishes her camera on A (Chromium) and shares a screen (a canvas stream) on the same
 * connection; bob subscribes on A (Chromium), fiona on B (Firefox ESR).
 *
 * - alice holds one publisher connection; the server lists her camera and her screen
 *   share as two publishers; each subscriber gets `publisherJoined` for both and decodes
 *   both (the screen at the canvas' size);
 * - adaptive stream on the screen (a one-stream video): hidden (`setVideoSize(…, 0, 0,
 *   'screen')`), no packet of it from 1 s after; shown again, it decodes again;
 * - muting the camera mutes neither the screen's frames nor its track;
 * - `unpublishScreen()`: every subscriber gets `publisherLeft` for the screen only; the
 *   camera goes on decoding on the same connection (same full id, no new session);
 * - sharing again reuses the connection: a new screen publisher, decoded again;
 * - the camera connection kicked: the SDK's new one carries the share again (new ids).
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
  events: { type: string; fullId: string; kind?: string; trackId?: string }[];
  /** video frames decoded per remote publisher full id */
  frames(): Promise<Record<string, { frames: number; width: number }>>;
  share(): Promise<void>;
};

async function join(browser: { newPage(): Promise<unknown> }, server: ServerProcess, room: string, id: string, publish = false) {
  const page = await sitePage(browser, server, id);
  await page.evaluate(
    async ({ room, id, publish }) => {
      const w = window as unknown as W;
      const sdk = await import('/sdk/weever.js' as string);
      w.events = [];
      w.c = new sdk.WeeverClient({ room, id });
      for (const type of ['publisherJoined', 'publisherLeft', 'trackMuted', 'trackUnmuted'] as const)
        w.c.on(type, (e: { fullId: string; kind?: string; trackId?: string }) =>
          w.events.push({ type, fullId: e.fullId, ...(e.kind ? { kind: e.kind } : {}), ...(e.trackId ? { trackId: e.trackId } : {}) }),
        );
      w.frames = async () => {
        const out: Record<string, { frames: number; width: number }> = {};
        for (const s of await w.c.getStats())
          if (s.direction === 'inbound' && s.video) out[s.fullId] = { frames: s.video.frames ?? 0, width: s.video.width ?? 0 };
        return out;
      };
      // a "screen": a 1280×720 canvas that changes every frame
      w.share = async () => {
        const canvas = document.createElement('canvas');
        canvas.width = 1280;
        canvas.height = 720;
        const g = canvas.getContext('2d')!;
        let n = 0;
        setInterval(() => {
          g.fillStyle = `hsl(${n++ % 360} 60% 50%)`;
          g.fillRect(0, 0, 1280, 720);
          g.fillStyle = '#fff';
          g.fillText(String(n), 40 + (n % 1000), 360);
        }, 50);
        await w.c.publishScreen(canvas.captureStream(20));
      };
      if (publish) await w.c.publish({ audio: true, video: true });
      else await w.c.subscribe();
    },
    { room, id, publish },
  );
  return page;
}

const frames = (page: Page) => page.evaluate(() => (window as unknown as W).frames());
const events = (page: Page) => page.evaluate(() => (window as unknown as W).events);
const fullIds = (page: Page) => page.evaluate(() => (window as unknown as W).c.fullIds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('camera and screen over one publisher connection, across two instances (Redis + NATS)', () => {
  let cluster: Cluster;
  let browser: Browser;
  let firefox: FirefoxBrowser;
  let a: ServerProcess;
  let b: ServerProcess;
  const room = 'screen-one';
  let alice: Page;
  let subs: { name: string; page: Page }[] = [];

  before(async () => {
    cluster = await startCluster(2);
    [a, b] = cluster.servers as [ServerProcess, ServerProcess];
    browser = await launchBrowser();
    firefox = await launchFirefox();
    alice = await join(browser, a, room, 'alice', true);
    subs = [
      { name: 'bob (A)', page: await join(browser, a, room, 'bob') },
      { name: 'fiona (B, Firefox)', page: await join(firefox, b, room, 'fiona') },
    ];
  });
  after(async () => {
    await firefox?.close();
    await browser?.close();
    await cluster?.stop();
  });

  /** Waits until every subscriber decodes new frames of `pub` (more than it had), and returns their widths. */
  async function decoding(pub: string, what: string): Promise<number[]> {
    const widths: number[] = [];
    for (const s of subs) {
      const f0 = (await frames(s.page))[pub]?.frames ?? 0;
      const w = await waitFor(
        `${s.name} decodes ${what}`,
        async () => {
          const f = (await frames(s.page))[pub];
          return f && f.frames > f0 + 5 ? f.width : null;
        },
        20_000,
        100,
      );
      widths.push(w);
    }
    return widths;
  }

  it('a subscriber on each instance decodes both; ending the screen leaves the camera untouched; sharing again works', async () => {
    const camera = (await fullIds(alice)).camera!;
    await decoding(camera, 'the camera');
    await alice.evaluate(() => (window as unknown as W).share());
    const ids = await fullIds(alice);
    const screen = ids.screen!;
    assert.match(screen, /^alice-screen\+/);
    assert.equal(ids.camera, camera, 'the camera connection is the same one');
    const links = await alice.evaluate(() => [...(window as unknown as { c: { links: Map<string, unknown> } }).c.links.keys()]);
    assert.deepEqual(links, ['camera'], 'one publisher connection: the screen rides on the camera’s');
    // (listed once its media flows, as a publisher connection is)
    await waitFor(
      'the server lists camera and screen as publishers',
      async () => JSON.stringify((await a.list('pub', room)).sort()) === JSON.stringify([camera, screen].sort()),
    );

    const screenWidths = await decoding(screen, 'the screen');
    for (const w of screenWidths) assert.equal(w, 1280, 'the screen at the canvas’ size');
    await decoding(camera, 'the camera, beside the screen');
    for (const s of subs) {
      const joined = (await events(s.page)).filter((e) => e.type === 'publisherJoined').map((e) => [e.fullId, e.kind]);
      assert.deepEqual(
        joined,
        [
          [camera, 'camera'],
          [screen, 'screen'],
        ],
        `${s.name}: joined events for camera and screen`,
      );
    }

    // adaptive stream for a one-stream video: hidden, nothing of it; shown, from its next keyframe
    const packets = async (page: Page) =>
      page.evaluate(async (pub) => {
        const st = await (window as unknown as W).c.getStats();
        return st.find((x) => x.direction === 'inbound' && x.fullId === pub)?.video?.packets ?? 0;
      }, screen);
    for (const s of subs) await s.page.evaluate(() => (window as unknown as W).c.setVideoSize('alice', 0, 0, 'screen'));
    await sleep(1000);
    const p1 = await Promise.all(subs.map((s) => packets(s.page)));
    await sleep(2000);
    const p3 = await Promise.all(subs.map((s) => packets(s.page)));
    console.log(`screen hidden: packets 1 s and 3 s after: ${p1.join(',')} / ${p3.join(',')}`);
    assert.deepEqual(p3, p1, 'hidden: no packet of the screen from 1 s after');
    await decoding(camera, 'the camera while the screen is hidden');
    const shownAt = performance.now();
    for (const s of subs) await s.page.evaluate(() => (window as unknown as W).c.setVideoSize('alice', 1280, 720, 'screen'));
    await decoding(screen, 'the screen shown again');
    console.log(`the screen decodes again at every subscriber ${(performance.now() - shownAt).toFixed(0)} ms after it was shown`);

    // the camera's mute is the camera's: the screen goes on
    await alice.evaluate(() => (window as unknown as W).c.setMuted('video', true));
    for (const s of subs)
      await waitFor(`${s.name} told the camera is muted`, async () => (await events(s.page)).some((e) => e.type === 'trackMuted'));
    await decoding(screen, 'the screen while the camera is muted');
    for (const s of subs) {
      const muted = (await events(s.page)).filter((e) => e.type === 'trackMuted').map((e) => e.fullId);
      assert.deepEqual(muted, [camera], `${s.name}: only the camera's video is muted`);
    }
    await alice.evaluate(() => (window as unknown as W).c.setMuted('video', false));
    await decoding(camera, 'the camera after unmute');

    // ending the screen share
    const endedAt = performance.now();
    await alice.evaluate(() => (window as unknown as W).c.unpublishScreen());
    for (const s of subs) {
      await waitFor(`${s.name} told the screen left`, async () =>
        (await events(s.page)).some((e) => e.type === 'publisherLeft' && e.fullId === screen),
      );
    }
    console.log(`screen share ended: every subscriber told after ${(performance.now() - endedAt).toFixed(0)} ms`);
    assert.deepEqual(await a.list('pub', room), [camera], 'only the camera is listed');
    const camNow = await decoding(camera, 'the camera after the screen ended');
    assert.ok(camNow.every((w) => w > 0));
    await sleep(500);
    for (const s of subs) {
      const left = (await events(s.page)).filter((e) => e.type === 'publisherLeft').map((e) => e.fullId);
      assert.deepEqual(left, [screen], `${s.name}: the camera never left`);
    }
    assert.equal((await fullIds(alice)).camera, camera, 'the camera kept its connection');
    assert.equal((await fullIds(alice)).screen, undefined);

    // sharing again: the same connection, a new screen publisher
    await alice.evaluate(() => (window as unknown as W).share());
    const again = (await fullIds(alice)).screen!;
    assert.notEqual(again, screen, 'a new screen share is a new publisher');
    for (const w of await decoding(again, 'the second screen share')) assert.equal(w, 1280);
    assert.equal((await fullIds(alice)).camera, camera);

    // the camera connection kicked (admin): the SDK's new connection carries the share again, under a new id
    const kicked = await fetch(`${a.privateUrl}/rooms/${room}/participants/${encodeURIComponent(camera)}`, { method: 'DELETE' });
    assert.ok(kicked.ok, `kick: ${kicked.status}`);
    const after = await waitFor('alice reconnected', async () => {
      const ids = await fullIds(alice);
      return ids.camera && ids.camera !== camera && ids.screen && ids.screen !== again ? ids : null;
    });
    await decoding(after.camera!, 'the camera after the reconnect');
    await decoding(after.screen!, 'the screen share after the reconnect');
    for (const sub of subs)
      await waitFor(
        `${sub.name}: the screen at full size after the reconnect`,
        async () => (await frames(sub.page))[after.screen!]?.width === 1280,
        10_000,
      );
    const links2 = await alice.evaluate(() => [...(window as unknown as { c: { links: Map<string, unknown> } }).c.links.keys()]);
    assert.deepEqual(links2, ['camera'], 'still one publisher connection');
    await waitFor('the old screen share is gone from the server', async () => !(await a.list('pub', room)).includes(again));
    assert.ok(
      a.logs.every((l) => !l.includes('"msg":"SDP_OFFER refused"')),
      'no renegotiation was refused',
    );
    await Promise.all([alice, ...subs.map((s) => s.page)].map((p) => p.close()));
  });
});
