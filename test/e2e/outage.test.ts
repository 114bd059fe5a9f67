/**
 * Path outages (issue 14 item 5): every UDP datagram of the SFU's one media port
 * (--rtc-udp-port) is dropped with nftables for 3, 8 and 20 s, both legs at once (the
 * publisher and the subscriber are SDK clients in one Chromium page). HTTP stays up.
 *
 * - 3, 8 and 10 s: the same sessions carry on (no new POST, same full ids on the server)
 *   and the subscriber decodes video again within 1 s after the path is back.
 * - 20 s: the SDK gives the connections up (ICE `disconnected` past its grace), shows
 *   `reconnecting`, reconnects by itself under new full ids, and video is decoded again
 *   within 2 s after the path is back.
 *
 * Needs root for nft; the rules are scoped to this server's port (a table per process)
 * and removed in `finally` and on process exit.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { connText, joinDemo, waitPlaying } from './demo.js';
import { launchBrowser, type ServerProcess, startServer, waitFor } from './harness.js';
import { freePort } from './services.js';

const TABLE = `weever_outage_${process.pid}`;

function nft(...args: string[]): void {
  execFileSync('nft', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Drops every UDP datagram to or from `port` on this machine (both directions, loopback included). */
function blackhole(port: number): void {
  nft('add', 'table', 'inet', TABLE);
  nft('add', 'chain', 'inet', TABLE, 'out', '{ type filter hook output priority 0; }');
  nft('add', 'rule', 'inet', TABLE, 'out', 'meta', 'l4proto', 'udp', 'udp', 'dport', String(port), 'drop');
  nft('add', 'rule', 'inet', TABLE, 'out', 'meta', 'l4proto', 'udp', 'udp', 'sport', String(port), 'drop');
}

function restore(): void {
  try {
    nft('delete', 'table', 'inet', TABLE);
  } catch {
    // not there
  }
}
process.on('exit', restore);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    restore();
    process.exit(130);
  });
}

type Sample = { t: number; fullId: string; frames: number };
type W = {
  sdk: typeof import('../../dist/client/weever.js');
  samples: Sample[];
  states: { t: number; who: string; state: string; reason?: string }[];
  alice: import('../../dist/client/weever.js').WeeverClient;
  bob: import('../../dist/client/weever.js').WeeverClient;
};

/** alice publishes (fake camera + mic), bob subscribes; the page samples bob's decoded frames of alice every 100 ms. */
async function call(browser: Browser, server: ServerProcess, room: string): Promise<{ page: Page; posts: string[] }> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  const posts: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST') posts.push(new URL(r.url()).pathname);
  });
  // every RTCPeerConnection's state changes, numbered in creation order (diagnostics)
  await page.addInitScript(() => {
    const pcs: { t: number; pc: number; state: string }[] = [];
    Object.assign(window, { pcs });
    const Native = RTCPeerConnection;
    let n = 0;
    window.RTCPeerConnection = class extends Native {
      constructor(cfg?: RTCConfiguration) {
        super(cfg);
        const id = n++;
        this.addEventListener('connectionstatechange', () => pcs.push({ t: Date.now(), pc: id, state: this.connectionState }));
      }
    } as typeof RTCPeerConnection;
  });
  await page.goto(`${server.publicUrl}/`);
  await page.evaluate(async (room) => {
    const w = window as unknown as W;
    w.sdk = await import('/sdk/weever.js' as string);
    w.samples = [];
    w.states = [];
    w.alice = new w.sdk.WeeverClient({ room, id: 'alice' });
    w.bob = new w.sdk.WeeverClient({ room, id: 'bob' });
    for (const who of ['alice', 'bob'] as const) {
      w[who].on('connectionState', ({ state, reason }) => w.states.push({ t: Date.now(), who, state, ...(reason ? { reason } : {}) }));
    }
    await w.alice.publish({ audio: true, video: true });
    await w.bob.subscribe();
    setInterval(async () => {
      const s = (await w.bob.getStats()).find((x) => x.direction === 'inbound' && x.id === 'alice');
      if (s?.video?.frames !== undefined) w.samples.push({ t: Date.now(), fullId: s.fullId, frames: s.video.frames });
    }, 100);
  }, room);
  return { page, posts };
}

const samples = (page: Page) => page.evaluate(() => (window as unknown as W).samples);
const fullIds = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as W;
    return { alice: w.alice.fullIds.camera, bob: w.bob.fullIds.subscriber };
  });

/** First moment at or after `since` where bob's decoded frames of alice grow (per full id: a reconnect restarts the count). */
function firstProgress(all: Sample[], since: number): Sample | undefined {
  for (let i = 1; i < all.length; i++) {
    const [a, b] = [all[i - 1]!, all[i]!];
    if (b.t >= since && b.fullId === a.fullId && b.frames > a.frames) return b;
  }
  return undefined;
}

async function decoding(page: Page): Promise<void> {
  await waitFor('bob decodes alice', async () => {
    const s = await samples(page);
    return s.length > 5 && firstProgress(s, Date.now() - 1000) !== undefined;
  });
}

