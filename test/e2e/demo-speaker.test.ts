/**
 * The demo site's active speaker and grid (--debug): ann's page sends a tone as her
 * microphone (an AudioContext oscillator in place of the fake mic), bob joins with his mic
 * muted. Bob's page highlights ann's tile, ann's page her own preview; the grid fills the
 * window beside the people and chat panel at 1280×720 and at a phone's width. The screenshot of bob's page goes to
 * test-results/demo-active-speaker.png, and to docs/ with UPDATE_SCREENSHOTS=1.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { joinIn, waitPlaying } from './demo.js';
import { serverAndBrowser, waitFor } from './harness.js';

/** In the page before its scripts: getUserMedia's audio is a steady 440 Hz tone. */
function toneMicrophone(): void {
  const md = navigator.mediaDevices;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints?: MediaStreamConstraints) => {
    const stream = await original({ ...constraints, audio: false });
    if (constraints?.audio) {
      const ctx = new AudioContext();
      await ctx.resume();
      const osc = ctx.createOscillator();
      osc.frequency.value = 440;
      const gain = ctx.createGain();
      gain.gain.value = 0.3;
      const dest = ctx.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      for (const t of dest.stream.getAudioTracks()) stream.addTrack(t);
    }
    return stream;
  };
}

/** The grid's tiles: position and size, and whether the page scrolls. */
function layout(page: Page) {
  return page.evaluate(() => {
    const tiles = [...document.querySelectorAll<HTMLElement>('#grid figure')].map((f) => {
      const r = f.getBoundingClientRect();
      return { peer: f.dataset.peer ?? '', x: r.x, y: r.y, width: r.width, height: r.height, speaking: f.dataset.speaking ?? null };
    });
    const grid = document.querySelector<HTMLElement>('#grid')!.getBoundingClientRect();
    return {
      tiles,
      gridWidth: grid.width,
      viewport: { width: window.innerWidth, height: window.innerHeight },
      scrollsX: document.documentElement.scrollWidth > window.innerWidth,
      scrollsY: document.documentElement.scrollHeight > window.innerHeight,
    };
  });
}

describe('demo site: active speaker and a grid that fills the window', () => {
  const ctx = serverAndBrowser();

  it('highlights who speaks (others’ tile and one’s own preview); 2 tiles side by side at 1280×720, stacked on a phone', async () => {
    await mkdir('test-results', { recursive: true });
    const room = 'speaker-room';
    const viewport = { width: 1280, height: 720 };
    const ann = await ctx.browser.newPage({ viewport });
    await ann.addInitScript(toneMicrophone);
    await ann.goto(`${ctx.server.publicUrl}/`);
    await joinIn(ann, { room, name: 'ann' });
    const bob = await ctx.browser.newPage({ viewport });
    await bob.goto(`${ctx.server.publicUrl}/`);
    await joinIn(bob, { room, name: 'bob' });
    await bob.getByRole('button', { name: 'Mute mic' }).click();
    await waitPlaying(bob, 'ann');
    await waitPlaying(ann, 'bob');

    await waitFor('ann highlighted on bob’s page', () =>
      bob.evaluate(() => document.querySelector('figure[data-user="ann"]:not([data-local])')?.getAttribute('data-speaking') === 'top'),
    );
    await waitFor('ann’s own preview highlighted on her page', () =>
      ann.evaluate(() => document.querySelector('figure[data-peer="local-camera"]')?.getAttribute('data-speaking') === 'top'),
    );
    const wide = await layout(bob);
    console.log(
      `1280×720: ${wide.tiles.map((t) => `${t.peer.split('+')[0]} ${Math.round(t.width)}×${Math.round(t.height)} at ${Math.round(t.x)},${Math.round(t.y)}`).join('; ')}`,
    );
    assert.equal(wide.tiles.length, 2);
    assert.ok(!wide.tiles.some((t) => t.speaking && t.peer === 'local-camera'), 'bob (muted) is not highlighted');
    assert.equal(wide.tiles[0]!.y, wide.tiles[1]!.y, 'side by side');
    // the people and chat panel sits beside the grid at this width; the grid keeps the rest
    assert.ok(wide.gridWidth > 0.7 * viewport.width, `the grid takes most of the window (${wide.gridWidth} px)`);
    for (const t of wide.tiles) {
      assert.ok(t.width > 0.45 * wide.gridWidth, `a tile takes about half the grid (${t.width} of ${wide.gridWidth} px)`);
      assert.ok(t.y + t.height <= viewport.height + 1, 'and fits the window’s height');
    }
    assert.ok(!wide.scrollsX && !wide.scrollsY, 'no scrolling');
    await bob.screenshot({ path: 'test-results/demo-active-speaker.png' });
    if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile('test-results/demo-active-speaker.png', 'docs/demo-active-speaker.png');

    // A phone held upright: one column, tiles as wide as the screen.
    await bob.setViewportSize({ width: 390, height: 844 });
    await waitFor('one column', async () => {
      const l = await layout(bob);
      return l.tiles.length === 2 && l.tiles[0]!.x === l.tiles[1]!.x && l.tiles[1]!.y > l.tiles[0]!.y;
    });
    const narrow = await layout(bob);
    console.log(`390×844: ${narrow.tiles.map((t) => `${t.peer.split('+')[0]} ${Math.round(t.width)}×${Math.round(t.height)}`).join('; ')}`);
    for (const t of narrow.tiles) assert.ok(t.width >= 390 - 40, `a tile takes the width (${t.width} px)`);
    assert.ok(!narrow.scrollsX, 'no horizontal scrolling');
    // And a wide, short window: still side by side, sized by the height.
    await bob.setViewportSize({ width: 1600, height: 600 });
    await waitFor('side by side in a short window', async () => {
      const l = await layout(bob);
      return l.tiles.length === 2 && l.tiles[0]!.y === l.tiles[1]!.y && l.tiles.every((t) => t.y + t.height <= 601);
    });

    await bob.getByRole('button', { name: 'Leave' }).click();
    await ann.getByRole('button', { name: 'Leave' }).click();
    await waitFor(
      'room empty',
      async () => (await ctx.server.list('pub', room)).length === 0 && (await ctx.server.list('sub', room)).length === 0,
    );
    await Promise.all([ann.close(), bob.close()]);
  });
});
