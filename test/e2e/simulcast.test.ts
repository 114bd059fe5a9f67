/**
 * Simulcast (issue 18): a Chromium camera sent in three SSRC layers (client/simulcast.ts),
 * each layer on its own subject; subscribers get the layer their path carries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mediaOf, openPage, publishFrom, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';

const HD = { audio: true, video: { width: 1280, height: 720 } };

describe('simulcast', () => {
  const ctx = serverAndBrowser();

  it('a 1280×720 camera goes up in 3 layers; an unconstrained subscriber decodes the top one', async () => {
    const room = 'sim-top';
    const pubPage = await openPage(ctx.browser, ctx.server);
    await publishFrom(pubPage, room, 'alice', HD, undefined, true);
    const layers = await pubPage.evaluate(async () => {
      const pc = (window as unknown as { pub: { pc: RTCPeerConnection } }).pub.pc;
      const out: { ssrc: number; width: number }[] = [];
      for (let i = 0; i < 100 && out.length < 3; i++) {
        out.length = 0;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth) out.push({ ssrc: s.ssrc, width: s.frameWidth });
        });
        await new Promise((r) => setTimeout(r, 100));
      }
      return out.sort((a, b) => a.width - b.width).map((l) => l.width);
    });
    assert.deepEqual(layers, [320, 640, 1280], 'Chromium sends three layers');
    const subPage = await openPage(ctx.browser, ctx.server);
    await subscribeFrom(subPage, room, 'viewer');
    const view = await waitFor(
      'top layer decoded',
      async () => {
        const v = await subView(subPage);
        const video = v.inbound.find((s) => s.kind === 'video');
        return video && video.framesDecoded > 30 && video.frameWidth === 1280 && mediaOf(v).audioPackets > 50 ? v : undefined;
      },
      20_000,
    );
    assert.deepEqual(view.state.errors, []);
    await Promise.all([pubPage, subPage].map((p) => p.close()));
  });
});
