/**
 * Simulcast (issue 18): a Chromium camera sent in three SSRC layers (client/simulcast.ts),
 * each layer on its own subject; subscribers get the layer their path carries.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { mediaOf, openPage, publishFrom, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';
import { freePort } from './services.js';

const HD = { audio: true, video: { width: 1280, height: 720 } };

/** The subscriber's video as its browser sees it: width decoded, frames, freezes (s). */
async function videoIn(page: Page): Promise<{ width: number; frames: number; freezes: number }> {
  const v = await subView(page);
  const s = v.inbound.find((x) => x.kind === 'video');
  return { width: s?.frameWidth ?? 0, frames: s?.framesDecoded ?? 0, freezes: s?.totalFreezesDuration ?? 0 };
}

/** The local UDP port of the page's subscriber connection (its selected candidate pair). */
async function subscriberPort(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { sub: { pc: RTCPeerConnection } }).sub.pc;
    const stats = await pc.getStats();
    let port = 0;
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      if (local?.port) port = local.port;
    });
    return port;
  });
}

const TABLE = `weever_cap_${process.pid}`;
const nft = (...args: string[]) => execFileSync('nft', args, { stdio: ['ignore', 'ignore', 'pipe'] });
function removeCap(): void {
  try {
    nft('delete', 'table', 'inet', TABLE);
  } catch {
    // not there
  }
}

describe('simulcast', () => {
  let udpPort = 0;
  const ctx = serverAndBrowser(async () => {
    udpPort = await freePort('udp');
    return ['--rtc-udp-port', String(udpPort)];
  });
  after(removeCap);

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
      40_000,
    );
    assert.deepEqual(view.state.errors, []);
    await Promise.all([pubPage, subPage].map((p) => p.close()));
  });
});
