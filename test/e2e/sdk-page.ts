/**
 * The page the SDK tests start from: the server's own site (so `/sdk/weever.js` is same
 * origin), in Chromium (playwright) or Firefox ESR (puppeteer), with the page's errors
 * logged under the participant's name.
 */
import type { Page } from 'playwright-core';
import type { ServerProcess } from './harness.js';

export async function sitePage(browser: { newPage(): Promise<unknown> }, server: ServerProcess, id: string): Promise<Page> {
  // both libraries' pages have the calls used here (on, goto, evaluate, close); typed as playwright's
  const page = (await browser.newPage()) as Page;
  page.on('pageerror', (err) => console.error(`page error (${id}): ${err.message}`));
  await page.goto(`${server.publicUrl}/`);
  return page;
}
