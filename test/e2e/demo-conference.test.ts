import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { joinDemo, joinIn, tileFrames, tiles, waitPlaying } from './demo.js';
import { serverAndBrowser, waitFor } from './harness.js';

describe('demo site: video conference (--debug)', () => {
  const ctx = serverAndBrowser();

  it('two tabs join through the form, each plays the other and never itself; screen share on/off; leave and closing the tab remove the tile', async () => {
    await mkdir('test-results', { recursive: true });
    const room = 'conf-room';
    const a = await joinDemo(ctx.browser, ctx.server, { room, name: 'ann' });
    const b = await joinDemo(ctx.browser, ctx.server, { room, name: 'bob' });
    await waitPlaying(a, 'bob');
    await waitPlaying(b, 'ann');
    for (const [page, me] of [
      [a, 'ann'],
      [b, 'bob'],
    ] as [Page, string][]) {
      const t = await tiles(page);
      assert.deepEqual(
        t.filter((x) => x.user === me && !x.local),
        [],
        `${me} has no remote tile of itself`,
      );
      assert.equal(t.filter((x) => x.local && x.kind === 'camera').length, 1, `${me} sees its own preview once`);
      assert.equal(t.filter((x) => !x.local).length, 1, `${me} sees exactly one remote tile`);
    }
    // quality hint per tile, from getStats
    await waitFor('quality hint on bob’s tile', () =>
      a.evaluate(() =>
        /good|fair|poor/.test(document.querySelector('figure[data-user="bob"]:not([data-local]) .quality')?.textContent ?? ''),
      ),
    );
    await waitFor('join notification', async () =>
      (await a.getByRole('list', { name: 'Notifications' }).textContent())?.includes('bob joined'),
    );

    // mic and camera toggles: muted for everyone (the server forwards nothing and says so), no renegotiation
    await a.getByRole('button', { name: 'Mute mic' }).click();
    await a.getByRole('button', { name: 'Camera off' }).click();
    const muted = () =>
      a.evaluate(() => {
        const c = (window as unknown as { demo: { client: { isMuted(k: string): boolean } } }).demo.client;
        return [c.isMuted('audio'), c.isMuted('video')];
      });
    assert.deepEqual(await muted(), [true, true]);
    const annTile = b.locator('figure.tile[data-user="ann"]:not([data-local])');
    await waitFor(
      'ann shows muted on bob’s page',
      async () =>
        (await annTile.getAttribute('data-muted-audio')) === 'true' && (await annTile.getAttribute('data-muted-video')) === 'true',
      5000,
    );
    await a.getByRole('button', { name: 'Unmute mic' }).click();
    await a.getByRole('button', { name: 'Camera on' }).click();
    assert.deepEqual(await muted(), [false, false]);
    await waitFor('ann unmuted on bob’s page', async () => (await annTile.getAttribute('data-muted-video')) === null, 5000);
    await waitPlaying(b, 'ann', 'camera', 5); // video again after the unmute

    // screen share: a second tile appears on the other page, plays, then goes away
    await b.getByRole('button', { name: 'Share screen' }).click();
    await waitPlaying(a, 'bob', 'screen');
    assert.equal((await tiles(b)).filter((x) => x.kind === 'screen' && !x.local).length, 0, 'bob does not receive his own screen');
    await a.screenshot({ path: 'test-results/demo-conference.png' });
    await b.getByRole('button', { name: 'Stop sharing' }).click();
    await waitFor('bob’s screen tile gone from ann', async () => (await tiles(a)).every((x) => x.kind !== 'screen'));
    assert.ok((await tileFrames(a, 'bob')) > 0, 'bob’s camera tile stays');

    // leave: the other page's tile goes away
    await b.getByRole('button', { name: 'Leave' }).click();
    await waitFor('bob’s tile gone from ann', async () => (await tiles(a)).every((x) => x.user !== 'bob'));
    await waitFor('bob’s peers gone from the room', async () =>
      [...(await ctx.server.list('pub', room)), ...(await ctx.server.list('sub', room))].every((x) => x.startsWith('ann+')),
    );

    // join again, then close the tab: the tile goes away too
    await joinIn(b, { room, name: 'bob' });
    await waitPlaying(a, 'bob');
    await b.close();
    await waitFor('bob’s tile gone after closing the tab', async () => (await tiles(a)).every((x) => x.user !== 'bob'), 20_000);
    await a.getByRole('button', { name: 'Leave' }).click();
    await waitFor(
      'room empty',
      async () => (await ctx.server.list('pub', room)).length === 0 && (await ctx.server.list('sub', room)).length === 0,
    );
    await a.close();
  });

  it('works on a phone-sized viewport: no horizontal scrolling, controls reachable', async () => {
    const phone = { width: 390, height: 844 };
    const a = await joinDemo(ctx.browser, ctx.server, { room: 'phone-room', name: 'pia', viewport: phone });
    const b = await joinDemo(ctx.browser, ctx.server, { room: 'phone-room', name: 'pat' });
    await waitPlaying(a, 'pat');
    const fits = await a.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(fits, 'the page fits the phone width');
    for (const name of ['Camera off', 'Mute mic', 'Share screen', 'Leave']) {
      const box = await a.getByRole('button', { name }).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= phone.width, `${name} is within the screen`);
    }
    await a.screenshot({ path: 'test-results/demo-phone.png' });
    await Promise.all([a.close(), b.close()]);
  });
});
