/**
 * Adaptive stream (issue 23 item 4; docs/protocol.md "Choosing what to receive") on two
 * instances sharing Redis and a 3-node NATS cluster: alice publishes a 1280×720 simulcast
 * camera on A (Chromium); bob subscribes on A (Chromium), carol on B (Firefox ESR). Each
 * shows alice in a `<video>` (first 1280×720 CSS pixels) watched by the SDK's `observeVideo`.
 *
 * - the layer sizes come from alice's key frames (the track info in the store and the
 *   pub-join event: carol on B is served by them too);
 * - shown at 320×180: each receives the ¼ layer (inbound-rtp frameWidth 320), and
 *   dynacast stops alice's larger layers (her outbound-rtp bytes) within 2 s; bob showing
 *   her at 1280×720 again brings her top layer back within 1 s;
 * - hidden (`display: none`): from 1 s after, 0 packets (server counters, inbound-rtp);
 * - shown again at 1280×720: video decodes again, on a larger layer.
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
  video(): Promise<{ packets: number; frames: number; width: number }>;
  /** the publisher's video layers as its browser sends them, by SSRC */
  outbound(): Promise<{ ssrc: number; bytes: number; width: number }[]>;
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
      w.c = new sdk.WeeverClient({ room, id });
      w.c.on('stream', ({ id: who, kind, stream }) => {
        if (who !== 'alice' || kind !== 'camera') return;
        const v = document.createElement('video');
        v.id = 'alice';
        Object.assign(v, { muted: true, autoplay: true, playsInline: true, srcObject: stream });
        // over the demo page, in the viewport
        v.style.cssText = 'position: fixed; top: 0; left: 0; z-index: 10; display: block; width: 1280px; height: 720px; object-fit: cover';
        document.body.append(v);
        w.c.observeVideo(v, 'alice');
      });
      w.video = async () => {
        const pc = (w.c as unknown as { links: Map<string, { conn: { pc: RTCPeerConnection } }> }).links.get('subscriber')!.conn.pc;
        const out = { packets: 0, frames: 0, width: 0 };
        (await pc.getStats()).forEach((s) => {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
          out.packets += s.packetsReceived ?? 0;
          out.frames += s.framesDecoded ?? 0;
          out.width = Math.max(out.width, s.frameWidth ?? 0);
        });
        return out;
      };
      w.outbound = async () => {
        const pc = (w.c as unknown as { links: Map<string, { conn: { pc: RTCPeerConnection } }> }).links.get('camera')!.conn.pc;
        const out: { ssrc: number; bytes: number; width: number }[] = [];
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video')
            out.push({ ssrc: s.ssrc, bytes: s.bytesSent ?? 0, width: s.frameWidth ?? 0 });
        });
        return out;
      };
      if (publish) await w.c.publish({ audio: true, video: { width: 1280, height: 720 } });
      else await w.c.subscribe();
    },
    { room, id, publish },
  );
  return page;
}