describe('path outages: every UDP datagram of the media port dropped for a while', () => {
  let server: ServerProcess;
  let browser: Browser;
  let udpPort: number;
  before(async () => {
    udpPort = await freePort('udp');
    server = await startServer(['--rtc-udp-port', String(udpPort)]);
    browser = await launchBrowser();
  });
  after(async () => {
    restore();
    await browser?.close();
    await server?.stop();
  });

  /** Blackholes the media port for `seconds`; returns when the path came back (ms epoch) and the page's first frame after. */
  async function outage(page: Page, seconds: number): Promise<{ down: number; up: number }> {
    await decoding(page);
    const down = Date.now();
    blackhole(udpPort);
    let up: number;
    try {
      // the outage really stops media
      await waitFor(
        'video stalls',
        async () => {
          const s = await samples(page);
          const last = s.at(-1);
          const tenBack = s.at(-10);
          return last && tenBack && last.t - tenBack.t > 500 && last.frames === tenBack.frames && last.fullId === tenBack.fullId;
        },
        5000,
      );
      await new Promise((r) => setTimeout(r, down + seconds * 1000 - Date.now()));
    } finally {
      restore();
      up = Date.now();
    }
    return { down, up };
  }

  for (const seconds of [3, 8, 10]) {
    it(`${seconds} s: the same sessions carry on, video decoded again within 1 s after the path is back`, async () => {
      const room = `outage-${seconds}`;
      const { page, posts } = await call(browser, server, room);
      try {
        await decoding(page);
        const before = await fullIds(page);
        const postsBefore = posts.length;
        const { up } = await outage(page, seconds);
        const back = await waitFor('video decoded again', async () => firstProgress(await samples(page), up), 10_000, 50);
        const afterMs = back.t - up;
        const states = await page.evaluate(() => (window as unknown as W).states);
        console.error(
          `outage ${seconds} s: video back ${afterMs} ms after the path returned (same session); states ${JSON.stringify(states.map((s) => `${s.who}:${s.state}`))}`,
        );
        assert.deepEqual(await fullIds(page), before, 'same full ids: no reconnect');
        assert.equal(posts.length, postsBefore, 'no new POST');
        assert.equal(back.fullId, before.alice);
        assert.deepEqual(await server.list('pub', room), [before.alice]);
        assert.deepEqual(await server.list('sub', room), [before.bob]);
        assert.ok(afterMs <= 1000, `video back ${afterMs} ms after the path returned (≤ 1000)`);
        await waitFor('both connected', async () =>
          page.evaluate(() => {
            const w = window as unknown as W;
            return w.alice.connectionState === 'connected' && w.bob.connectionState === 'connected';
          }),
        );
      } finally {
        await page.evaluate(async () => {
          const w = window as unknown as W;
          await Promise.all([w.alice.close(), w.bob.close()]);
        });
        await page.close();
      }
    });
  }

  it('20 s: the SDK reconnects by itself (new sessions, "reconnecting" meanwhile), video decoded again within 2 s after the path is back', async () => {
    const room = 'outage-20';
    const { page, posts } = await call(browser, server, room);
    // and the demo site, as a third participant: it shows "reconnecting…" meanwhile
    const demo = await joinDemo(browser, server, { room, name: 'carol' });
    const demoTexts = new Set<string>();
    const watchDemo = setInterval(() => {
      connText(demo).then(
        (t) => demoTexts.add(t),
        () => {},
      );
    }, 250);
    try {
      await waitPlaying(demo, 'alice');
      await decoding(page);
      const before = await fullIds(page);
      const { down, up } = await outage(page, 20);
      const back = await waitFor('video decoded again', async () => firstProgress(await samples(page), up), 15_000, 50);
      const afterMs = back.t - up;
      const states = await page.evaluate(() => (window as unknown as W).states);
      const now = await fullIds(page);
      console.error(
        `outage 20 s: video back ${afterMs} ms after the path returned (new sessions ${now.alice}, ${now.bob}; ${posts.length} POSTs in all); ` +
          `states ${JSON.stringify(states.map((s) => `${s.who}:${s.state}@${((s.t - down) / 1000).toFixed(1)}s${s.reason ? ` (${s.reason})` : ''}`))}`,
      );
      assert.notEqual(now.alice, before.alice, 'alice reconnected under a new full id');
      assert.notEqual(now.bob, before.bob, 'bob reconnected under a new full id');
      assert.equal(back.fullId, now.alice);
      for (const who of ['alice', 'bob']) {
        assert.ok(
          states.some((s) => s.who === who && s.state === 'reconnecting' && s.t < up),
          `${who} showed reconnecting during the outage`,
        );
      }
      assert.ok(afterMs <= 2000, `video back ${afterMs} ms after the path returned (≤ 2000)`);
      assert.ok(
        [...demoTexts].some((t) => t.startsWith('reconnecting')),
        `the demo showed reconnecting (${[...demoTexts].join(', ')})`,
      );
      await waitPlaying(demo, 'alice');
      assert.equal(await connText(demo), 'connected');
      await waitFor(
        'the old sessions are gone: alice and carol publish, bob and carol subscribe',
        async () => {
          const [pubs, subs] = [await server.list('pub', room), await server.list('sub', room)];
          return pubs.length === 2 && pubs.includes(now.alice!) && subs.length === 2 && subs.includes(now.bob!);
        },
        20_000,
        250,
      );
    } finally {
      clearInterval(watchDemo);
      await demo.close();
      await page.evaluate(async () => {
        const w = window as unknown as W;
        await Promise.all([w.alice.close(), w.bob.close()]);
      });
      await page.close();
    }
  });
});
