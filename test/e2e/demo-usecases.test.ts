import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinDemo, pageStats, tiles, waitPlaying } from './demo.js';
import { serverAndBrowser, waitFor } from './harness.js';

describe('demo site: audio chat, broadcasting, raw publisher and subscriber', () => {
  const ctx = serverAndBrowser();

  it('audio chat: no video anywhere, each page receives the other’s audio packets (getStats)', async () => {
    const room = 'audio-room';
    const a = await joinDemo(ctx.browser, ctx.server, { room, name: 'amy', mode: 'audio' });
    const b = await joinDemo(ctx.browser, ctx.server, { room, name: 'ben', mode: 'audio' });
    for (const [page, other] of [
      [a, 'ben'],
      [b, 'amy'],
    ] as const) {
      const first = await waitFor(`${other}'s audio reaches the page`, async () => {
        const s = (await pageStats(page)).find((x) => x.direction === 'inbound' && x.id === other);
        return s?.audio && s.audio.packets > 0 ? s.audio.packets : undefined;
      });
      await waitFor(`${other}'s audio keeps flowing`, async () => {
        const s = (await pageStats(page)).find((x) => x.direction === 'inbound' && x.id === other);
        return (s?.audio?.packets ?? 0) > first + 50;
      });
      const t = await tiles(page);
      assert.ok(
        t.some((x) => x.user === other && x.tag === 'audio'),
        `a name card plays ${other}'s audio`,
      );
      assert.equal(await page.locator('video').count(), 0, 'no video element at all');
      assert.ok(!(await pageStats(page)).some((s) => s.video), 'no video stream sent or received');
      assert.equal(await page.getByRole('button', { name: 'Share screen' }).isVisible(), false, 'no screen share in audio chat');
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('broadcasting: the viewer sees the broadcaster, the broadcaster receives nothing', async () => {
    const room = 'cast-room';
    const host = await joinDemo(ctx.browser, ctx.server, { room, name: 'host', mode: 'broadcast' });
    const viewer = await joinDemo(ctx.browser, ctx.server, { room, name: 'viewer', mode: 'watch' });
    await waitPlaying(viewer, 'host');
    assert.deepEqual(
      (await tiles(viewer)).map((t) => [t.user, t.local]),
      [['host', false]],
      'the viewer shows the broadcaster only, no preview of itself',
    );
    // the broadcaster has no subscriber connection: nothing can reach it
    const subs = await ctx.server.list('sub', room);
    assert.ok(subs.length === 1 && subs[0]!.startsWith('viewer+'), `only the viewer subscribes (${subs})`);
    assert.deepEqual(await ctx.server.list('pub', room).then((p) => p.map((x) => x.split('+')[0])), ['host']);
    assert.ok(!(await pageStats(host)).some((s) => s.direction === 'inbound'), 'the broadcaster receives no stream');
    assert.deepEqual(
      (await tiles(host)).map((t) => [t.user, t.local]),
      [['host', true]],
      'the broadcaster only shows its own preview',
    );
    // the viewer's page publishes nothing
    assert.ok(!(await pageStats(viewer)).some((s) => s.direction === 'outbound'));
    await host.getByRole('button', { name: 'Leave' }).click();
    await waitFor('broadcaster gone from the viewer', async () => (await tiles(viewer)).length === 0);
    await Promise.all([host.close(), viewer.close()]);
  });

  it('raw publisher and raw subscriber: full ids on the tiles, media flows', async () => {
    const room = 'raw-room';
    const pub = await joinDemo(ctx.browser, ctx.server, { room, name: 'cam1', mode: 'publish' });
    const sub = await joinDemo(ctx.browser, ctx.server, { room, name: 'monitor', mode: 'subscribe' });
    await waitPlaying(sub, 'cam1');
    const [pubFullId] = await ctx.server.list('pub', room);
    assert.ok(pubFullId?.startsWith('cam1+'));
    assert.deepEqual(
      (await tiles(sub)).map((t) => t.label),
      [pubFullId],
      'the raw subscriber labels the tile with the publisher’s full id',
    );
    await Promise.all([pub.close(), sub.close()]);
  });
});
