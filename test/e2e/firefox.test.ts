/**
 * Firefox ESR (headless, driven over WebDriver BiDi by puppeteer-core) against the server,
 * beside Chromium: a control-channel subscriber in Firefox failed at the first server
 * offer ("Incompatible roles with remote description": our offers said `actpass`, Firefox
 * answered `active`, contradicting the role we had taken) and so never got media.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { joinDemo, pageStats, tiles, waitPlaying } from './demo.js';
import { launchFirefox } from './firefox.js';
import {
  callIn,
  leaveAndClose,
  mediaOf,
  openPage,
  pageClient,
  publishFrom,
  serverAndBrowser,
  subscribeFrom,
  subView,
  waitEmpty,
  waitFor,
} from './harness.js';
import { playerView, stopPlayer, whepPlay } from './whep-player.js';

describe('Firefox ESR with the server', () => {
  const ctx = serverAndBrowser();
  let firefox: FirefoxBrowser;
  before(async () => {
    firefox = await launchFirefox();
  });
  after(async () => {
    await firefox?.close();
  });

  /** A Firefox page on the server's origin with the tests' page client; typed as the harness's pages (it only evaluates). */
  async function firefoxPage(): Promise<Page> {
    const page = await firefox.newPage();
    await page.goto(`${ctx.server.publicUrl}/`);
    await page.evaluate(pageClient);
    return page as unknown as Page;
  }

  async function decodes(page: Page, who: string): Promise<number> {
    const view = await waitFor(`video decoded by ${who}`, async () => {
      const v = await subView(page);
      return mediaOf(v).videoFrames > 20 ? v : undefined;
    });
    assert.deepEqual(view.state.errors, [], `${who}: no ERROR from the server`);
    return mediaOf(view).videoFrames;
  }

  it('a Firefox control-channel subscriber decodes a Chromium publisher’s video', async () => {
    const pub = await openPage(ctx.browser, ctx.server);
    await publishFrom(pub, 'ff-sub', 'alice');
    const sub = await firefoxPage();
    await subscribeFrom(sub, 'ff-sub', 'bob');
    console.error(`Firefox subscriber: ${await decodes(sub, 'Firefox')} frames`);
    await Promise.all([pub, sub].map(leaveAndClose));
    await waitEmpty(ctx.server);
  });

  it('a Firefox publisher reaches a Chromium subscriber, and Firefox ↔ Firefox', async () => {
    const ffPub = await firefoxPage();
    await publishFrom(ffPub, 'ff-pub', 'carol');
    const chromeSub = await openPage(ctx.browser, ctx.server);
    await subscribeFrom(chromeSub, 'ff-pub', 'dave');
    const ffSub = await firefoxPage();
    await subscribeFrom(ffSub, 'ff-pub', 'erin');
    console.error(
      `Chromium subscriber: ${await decodes(chromeSub, 'Chromium')} frames; Firefox subscriber: ${await decodes(ffSub, 'Firefox')}`,
    );
    await Promise.all([ffPub, chromeSub, ffSub].map(leaveAndClose));
    await waitEmpty(ctx.server);
  });

  it('four publishers at once, answers held (coalesced offers), then one leaves (PUB_LEFT): a Firefox subscriber follows', async () => {
    const sub = await firefoxPage();
    await subscribeFrom(sub, 'ff-room', 'viewer', { holdAnswers: true });
    const pubs = await Promise.all([0, 1, 2, 3].map(() => openPage(ctx.browser, ctx.server)));
    const ids = await Promise.all(pubs.map((p, i) => publishFrom(p, 'ff-room', `p${i}`)));
    await waitFor('all four announced', async () => (await ctx.server.list('pub', 'ff-room')).length === 4);
    await callIn(sub, 'sub', 'release');
    const v = await waitFor('all four decoding in Firefox', async () => {
      const v = await subView(sub);
      return ids.every((id) => v.streams[id]?.length === 2) && mediaOf(v).videoFrames > 60 ? v : undefined;
    });
    assert.deepEqual([...v.state.joins].sort(), [...ids].sort(), 'each PUB_JOIN once');
    assert.deepEqual(v.state.errors, []);
    await leaveAndClose(pubs[0]!);
    await waitFor('PUB_LEFT in Firefox and the track gone', async () => {
      const w = await subView(sub);
      return w.state.lefts.includes(ids[0]!) && w.streams[ids[0]!] === undefined ? w : undefined;
    });
    console.error(`Firefox subscriber offers: ${(await subView(sub)).state.offers}`);
    await Promise.all([sub, ...pubs.slice(1)].map(leaveAndClose));
    await waitEmpty(ctx.server);
  });

  it('a WHEP player in Firefox decodes the publisher', async () => {
    const pub = await openPage(ctx.browser, ctx.server);
    await publishFrom(pub, 'ff-whep', 'alice');
    const player = await firefoxPage();
    const r = await whepPlay(player, `${ctx.server.publicUrl}/whep/ff-whep/alice`);
    assert.equal(r.status, 201);
    await waitFor('Firefox WHEP player decoding', async () => (await playerView(player)).videoFrames > 20);
    assert.equal(await stopPlayer(player), 200);
    await Promise.all([pub, player].map(leaveAndClose));
    await waitEmpty(ctx.server);
  });

  it('the demo’s two-tab call: a Firefox tab and a Chromium tab see each other', async () => {
    const ff = await firefox.newPage();
    await ff.goto(`${ctx.server.publicUrl}/`);
    await ff.evaluate(() => {
      const set = (id: string, v: string) => {
        (document.getElementById(id) as HTMLInputElement | HTMLSelectElement).value = v;
      };
      set('mode', 'conference');
      set('room', 'ff-demo');
      set('name', 'fox');
      set('token', '');
    });
    await ff.click('#go');
    await waitFor('fox joined', async () =>
      ((await ff.evaluate(() => document.querySelector('[role=status]')?.textContent ?? '')) || '').startsWith('in room'),
    );
    const chrome = await joinDemo(ctx.browser, ctx.server, { room: 'ff-demo', name: 'chrome' });
    // Headless Firefox composites no video, so its <video> paints nothing (getVideoPlaybackQuality
    // stays 0): the Firefox tab is checked by the tile the demo shows and the frames it decodes.
    await waitFor('the Firefox tab shows a tile of chrome and decodes its video', async () => {
      const tile = (await tiles(ff as unknown as Page)).some((t) => t.user === 'chrome' && !t.local && t.tag === 'video');
      const inbound = (await pageStats(ff as unknown as Page)).find((x) => x.id === 'chrome' && x.direction === 'inbound');
      return tile && (inbound?.video?.frames ?? 0) > 30;
    });
    await waitPlaying(chrome, 'fox');
    await Promise.all([ff.close(), chrome.close()]);
    await waitEmpty(ctx.server);
  });
});
