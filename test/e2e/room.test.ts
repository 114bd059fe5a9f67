import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import {
  callIn,
  launchKillableBrowser,
  leaveAndClose,
  mediaOf,
  openPage,
  pagesPerTest,
  publishFrom,
  serverAndBrowser,
  startServer,
  subscribeFrom,
  subView,
  waitFor,
} from './harness.js';

const decoding = (page: Page, pubId: string, minFrames = 10) =>
  waitFor(`video of ${pubId} decoding`, async () => {
    const v = await subView(page);
    return v.streams[pubId] && mediaOf(v).videoFrames >= minFrames ? v : undefined;
  });

describe('rooms on one instance', () => {
  const ctx = serverAndBrowser(['--media-timeout', '3', '--keyframe-interval', '3600']);
  const page = pagesPerTest(ctx);

  it('two people each publishing and subscribing see each other and never themselves', async () => {
    const room = 'pair';
    const [a, b] = [await page(), await page()];
    const aPub = await publishFrom(a, room, 'ann');
    await subscribeFrom(a, room, 'ann');
    const bPub = await publishFrom(b, room, 'ben');
    await subscribeFrom(b, room, 'ben');
    const va = await decoding(a, bPub);
    const vb = await decoding(b, aPub);
    assert.deepEqual(Object.keys(va.streams), [bPub]);
    assert.deepEqual(Object.keys(vb.streams), [aPub]);
    assert.deepEqual(va.state.joins, [bPub]);
    assert.deepEqual(vb.state.joins, [aPub]);
    // a screen share of ann is ann's own media too
    const s = await page();
    const screen = await publishFrom(s, room, 'ann-screen', { video: true, audio: false });
    await decoding(b, screen);
    assert.deepEqual((await subView(a)).state.joins, [bPub], 'ann never hears of her own screen share');
  });

  for (const how of ['STOP', 'DELETE', 'tab closed', 'browser killed (timeout path)'] as const) {
    it(`publisher leaving by ${how}: PUB_LEFT, track ends, lists empty, nothing left`, async () => {
      const room = `leave-${how.split(' ')[0]}`;
      const viewer = await page();
      await subscribeFrom(viewer, room, 'viewer');
      let pubPage: Page;
      let killable: Awaited<ReturnType<typeof launchKillableBrowser>> | undefined;
      if (how.startsWith('browser killed')) {
        killable = await launchKillableBrowser();
        pubPage = await openPage(killable.browser, ctx.server);
      } else {
        pubPage = await page();
      }
      const pubId = await publishFrom(pubPage, room, 'leaver');
      await decoding(viewer, pubId);
      assert.deepEqual(await ctx.server.list('pub', room), [pubId]);
      if (how === 'STOP') await callIn(pubPage, 'pub', 'stop');
      else if (how === 'DELETE') await callIn(pubPage, 'pub', 'remove');
      else if (how === 'tab closed') await pubPage.close();
      else killable!.kill();
      const v = await waitFor('PUB_LEFT and the track gone', async () => {
        const v = await subView(viewer);
        return v.state.lefts.includes(pubId) && Object.keys(v.streams).length === 0 ? v : undefined;
      });
      assert.deepEqual(v.state.lefts, [pubId]);
      assert.deepEqual(v.state.errors, []);
      await waitFor('publisher list empty', async () => (await ctx.server.list('pub', room)).length === 0);
      const left = ctx.server.logs
        .map((l) => JSON.parse(l) as { msg?: string; peer?: string; reason?: string })
        .find((l) => l.msg === 'publisher left' && l.peer === pubId);
      const expected = {
        STOP: ['stop'],
        DELETE: ['delete'],
        'tab closed': ['peer-closed', 'control-closed', 'media-timeout'],
        'browser killed (timeout path)': ['media-timeout'],
      }[how];
      assert.ok(left?.reason && expected.includes(left.reason), `left with reason ${left?.reason}`);
      console.error(`${how}: publisher left with reason ${left.reason}`);
      if (killable) await killable.browser.close().catch(() => {});
    });
  }

  it('5 publishers joining at once arrive exactly once each through ONE coalesced follow-up offer', async () => {
    const room = 'burst';
    const viewer = await page();
    await subscribeFrom(viewer, room, 'viewer', { holdAnswers: true });
    const pubPages = await Promise.all([1, 2, 3, 4, 5].map(() => page()));
    const ids = await Promise.all(pubPages.map((p, i) => publishFrom(p, room, `p${i}`, { video: true, audio: true })));
    // All five are announced while the viewer still holds its answer to the first offer.
    await waitFor('all five announced', async () => (await ctx.server.list('pub', room)).length === 5);
    await waitFor('all five announced with their media', async () => {
      const r = (await fetch(`${ctx.server.privateUrl}/debug/room/${room}`).then((x) => x.json())) as { media: Record<string, unknown> };
      return Object.keys(r.media).length === 5;
    });
    await callIn(viewer, 'sub', 'release');
    const v = await waitFor('all five decoding', async () => {
      const v = await subView(viewer);
      const ok = ids.every((id) => v.streams[id]?.length === 2);
      const m = mediaOf(v);
      return ok && m.videoFrames > 50 ? v : undefined;
    });
    assert.deepEqual([...v.state.joins].sort(), [...ids].sort(), 'each PUB_JOIN exactly once');
    assert.equal(v.state.offers, 2, 'first offer + one coalesced follow-up');
    assert.deepEqual(v.state.errors, []);
  });

  it('a publisher adding video by its own SDP_OFFER reaches the subscriber as video0 of the same stream', async () => {
    const room = 'renego';
    const pubPage = await page();
    const pubId = await publishFrom(pubPage, room, 'talker', { video: false, audio: true });
    const viewer = await page();
    await subscribeFrom(viewer, room, 'viewer');
    await waitFor('audio only first', async () => (await subView(viewer)).streams[pubId]?.join() === 'audio0');
    await pubPage.evaluate(async () => {
      const w = window as unknown as { pub: { addTrack(t: MediaStreamTrack): Promise<void> } };
      const cam = await navigator.mediaDevices.getUserMedia({ video: true });
      await w.pub.addTrack(cam.getVideoTracks()[0]!);
    });
    const v = await decoding(viewer, pubId);
    assert.deepEqual(v.streams[pubId]!.sort(), ['audio0', 'video0']);
    assert.deepEqual(v.state.joins, [pubId], 'PUB_JOIN once, the new track came by renegotiation only');
    assert.equal(v.state.offers, 2);
  });

  it('a video track silent for 10 s is ended for subscribers, and comes back as video1 when it flows again', async () => {
    const room = 'silence';
    const pubPage = await page();
    const pubId = await publishFrom(pubPage, room, 'flaky');
    const viewer = await page();
    await subscribeFrom(viewer, room, 'viewer');
    await decoding(viewer, pubId);
    // Stop sending video (audio goes on, so the peer itself stays alive).
    await pubPage.evaluate(async () => {
      const pc = (window as unknown as { pub: { pc: RTCPeerConnection } }).pub.pc;
      const sender = pc.getSenders().find((x) => x.track?.kind === 'video')!;
      (window as unknown as { cam: MediaStreamTrack }).cam = sender.track!;
      await sender.replaceTrack(null);
    });
    const ended = await waitFor(
      'video0 ended for the viewer',
      async () => {
        const v = await subView(viewer);
        return v.streams[pubId]?.join() === 'audio0' ? v : undefined;
      },
      20_000,
      250,
    );
    assert.deepEqual(ended.state.lefts, [], 'the publisher itself did not leave');
    await pubPage.evaluate(async () => {
      const w = window as unknown as { pub: { pc: RTCPeerConnection }; cam: MediaStreamTrack };
      const sender = w.pub.pc.getSenders().find((x) => x.track === null)!;
      await sender.replaceTrack(w.cam);
    });
    const framesAtEnd = ended.inbound.filter((x) => x.kind === 'video').reduce((n, x) => n + x.framesDecoded, 0);
    const back = await waitFor(
      'video flowing again as video1',
      async () => {
        const v = await subView(viewer);
        return Object.values(v.msids).includes(`${pubId} video1`) && mediaOf(v).videoFrames > framesAtEnd + 10 ? v : undefined;
      },
      20_000,
    );
    assert.ok(!Object.values(back.msids).includes(`${pubId} video0`), 'video0 is gone from the offer');
    assert.deepEqual(back.state.joins, [pubId]);
  });

  it('a recycled m-line keeps working through garbage collection (server under --gc-interval)', async () => {
    // A second server that collects garbage constantly: a dropped engine handle would close
    // the native track that a recycled m-line still uses.
    const gcServer = await startServer([], {}, [], ['--gc-interval=500']);
    const gcPages: Page[] = [];
    try {
      const room = 'recycle';
      const viewer = await openPage(ctx.browser, gcServer);
      gcPages.push(viewer);
      await subscribeFrom(viewer, room, 'viewer');
      const first = await openPage(ctx.browser, gcServer);
      const firstId = await publishFrom(first, room, 'first');
      await decoding(viewer, firstId);
      await callIn(first, 'pub', 'stop');
      await first.close();
      await waitFor('first gone', async () => (await subView(viewer)).state.lefts.includes(firstId));
      for (let round = 0; round < 2; round++) {
        const next = await openPage(ctx.browser, gcServer);
        gcPages.push(next);
        const nextId = await publishFrom(next, room, `next${round}`);
        const before = mediaOf(await decoding(viewer, nextId, 5)).videoFrames;
        // keep it flowing for a while under constant collection
        const after = await waitFor(
          'frames keep increasing on the recycled m-line',
          async () => {
            const v = await subView(viewer);
            return mediaOf(v).videoFrames > before + 90 ? v : undefined;
          },
          20_000,
        );
        assert.equal(
          after.inbound.filter((s) => s.direction === 'recvonly').length,
          2,
          'audio + video of one publisher, on recycled m-lines',
        );
        await callIn(next, 'pub', 'stop');
        await waitFor('next gone', async () => (await subView(viewer)).state.lefts.includes(nextId));
      }
    } finally {
      await Promise.all(gcPages.map((p) => leaveAndClose(p)));
      await gcServer.stop();
    }
  });

  it('a subscriber joining a live room decodes at once, without the periodic keyframe (set to 1 h)', async () => {
    const room = 'late';
    const pubPage = await page();
    const pubId = await publishFrom(pubPage, room, 'early');
    // Let the publisher's first keyframes pass before the viewer arrives.
    const first = await page();
    await subscribeFrom(first, room, 'first');
    await decoding(first, pubId, 60);
    const plis = () =>
      pubPage.evaluate(async () => {
        let n = 0;
        const pc = (window as unknown as { pub: { pc: RTCPeerConnection } }).pub.pc;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.pliCount ?? 0;
        });
        return n;
      });
    const before = await plis();
    const late = await page();
    await subscribeFrom(late, room, 'late');
    const v = await decoding(late, pubId, 1);
    assert.deepEqual(Object.keys(v.streams), [pubId]);
    assert.ok((await plis()) > before, 'the join made the server ask the publisher for a keyframe');
  });
});
