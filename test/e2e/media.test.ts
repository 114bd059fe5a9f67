import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  launchBrowser,
  mediaOf,
  openPage,
  publishFrom,
  type ServerProcess,
  startServer,
  subscribeFrom,
  subView,
  waitFor,
} from './harness.js';

describe('media flows through one instance', () => {
  let server: ServerProcess;
  let browser: Browser;
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('1 publisher → 2 subscribers: both decode video and receive audio, msid = publisher full id', async () => {
    const room = 'fanout';
    const pubPage = await openPage(browser, server);
    const pubId = await publishFrom(pubPage, room, 'alice');
    const subPages = [await openPage(browser, server), await openPage(browser, server)];
    await Promise.all(subPages.map((p, i) => subscribeFrom(p, room, `viewer${i}`)));
    for (const page of subPages) {
      const view = await waitFor('video frames and audio packets', async () => {
        const v = await subView(page);
        const m = mediaOf(v);
        return m.videoFrames > 30 && m.audioPackets > 50 ? v : undefined;
      });
      assert.deepEqual(Object.keys(view.streams), [pubId]);
      assert.deepEqual(view.streams[pubId]!.sort(), ['audio0', 'video0']);
      assert.deepEqual(view.state.joins, [pubId]);
      assert.deepEqual(view.state.errors, []);
    }
    assert.deepEqual(await server.list('pub', room), [pubId]);
    assert.equal((await server.list('sub', room)).length, 2);
    await Promise.all([pubPage, ...subPages].map((p) => p.close()));
  });
});
