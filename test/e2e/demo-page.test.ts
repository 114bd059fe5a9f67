import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { serverAndBrowser, waitFor } from './harness.js';

/** Frames painted so far by the tile of `who`, read from the page itself. */
async function tileFrames(page: Page, who: string): Promise<number> {
  return page.evaluate((who) => {
    const fig = [...document.querySelectorAll('figure')].find((f) => f.dataset.peer?.startsWith(`${who}+`));
    const video = fig?.querySelector('video');
    return video ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
  }, who);
}

describe('the demo page at / (--debug)', () => {
  const ctx = serverAndBrowser();

  it('two tabs joining the same room through the form see each other, and not themselves as remote', async () => {
    const tabs: Page[] = [];
    for (const name of ['tab-a', 'tab-b']) {
      const page = await ctx.browser.newPage();
      await page.goto(`${ctx.server.publicUrl}/?room=demo-room`);
      await page.getByLabel('Name').fill(name);
      await page.getByRole('button', { name: 'Join' }).click();
      await waitFor(`${name} joined`, async () => {
        const status = (await page.getByRole('status').textContent()) ?? '';
        if (/could not join/.test(status)) throw new Error(status);
        return page.getByRole('button', { name: 'Leave' }).isEnabled();
      });
      tabs.push(page);
    }
    const [a, b] = tabs as [Page, Page];
    await waitFor('tab-a plays tab-b', async () => (await tileFrames(a, 'tab-b')) > 20);
    await waitFor('tab-b plays tab-a', async () => (await tileFrames(b, 'tab-a')) > 20);
    const remoteTiles = (p: Page) => p.evaluate(() => [...document.querySelectorAll('figure')].map((f) => f.dataset.peer));
    assert.deepEqual(
      (await remoteTiles(a)).filter((x) => x?.startsWith('tab-a+')),
      [],
      'no remote tile of itself',
    );
    await a.screenshot({ path: 'test-results/demo-conference.png' });
    await b.getByRole('button', { name: 'Leave' }).click();
    await waitFor('tab-b tile gone from tab-a', async () => !(await remoteTiles(a)).some((x) => x?.startsWith('tab-b+')));
    await a.getByRole('button', { name: 'Leave' }).click();
    await Promise.all(tabs.map((t) => t.close()));
  });
});