const video = (page: Page) => page.evaluate(() => (window as unknown as W).video());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('adaptive stream across two instances (Redis + NATS)', () => {
  let cluster: Cluster;
  let browser: Browser;
  let firefox: FirefoxBrowser;
  let a: ServerProcess;
  let b: ServerProcess;
  const room = 'adaptive';
  let aliceCam = '';
  let alicePage: Page;
  let subs: { name: string; page: Page; server: ServerProcess }[] = [];

  before(async () => {
    cluster = await startCluster(2);
    [a, b] = cluster.servers as [ServerProcess, ServerProcess];
    browser = await launchBrowser();
    firefox = await launchFirefox();
    const alice = await join(browser, a, room, 'alice', true);
    alicePage = alice;
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

  async function serverSent(): Promise<number[]> {
    return Promise.all(
      subs.map(async (s) => {
        const t = (await fetch(`${s.server.privateUrl}/debug/traffic/${room}`).then((r) => r.json())) as {
          subscribers: Record<string, Record<string, number>>;
        };
        const fullId = await s.page.evaluate(() => (window as unknown as W).c.fullIds.subscriber!);
        return t.subscribers[fullId]?.[`${aliceCam}/video0`] ?? 0;
      }),
    );
  }
  const style = (page: Page, css: string) =>
    page.evaluate((css) => {
      document.getElementById('alice')!.style.cssText = `position: fixed; top: 0; left: 0; z-index: 10; object-fit: cover; ${css}`;
    }, css);

  it('the layer sizes from alice’s key frames are in the room’s media', async () => {
    const sizes = await waitFor(
      'the store has the layer sizes',
      async () => {
        const room_ = (await fetch(`${a.privateUrl}/debug/room/${room}`).then((r) => r.json())) as {
          media: Record<string, { trackId: string; sizes?: [number, number][] }[]>;
        };
        const v = room_.media[aliceCam]?.find((t) => t.trackId === 'video0');
        return v?.sizes?.every(([w, h]) => w > 0 && h > 0) ? v.sizes : null;
      },
      20_000,
    );
    console.error(`layer sizes: ${JSON.stringify(sizes)}`);
    assert.equal(sizes.length, 3);
    assert.ok(sizes[0]![0] < sizes[2]![0], 'layer 0 is the smallest');
  });

  /** alice's layers' SSRCs, largest picture first, as seen while all were sent */
  let order: number[] = [];
  /** alice's layers' bytes sent, in `order` (largest picture first until `order` is set) */
  async function aliceLayers(): Promise<{ ssrc: number; bytes: number; width: number }[]> {
    const list = await alicePage.evaluate(() => (window as unknown as W).outbound());
    if (order.length === 0) return list.sort((x, y) => y.width - x.width);
    return order.map((ssrc) => list.find((l) => l.ssrc === ssrc) ?? { ssrc, bytes: 0, width: 0 });
  }

  it('shown at 320×180: each subscriber receives the ¼ layer; alice stops sending her larger layers within 2 s (dynacast)', async () => {
    for (const s of subs) await waitFor(`${s.name} decodes alice`, async () => ((await video(s.page)).frames > 0 ? true : null), 20_000);
    const top = (await aliceLayers())[0]!;
    const topMoving = await waitFor('alice sends her top layer', async () => {
      const now = (await aliceLayers()).find((l) => l.ssrc === top.ssrc)!;
      return now.bytes > top.bytes ? now : null;
    });
    const all = await aliceLayers();
    console.error(`alice's layers: ${JSON.stringify(all)}`);
    assert.equal(all.length, 3, 'three layers');
    order = all.map((l) => l.ssrc);
    const at = Date.now();
    await Promise.all(subs.map((s) => style(s.page, 'display: block; width: 320px; height: 180px')));
    for (const s of subs) {
      const v = await waitFor(
        `${s.name} receives a 320-wide layer`,
        async () => {
          const x = await video(s.page);
          return x.width > 0 && x.width <= 320 ? x : null;
        },
        20_000,
      );
      console.error(`${s.name}: ${JSON.stringify(v)} ${Date.now() - at} ms after the resize`);
    }
    await sleep(Math.max(0, at + 2000 - Date.now()));
    const l1 = await aliceLayers();
    await sleep(1000);
    const l2 = await aliceLayers();
    console.error(`alice's layers 2 s and 3 s after both show her small: ${JSON.stringify(l1)} / ${JSON.stringify(l2)}`);
    assert.ok(l1[0]!.bytes >= topMoving.bytes);
    assert.equal(l2[0]!.bytes, l1[0]!.bytes, 'the top layer sends nothing');
    assert.equal(l2[1]!.bytes, l1[1]!.bytes, 'nor the middle one');
    assert.ok(l2[2]!.bytes > l1[2]!.bytes, 'the smallest goes on');
    for (const s of subs) assert.ok((await video(s.page)).width <= 320, `${s.name} stays on the ¼ layer`);

    // bob shows her large: the top layer is back within 1 s
    const back = Date.now();
    await style(subs[0]!.page, 'display: block; width: 1280px; height: 720px');
    await waitFor('alice sends her top layer again', async () => ((await aliceLayers())[0]!.bytes > l2[0]!.bytes ? true : null), 5000, 20);
    const ms = Date.now() - back;
    console.error(`alice's top layer back ${ms} ms after bob showed her at 1280×720`);
    assert.ok(ms <= 1000, `top layer back after ${ms} ms`);
    await waitFor('bob gets a larger layer', async () => ((await video(subs[0]!.page)).width > 320 ? true : null));
    await style(subs[0]!.page, 'display: block; width: 320px; height: 180px');
  });

  it('hidden: from 1 s after, 0 packets; shown again at 1280×720: video again, on a larger layer', async () => {
    const at = Date.now();
    await Promise.all(subs.map((s) => style(s.page, 'display: none')));
    await sleep(Math.max(0, at + 1000 - Date.now()));
    const server1 = await serverSent();
    const client1 = await Promise.all(subs.map((s) => video(s.page)));
    await sleep(2000);
    const server2 = await serverSent();
    const client2 = await Promise.all(subs.map((s) => video(s.page)));
    console.error(`sent 1 s and 3 s after hiding: ${server1} / ${server2}`);
    assert.ok(
      server1.every((n) => n > 0),
      'the counters count what was sent before',
    );
    assert.deepEqual(server2, server1, 'no packet of a hidden video');
    subs.forEach((s, i) => {
      assert.equal(client2[i]!.packets, client1[i]!.packets, `${s.name}: inbound-rtp did not move`);
    });

    const shownAt = Date.now();
    await Promise.all(subs.map((s) => style(s.page, 'display: block; width: 1280px; height: 720px')));
    await Promise.all(
      subs.map(async (s, i) => {
        await waitFor(`${s.name} decodes again`, async () => ((await video(s.page)).frames > client2[i]!.frames ? true : null), 5000, 10);
        console.error(`${s.name}: a frame ${Date.now() - shownAt} ms after it was shown again`);
        const v = await waitFor(`${s.name} gets a larger layer`, async () => {
          const x = await video(s.page);
          return x.width > 320 ? x : null;
        });
        console.error(`${s.name} shown at 1280×720: ${JSON.stringify(v)}`);
      }),
    );
  });
});
