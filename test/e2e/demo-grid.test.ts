/**
 * The demo as a product (issue 23 item 6): device choice before joining, and a room of 12
 * on a laptop screen — 11 participants publishing from SDK pages (Chromium's fake camera at
 * 320×180, no simulcast: 11 encoders on a 2-core machine), one of them with the mic muted,
 * and the demo page of the twelfth with the chat open. Its screenshot goes to
 * test-results/demo-12-participants.png, and to docs/ with UPDATE_SCREENSHOTS=1. In a
 * small window the grid is paged: a tile on another page receives no video until shown.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { joinIn, tileFrames, tiles } from './demo.js';
import { serverAndBrowser, waitFor } from './harness.js';

type Client = import('../../dist/client/weever.js').WeeverClient;

describe('demo site: device choice and a room of 12', () => {
  const ctx = serverAndBrowser();

  it('lists the cameras and microphones before joining; the chosen microphone is the one published', async () => {
    const page = await ctx.browser.newPage();
    await page.goto(`${ctx.server.publicUrl}/`);
    const options = async (label: string) =>
      page
        .getByLabel(label, { exact: true })
        .evaluate((s: HTMLSelectElement) => [...s.options].map((o) => ({ value: o.value, text: o.text })));
    const mics = await waitFor('microphones listed', async () => {
      const o = await options('Microphone device');
      return o.length > 1 ? o : null;
    });
    const cams = await options('Camera device');
    console.error(`cameras: ${JSON.stringify(cams)}; microphones: ${JSON.stringify(mics)}`);
    assert.equal(mics[0]!.text, 'Default');
    assert.ok(cams.length > 1, 'the fake camera is listed');
    const chosen = mics.at(-1)!;
    await page.getByLabel('Microphone device', { exact: true }).selectOption(chosen.value);
    await joinIn(page, { room: 'devices', name: 'dee' });
    const used = await page.evaluate(() => {
      const c = (window as unknown as { demo: { client: Client } }).demo.client;
      return c.localStream?.getAudioTracks()[0]?.getSettings().deviceId;
    });
    assert.equal(used, chosen.value, `the published microphone is ${chosen.text}`);
    await page.getByRole('button', { name: 'Leave' }).click();
    await page.close();
  });

  it('12 participants on a 1366×768 screen: every remote tile plays, one shows its mic off, the chat is open, nothing scrolls', async () => {
    await mkdir('test-results', { recursive: true });
    const room = 'twelve';
    const names = ['ann', 'bob', 'cai', 'dev', 'eli', 'fay', 'gus', 'hal', 'ivy', 'jon', 'kim'];
    const pages: Page[] = [];
    try {
      for (const [i, name] of names.entries()) {
        const p = await ctx.browser.newPage();
        pages.push(p);
        await p.goto(`${ctx.server.publicUrl}/`);
        await p.evaluate(
          async ({ room, name, muted }) => {
            const sdk = await import('/sdk/weever.js' as string);
            const c = new sdk.WeeverClient({ room, id: name, simulcast: false });
            (window as unknown as { c: Client }).c = c;
            await c.publish({ audio: true, video: { width: 320, height: 180, frameRate: 15 } });
            if (muted) c.setMuted('audio', true);
          },
          { room, name, muted: i === 3 },
        );
      }
      const me = await ctx.browser.newPage({ viewport: { width: 1366, height: 768 } });
      pages.push(me);
      await me.goto(`${ctx.server.publicUrl}/`);
      await joinIn(me, { room, name: 'zoe' });
      await waitFor('11 remote tiles and our own', async () => (await tiles(me)).length === 12, 30_000);
      for (const name of names) await waitFor(`${name} plays`, async () => (await tileFrames(me, name)) > 10, 30_000);
      await waitFor('dev shows the mic off', () =>
        me.evaluate(() => document.querySelector('figure[data-user="dev"]:not([data-local])')?.hasAttribute('data-muted-audio') === true),
      );
      await me.getByLabel('Message', { exact: true }).fill('hello everyone');
      await me.getByRole('button', { name: 'Send' }).click();
      await waitFor('the chat shows it', async () =>
        ((await me.getByLabel('Chat messages').textContent()) ?? '').includes('hello everyone'),
      );
      const layout = await me.evaluate(() => ({
        chatVisible: (document.getElementById('side')?.getBoundingClientRect().width ?? 0) > 0,
        scrollsX: document.documentElement.scrollWidth > window.innerWidth,
        scrollsY: document.documentElement.scrollHeight > window.innerHeight,
        smallest: Math.min(...[...document.querySelectorAll<HTMLElement>('#grid figure')].map((f) => f.getBoundingClientRect().width)),
      }));
      console.error(`12 tiles at 1366×768: ${JSON.stringify(layout)}`);
      assert.ok(layout.chatVisible, 'the chat panel is open beside the grid');
      assert.ok(!layout.scrollsX && !layout.scrollsY, 'all 12 tiles fit the window');
      assert.ok(layout.smallest >= 160, 'tiles stay readable');
      await me.screenshot({ path: 'test-results/demo-12-participants.png' });
      if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile('test-results/demo-12-participants.png', 'docs/demo-12-participants.png');

      // A small window: the grid is paged; the tiles of other pages are hidden, and the
      // server sends none of their video (one-stream cameras: adaptive stream pauses them).
      await me.setViewportSize({ width: 800, height: 500 });
      const grid = () =>
        me.evaluate(() => ({
          label: document.getElementById('page-label')?.textContent ?? '',
          pager: !(document.getElementById('pager') as HTMLElement).hidden,
          shown: [...document.querySelectorAll<HTMLElement>('#grid figure:not([hidden])')].map((f) => f.dataset.user ?? ''),
          hidden: [...document.querySelectorAll<HTMLElement>('#grid figure[hidden]')]
            .filter((f) => f.dataset.local !== 'true')
            .map((f) => f.dataset.user ?? ''),
          smallest: Math.min(
            ...[...document.querySelectorAll<HTMLElement>('#grid figure:not([hidden])')].map((f) => f.getBoundingClientRect().width),
          ),
        }));
      const paged = await waitFor('the grid is paged', async () => {
        const g = await grid();
        return g.pager && g.hidden.length > 0 ? g : null;
      });
      console.error(`800×500: ${JSON.stringify(paged)}`);
      assert.ok(paged.smallest >= 200, 'the tiles shown keep their minimum width');
      const videoPackets = (user: string) =>
        me.evaluate(async (user) => {
          const c = (window as unknown as { demo: { client: Client } }).demo.client;
          const st = await c.getStats();
          return st.find((x) => x.direction === 'inbound' && x.id === user && x.kind === 'camera')?.video?.packets ?? 0;
        }, user);
      const off = paged.hidden[0]!;
      await new Promise((r) => setTimeout(r, 1000));
      const before = await videoPackets(off);
      await new Promise((r) => setTimeout(r, 2000));
      const later = await videoPackets(off);
      console.error(`${off} on another page: video packets 1 s and 3 s after paging ${before} / ${later}`);
      assert.equal(later, before, `${off}'s video is not received while its tile is on another page`);
      // to the page that has it
      for (let i = 0; i < 12 && !(await grid()).shown.includes(off); i++) {
        const label = (await grid()).label;
        await me.getByRole('button', { name: 'Next page' }).click();
        await waitFor('the next page', async () => (await grid()).label !== label);
      }
      assert.ok((await grid()).shown.includes(off), `${off} is on a later page`);
      const frames0 = await tileFrames(me, off);
      await waitFor(`${off} plays on its page`, async () => (await tileFrames(me, off)) > frames0 + 5, 10_000);
    } finally {
      for (const p of pages) await p.close().catch(() => {});
    }
  });
});
