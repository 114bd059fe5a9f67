/**
 * Faults of a cluster (docs/protocol.md, "Several instances: Redis and NATS"), each
 * against real processes: an instance killed with -9, NATS nodes killed, Redis stopped
 * and restarted.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import type { Page } from 'playwright-core';
import { LoadClients } from 'weever-load';
import {
  callIn,
  chromiumOffer,
  mediaOf,
  openPage,
  publishFrom,
  type ServerProcess,
  sharedBrowser,
  subscribeFrom,
  subView,
  waitFor,
} from './harness.js';
import { type Cluster, startCluster } from './services.js';

const chromium = sharedBrowser();
after(() => {
  nodeDataChannel.cleanup(); // the counting client's native threads would keep the process alive
});

async function frames(page: Page): Promise<number> {
  return mediaOf(await subView(page)).videoFrames;
}

async function waitVideo(page: Page, what: string): Promise<void> {
  await waitFor(what, async () => (await frames(page)) > 30);
}

function three(cluster: Cluster): [ServerProcess, ServerProcess, ServerProcess] {
  return cluster.servers as [ServerProcess, ServerProcess, ServerProcess];
}

describe('kill -9 of an instance', () => {
  let cluster: Cluster;
  afterEach(async () => cluster?.stop());

  it("its peers leave Redis and the others' subscribers get PUB_LEFT within 10 s, reaped exactly once", async () => {
    cluster = await startCluster(3);
    const [a, b, c] = three(cluster);
    const room = 'crash';
    const pubPage = await openPage(chromium.browser, a);
    const pubId = await publishFrom(pubPage, room, 'alice');
    const subOnA = await openPage(chromium.browser, a);
    await subscribeFrom(subOnA, room, 'local-viewer');
    const subOnB = await openPage(chromium.browser, b);
    const viewerId = await subscribeFrom(subOnB, room, 'viewer');
    await waitVideo(subOnB, 'video on B');
    assert.deepEqual(await c.list('pub', room), [pubId]);
    assert.equal((await c.list('sub', room)).length, 2);

    const killedAt = Date.now();
    await a.kill();
    await waitFor('PUB_LEFT on B', async () => (await subView(subOnB)).state.lefts.includes(pubId), 10_000, 50);
    const elapsed = Date.now() - killedAt;
    console.error(`PUB_LEFT reached B ${elapsed} ms after kill -9`);
    assert.ok(elapsed <= 10_000, `${elapsed} ms`);
    for (const s of [b, c]) {
      assert.deepEqual(await s.list('pub', room), []);
      assert.deepEqual(await s.list('sub', room), [viewerId]);
    }
    // The reaper's log line travels through a pipe that this (busy) process may read after the
    // page saw PUB_LEFT: wait for it, then check there is exactly one.
    const reapLines = () => [...b.logs, ...c.logs].filter((l) => l.includes('"reaped a dead instance"'));
    await waitFor('the reap logged', () => reapLines().length > 0, 5_000);
    const reaps = reapLines();
    assert.equal(reaps.length, 1, reaps.join('\n'));
    assert.deepEqual((await subView(subOnB)).state.lefts, [pubId]);
    await Promise.all([pubPage, subOnA, subOnB].map((p) => p.close()));
  });
});

describe('NATS node failures', () => {
  let cluster: Cluster;
  afterEach(async () => cluster?.stop());

  it('an instance whose node dies reconnects to another; media resumes within 5 s, no duplicated packet', async (t) => {
    cluster = await startCluster(2);
    const [a, b] = cluster.servers as [ServerProcess, ServerProcess];
    const room = 'nats-down';
    const pubPage = await openPage(chromium.browser, a); // A is on node 0
    await publishFrom(pubPage, room, 'alice');
    const subPage = await openPage(chromium.browser, b); // B is on node 1
    await subscribeFrom(subPage, room, 'viewer');
    // a load-tool subscriber: counts packets and duplicates per track
    const counter = await LoadClients.create({ target: 'weever', url: b.publicUrl, room, video: null, audio: false, concurrency: 1 });
    t.after(() => counter.close());
    await counter.subscribe(['counter']);
    const received = () => counter.snapshot().video.packets;
    await waitVideo(subPage, 'video on B');
    await waitFor('packets at the counting subscriber', () => received() > 100);

    // Each failure: the node of the subscriber's instance, then the node of the publisher's.
    for (const [node, who] of [
      [1, 'subscriber instance B'],
      [0, 'publisher instance A'],
    ] as const) {
      const killedAt = Date.now();
      await cluster.nats.kill(node);
      // The jitter buffer may still play for a moment: measure from what is left after it.
      await new Promise((r) => setTimeout(r, 500));
      const [f0, p0] = [await frames(subPage), received()];
      await waitFor(
        `media resumed after the node of ${who} died`,
        async () => (await frames(subPage)) >= f0 + 15 && received() >= p0 + 100,
        5000 - (Date.now() - killedAt),
        50,
      );
      console.error(`media resumed ${Date.now() - killedAt} ms after killing NATS node ${node} (${who})`);
    }
    const { audio, video } = counter.snapshot();
    assert.equal(audio.duplicates + video.duplicates, 0);
    for (const s of [a, b]) assert.equal(s.proc.exitCode, null);
    const [ra, rb] = await Promise.all([a.resources(), b.resources()]);
    // A lost its node once; B twice (its own, then node 0 it had moved to)
    assert.equal(ra.bus.nats!.reconnects, 1);
    assert.equal(rb.bus.nats!.reconnects, 2);
    await Promise.all([pubPage, subPage].map((p) => p.close()));
  });
});

describe('Redis stops and returns', () => {
  let cluster: Cluster;
  afterEach(async () => cluster?.stop());

  it('503 and not ready while down, media goes on, lists are rewritten without ghosts when it is back', async () => {
    cluster = await startCluster(3);
    const [a, b, c] = three(cluster);
    const room = 'redis-down';
    const pubPage = await openPage(chromium.browser, a);
    const pubId = await publishFrom(pubPage, room, 'alice');
    const stays = await openPage(chromium.browser, b);
    const staysId = await subscribeFrom(stays, room, 'stays');
    const leaves = await openPage(chromium.browser, c);
    await subscribeFrom(leaves, room, 'leaves');
    await waitVideo(stays, 'video on B');
    await waitVideo(leaves, 'video on C');
    const offer = await chromiumOffer(stays, false);

    await cluster.redis.kill();
    const post = await fetch(`${b.publicUrl}/sub/${room}/late`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.equal(post.status, 503);
    assert.equal((await post.text()).trim(), 'state store unavailable');
    for (const s of [a, b, c]) {
      const r = await fetch(`${s.privateUrl}/readiness`);
      assert.equal(r.status, 503);
      assert.match(await r.text(), /^NOT READY: redis /);
    }
    const f0 = await frames(stays);
    await waitFor('media still flowing to B while Redis is down', async () => (await frames(stays)) >= f0 + 60, 5000);
    // A peer leaves while Redis is down: its entry stays in Redis's file, a ghost unless cleaned.
    await callIn(leaves, 'sub', 'stop');
    await waitFor('C has no peer left', async () => (await c.resources()).peers === 0);

    await cluster.redis.restart();
    for (const s of [a, b, c]) {
      await waitFor(
        'lists rewritten, the ghost gone',
        async () => JSON.stringify([await s.list('pub', room), await s.list('sub', room)]) === JSON.stringify([[pubId], [staysId]]),
        10_000,
      );
      await waitFor('ready again', async () => (await fetch(`${s.privateUrl}/readiness`)).status === 200, 10_000);
    }
    const media = (await (await fetch(`${a.privateUrl}/debug/room/${room}`)).json()) as {
      media: Record<string, { kind: string; trackId: string }[]>;
    };
    assert.deepEqual(Object.keys(media.media), [pubId]);
    assert.deepEqual(
      media.media[pubId]!.map(({ kind, trackId }) => ({ kind, trackId })),
      [
        { kind: 'audio', trackId: 'audio0' },
        { kind: 'video', trackId: 'video0' },
      ],
    );
    // and the service takes new peers again
    const late = await openPage(chromium.browser, c);
    await subscribeFrom(late, room, 'late');
    await waitVideo(late, 'video for a subscriber that joined after Redis came back');
    assert.deepEqual((await subView(stays)).state.lefts, []);
    await Promise.all([pubPage, stays, leaves, late].map((p) => p.close()));
  });
});
