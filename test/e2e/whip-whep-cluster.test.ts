/**
 * WHIP and WHEP across instances (Redis + NATS): an H264 GStreamer publisher on A is
 * played on B by a control-channel subscriber that was there first (the codec travels in
 * the NATS room event) and by a WHEP player that comes later (the codec is read back from
 * Redis, `room#<room>#media` field value `1;H264`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, openPage, subscribeFrom, subView, waitFor } from './harness.js';
import { type Cluster, startCluster } from './services.js';
import { framesIncrease, startWhipClient, stopPlayer, whepPlay } from './whep-player.js';

describe('WHIP/WHEP on two instances', () => {
  let cluster: Cluster;
  let browser: Browser;
  before(async () => {
    cluster = await startCluster(2, ['--keyframe-interval', '3600']);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('H264 WHIP publisher on A: a subscriber and a WHEP player on B decode H264', async () => {
    const [a, b] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0]];
    const room = 'gst-cluster';
    const subPage = await openPage(browser, b);
    await subscribeFrom(subPage, room, 'early');
    const client = await startWhipClient(`${a.publicUrl}/pub/${room}/obs+1`, ['--video', 'h264']);
    try {
      const sub = await waitFor('H264 frames at the control-channel subscriber on B', async () => {
        const v = await subView(subPage);
        const frames = v.inbound.filter((s) => s.kind === 'video').reduce((n, s) => n + s.framesDecoded, 0);
        return v.streams['obs+1'] && frames >= 20 ? v : undefined;
      });
      assert.deepEqual(sub.state.joins, ['obs+1']);
      assert.match(
        await subPage.evaluate(() => (window as unknown as { sub: { pc: RTCPeerConnection } }).sub.pc.remoteDescription!.sdp),
        /a=rtpmap:\d+ H264\/90000/,
        'the server offered H264 to the subscriber',
      );

      const playerPage = await openPage(browser, b);
      const r = await whepPlay(playerPage, `${b.publicUrl}/whep/${room}/obs`);
      assert.equal(r.status, 201, r.text);
      const v = await framesIncrease(playerPage, 0, 20, 'H264 frames at the WHEP player on B');
      assert.equal(v.videoCodec, 'video/H264');
      assert.deepEqual(
        v.msids.map((m) => m.split(' ')[0]),
        ['obs+1', 'obs+1'],
      );
      assert.equal(await stopPlayer(playerPage), 200);
    } finally {
      assert.equal(await client.stop(), 0);
    }
    await waitFor('publisher gone on both instances', async () => {
      const lists = await Promise.all(cluster.servers.map((s) => s.list('pub', room)));
      return lists.every((l) => l.length === 0);
    });
    await subPage.evaluate(() => (window as unknown as { sub: { stop(): void } }).sub.stop());
  });
});
