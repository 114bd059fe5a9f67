import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mediaOf, openPage, publishFrom, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';

describe('media flows through one instance', () => {
  const ctx = serverAndBrowser();

  it('1 publisher → 2 subscribers: both decode video and receive audio, msid = publisher full id', async () => {
    const room = 'fanout';
    const pubPage = await openPage(ctx.browser, ctx.server);
    const pubId = await publishFrom(pubPage, room, 'alice');
    const subPages = [await openPage(ctx.browser, ctx.server), await openPage(ctx.browser, ctx.server)];
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
    assert.deepEqual(await ctx.server.list('pub', room), [pubId]);
    assert.equal((await ctx.server.list('sub', room)).length, 2);
    await Promise.all([pubPage, ...subPages].map((p) => p.close()));
  });
});
