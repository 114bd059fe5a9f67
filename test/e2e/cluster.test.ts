/**
 * Several instances as one service (docs/protocol.md, "Several instances: Redis and
 * NATS"): real redis-server, a real 3-node nats-server cluster, three server processes,
 * Chromium publishers and subscribers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { callIn, launchBrowser, mediaOf, openPage, publishFrom, subscribeFrom, subView, waitFor } from './harness.js';
import { type Cluster, startCluster } from './services.js';

async function waitMedia(page: Page, streams: number, what: string) {
  return waitFor(what, async () => {
    const v = await subView(page);
    const m = mediaOf(v);
    return Object.keys(v.streams).length === streams && m.videoFrames > 30 * streams && m.audioPackets > 50 * streams ? v : undefined;
  });
}

describe('three instances share rooms through Redis and NATS', () => {
  let cluster: Cluster;
  let browser: Browser;
  before(async () => {
    cluster = await startCluster(3);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('publisher on A, subscribers on A, B and C: all decode it, lists agree, only B and C use NATS', async () => {
    const [a, b, c] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0], Cluster['servers'][0]];
    const room = 'across';
    const pubPage = await openPage(browser, a);
    const pubId = await publishFrom(pubPage, room, 'alice');
    const subPages = [await openPage(browser, a), await openPage(browser, b), await openPage(browser, c)];
    const subIds = await Promise.all(subPages.map((p, i) => subscribeFrom(p, room, `viewer${i}`)));
    // alice also watches, from B: she must not receive her own media
    const ownPage = await openPage(browser, b);
    await subscribeFrom(ownPage, room, 'alice');
    for (const page of subPages) {
      const view = await waitMedia(page, 1, 'video frames and audio packets of alice');
      assert.deepEqual(Object.keys(view.streams), [pubId]);
      assert.deepEqual(view.streams[pubId]!.sort(), ['audio0', 'video0']);
      assert.deepEqual(view.state.joins, [pubId]);
      assert.deepEqual(view.state.errors, []);
    }
    const own = await subView(ownPage);
    assert.deepEqual(own.state.joins, []);
    assert.deepEqual(own.streams, {});

    const lists = await Promise.all(cluster.servers.map(async (s) => [await s.list('pub', room), (await s.list('sub', room)).sort()]));
    for (const l of lists) assert.deepEqual(l, lists[0]);
    assert.deepEqual(lists[0]![0], [pubId]);
    assert.equal(lists[0]![1]!.length, 4);
    for (const id of subIds) assert.ok(lists[0]![1]!.includes(id));

    // A's subscriber takes the in-process path: A subscribes to no track subject on NATS.
    const [ra, rb, rc] = await Promise.all([a.resources(), b.resources(), c.resources()]);
    assert.equal(ra.bus.remoteTrackSubscriptions, 0);
    assert.equal(rb.bus.remoteTrackSubscriptions, 2);
    assert.equal(rc.bus.remoteTrackSubscriptions, 2);
    assert.ok(ra.traffic.forwardedPackets > 0 && rb.traffic.forwardedPackets > 0 && rc.traffic.forwardedPackets > 0);
    assert.ok((rb.bus.nats!.received ?? 0) > 0);
    assert.equal(ra.bus.nats!.received, 0);

    // C's viewer leaves: C drops its NATS subscriptions; B keeps its own.
    await callIn(subPages[2]!, 'sub', 'stop');
    await waitFor('C unsubscribed from the track subjects', async () => (await c.resources()).bus.remoteTrackSubscriptions === 0);
    assert.equal((await b.resources()).bus.remoteTrackSubscriptions, 2);

    // The publisher leaves: PUB_LEFT reaches the other instances' subscribers.
    await callIn(pubPage, 'pub', 'stop');
    for (const page of subPages.slice(0, 2)) {
      await waitFor('PUB_LEFT', async () => (await subView(page)).state.lefts.includes(pubId));
    }
    await waitFor('B unsubscribed', async () => (await b.resources()).bus.remoteTrackSubscriptions === 0);
    for (const page of [ownPage, ...subPages.slice(0, 2)]) await callIn(page, 'sub', 'stop');
    await Promise.all([pubPage, ownPage, ...subPages].map((p) => p.close()));
    for (const s of cluster.servers) {
      await waitFor('empty lists', async () => (await s.list('pub', room)).length === 0 && (await s.list('sub', room)).length === 0);
    }
  });

  it('two publishers on different instances, one subscriber on a third: each arrives once', async () => {
    const [a, b, c] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0], Cluster['servers'][0]];
    const room = 'two-pubs';
    const subPage = await openPage(browser, c);
    await subscribeFrom(subPage, room, 'watcher');
    const p1 = await openPage(browser, a);
    const p2 = await openPage(browser, b);
    const [id1, id2] = await Promise.all([publishFrom(p1, room, 'p1'), publishFrom(p2, room, 'p2')]);
    const view = await waitMedia(subPage, 2, 'media of both publishers');
    assert.deepEqual(Object.keys(view.streams).sort(), [id1, id2].sort());
    for (const id of [id1, id2]) assert.deepEqual(view.streams[id]!.sort(), ['audio0', 'video0']);
    assert.deepEqual([...view.state.joins].sort(), [id1, id2].sort());
    assert.equal((await c.resources()).bus.remoteTrackSubscriptions, 4);
    await Promise.all([subPage, p1, p2].map((p) => p.close()));
  });

  it('a simulcast camera on A: B subscribes on NATS to the one layer its subscriber gets, which decodes the top one', async () => {
    const [a, b] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0]];
    const room = 'across-layers';
    const pubPage = await openPage(browser, a);
    await publishFrom(pubPage, room, 'carol', { audio: true, video: { width: 1280, height: 720 } }, undefined, true);
    const subPage = await openPage(browser, b);
    await subscribeFrom(subPage, room, 'viewer');
    await waitFor(
      'the top layer decoded on B',
      async () => {
        const video = (await subView(subPage)).inbound.find((x) => x.kind === 'video');
        return video && video.frameWidth === 1280 && video.framesDecoded > 30;
      },
      40_000,
      250,
    );
    // audio + the one video layer forwarded (a switch may hold two for a moment)
    const subs = await waitFor('B on two track subjects', async () => {
      const n = (await b.resources()).bus.remoteTrackSubscriptions;
      return n === 2 ? n : undefined;
    });
    assert.equal(subs, 2);
    await Promise.all([pubPage, subPage].map((p) => p.close()));
  });
});
