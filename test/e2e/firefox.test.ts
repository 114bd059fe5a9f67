/**
 * Firefox ESR (headless, driven over WebDriver BiDi by puppeteer-core) against the server,
 * beside Chromium: a control-channel subscriber in Firefox failed at the first server
 * offer ("Incompatible roles with remote description": our offers said `actpass`, Firefox
 * answered `active`, contradicting the role we had taken) and so never got media.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import puppeteer, { type Browser as FirefoxBrowser } from 'puppeteer-core';
import {
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

const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

async function launchFirefox(): Promise<FirefoxBrowser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      // plain host candidates, as the server cannot resolve mDNS names
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
}

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
});
