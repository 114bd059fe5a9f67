/**
 * WHIP with an independent WebRTC stack: GStreamer's webrtcbin (test/clients/whip_client.py),
 * no data channel, non-trickle. Chromium subscribers decode what it publishes: VP8 + Opus,
 * and H264 (x264enc, packetization-mode=1) — over our control channel and as WHEP players.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { mediaOf, pagesPerTest, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';
import { framesIncrease, liveGauges, playerView, startWhipClient, stopPlayer, type WhipProcess, whepPlay } from './whep-player.js';

/** Frames decoded from `pubId` by the control-channel subscriber of `page`, and the codec. */
async function controlSubFrames(page: Page, pubId: string): Promise<{ frames: number; codec?: string }> {
  const v = await subView(page);
  if (!v.streams[pubId]) return { frames: 0 };
  const frames = mediaOf(v).videoFrames;
  const codec = await page.evaluate(async () => {
    const pc = (window as unknown as { sub: { pc: RTCPeerConnection } }).sub.pc;
    const stats = await pc.getStats();
    let mime: string | undefined;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.codecId && (s.framesDecoded ?? 0) > 0) mime = stats.get(s.codecId)?.mimeType;
    });
    return mime;
  });
  return { frames, ...(codec ? { codec } : {}) };
}

describe('GStreamer webrtcbin WHIP publisher', () => {
  const ctx = serverAndBrowser(['--keyframe-interval', '3600']);
  const clients: WhipProcess[] = [];
  const page = pagesPerTest(ctx, async () => {
    for (const c of clients.splice(0)) await c.stop();
  });

  for (const codec of ['vp8', 'h264'] as const) {
    it(`${codec.toUpperCase()} + Opus: a Chromium control-channel subscriber decodes it; DELETE ends it`, async () => {
      const room = `gst-${codec}`;
      const sub = await page();
      await subscribeFrom(sub, room, 'viewer');
      // Payload types other than Chromium's (VP8 120, H264 98, Opus 109): the subscriber still gets ours.
      const pts = codec === 'vp8' ? ['--video-pt', '120'] : ['--video-pt', '98'];
      const client = await startWhipClient(`${ctx.server.publicUrl}/pub/${room}/gst+${codec}`, [
        '--video',
        codec,
        ...pts,
        '--audio-pt',
        '109',
      ]);
      clients.push(client);
      const created = client.events.find((e) => e.event === 'created')!;
      assert.equal(created.status, 201);
      assert.match(String(created.location), /\/session\//);
      const t0 = Date.now();
      const seen = await waitFor(`${codec} frames decoded from gst`, async () => {
        const r = await controlSubFrames(sub, `gst+${codec}`);
        return r.frames >= 20 ? r : undefined;
      });
      assert.equal(seen.codec, codec === 'vp8' ? 'video/VP8' : 'video/H264');
      console.error(`WHIP figures (${codec}): POST→201 ${created.ms} ms; 20 frames decoded by the subscriber ${Date.now() - t0} ms after`);
      const state = (await subView(sub)).state;
      assert.ok(state.joins.includes(`gst+${codec}`), 'PUB_JOIN for the WHIP publisher');
      const audio = (await subView(sub)).inbound.filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packetsReceived, 0);
      assert.ok(audio > 0, 'Opus from GStreamer arrives');

      assert.equal(await client.stop(), 0);
      assert.ok(
        client.events.some((e) => e.event === 'deleted' && e.status === 200),
        'the client DELETEd its session',
      );
      await waitFor('PUB_LEFT', async () => (await subView(sub)).state.lefts.includes(`gst+${codec}`));
      assert.deepEqual(await ctx.server.list('pub', room), []);
      await waitFor('pub gauge zero', async () => (await liveGauges(ctx.server, room)).every((l) => !l.includes('type="pub"')));
    });
  }

  it('H264 to WHEP players: an H264-capable player decodes it, a VP8-only player gets the audio only', async () => {
    const room = 'gst-whep';
    const client = await startWhipClient(`${ctx.server.publicUrl}/pub/${room}/obs+1`, ['--video', 'h264']);
    clients.push(client);
    const h264Player = await page();
    await waitFor('obs live', async () => {
      const r = await whepPlay(h264Player, `${ctx.server.publicUrl}/whep/${room}/obs`, { video: 'h264-only' });
      return r.status === 201 ? r : undefined;
    });
    const v = await framesIncrease(h264Player, 0, 20);
    assert.equal(v.videoCodec, 'video/H264');

    const vp8Player = await page();
    const r = await whepPlay(vp8Player, `${ctx.server.publicUrl}/whep/${room}/obs`, { video: 'vp8-only' });
    assert.equal(r.status, 201, r.text);
    const vp8 = await waitFor('audio to the VP8-only player', async () => {
      const x = await playerView(vp8Player);
      return x.audioPackets > 50 ? x : undefined;
    });
    assert.equal(vp8.videoFrames, 0, 'no H264 video to a player that cannot receive it');
    assert.equal(await stopPlayer(vp8Player), 200);
    assert.equal(await stopPlayer(h264Player), 200);
  });
});
