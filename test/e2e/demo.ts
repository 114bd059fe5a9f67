/**
 * Page-side helpers for the demo site tests: join through the form, read the tiles
 * (frames actually painted by each <video>), read the SDK client the page runs.
 */
import type { Browser, Page } from 'playwright-core';
import { type ServerProcess, waitFor } from './harness.js';

export interface JoinOptions {
  room: string;
  name: string;
  mode?: 'conference' | 'audio' | 'broadcast' | 'watch' | 'publish' | 'subscribe';
  token?: string;
  viewport?: { width: number; height: number };
  /** wait for a successful join (default) or return as soon as the form was sent */
  expectJoined?: boolean;
}

export interface Tile {
  peer: string;
  user: string;
  kind: string;
  local: boolean;
  tag: string | null;
  label: string;
}

/** Opens the demo, fills the form and clicks Join, like a person would. */
export async function joinDemo(browser: Browser, server: ServerProcess, o: JoinOptions): Promise<Page> {
  const page = await browser.newPage(o.viewport ? { viewport: o.viewport } : {});
  page.on('pageerror', (err) => console.error(`[${o.name}] page error: ${err.message}`));
  await page.goto(`${server.publicUrl}/`);
  await joinIn(page, o);
  return page;
}

export async function joinIn(page: Page, o: JoinOptions): Promise<void> {
  await page.getByLabel('Use case', { exact: true }).selectOption(o.mode ?? 'conference');
  await page.getByLabel('Room', { exact: true }).fill(o.room);
  await page.getByLabel('Name', { exact: true }).fill(o.name);
  await page.getByLabel('Token', { exact: true }).fill(o.token ?? '');
  await page.getByRole('button', { name: 'Join' }).click();
  if (o.expectJoined === false) return;
  await waitFor(`${o.name} joined`, async () => {
    const status = (await page.getByRole('status').first().textContent()) ?? '';
    if (/could not join/.test(status)) throw new Error(status);
    return status.startsWith('in room');
  });
}

export function tiles(page: Page): Promise<Tile[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('#grid figure')].map((f) => ({
      peer: f.dataset.peer ?? '',
      user: f.dataset.user ?? '',
      kind: f.dataset.kind ?? '',
      local: f.dataset.local === 'true',
      tag: f.querySelector('video, audio')?.localName ?? null,
      label: f.querySelector('.name')?.textContent ?? '',
    })),
  );
}

/** Frames painted so far by the remote tile of `user` (`kind` camera or screen): 0 when there is none. */
export function tileFrames(page: Page, user: string, kind = 'camera'): Promise<number> {
  return page.evaluate(
    ({ user, kind }) => {
      const fig = [...document.querySelectorAll<HTMLElement>('#grid figure')].find(
        (f) => f.dataset.user === user && f.dataset.kind === kind && f.dataset.local !== 'true',
      );
      const video = fig?.querySelector('video');
      return video ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
    },
    { user, kind },
  );
}

/** Waits until the remote tile of `user` paints frames, and keeps painting (`more` new frames). */
export async function waitPlaying(page: Page, user: string, kind = 'camera', more = 15, ms = 20_000): Promise<void> {
  const start = await waitFor(`${user}'s ${kind} tile shows frames`, async () => (await tileFrames(page, user, kind)) || undefined, ms);
  await waitFor(`${user}'s ${kind} tile keeps playing`, async () => (await tileFrames(page, user, kind)) >= start + more, ms);
}

export interface PageStat {
  fullId: string;
  id: string;
  kind: string;
  direction: string;
  audio?: { packets: number; audioLevel?: number };
  video?: { packets: number; frames?: number };
  quality: string;
}

/** The SDK's per-stream stats summary, from the page's client. */
export function pageStats(page: Page): Promise<PageStat[]> {
  return page.evaluate(async () => {
    const d = (window as unknown as { demo: { client: { getStats(): Promise<unknown[]> } | null } }).demo;
    return JSON.parse(JSON.stringify((await d.client?.getStats()) ?? []));
  });
}

export async function connText(page: Page): Promise<string> {
  return (await page.locator('#conn').textContent()) ?? '';
}
