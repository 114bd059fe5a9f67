import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPage, publishFrom, serverAndBrowser, subscribeFrom } from './harness.js';

/** The publisher's own view of its video send rate: what the congestion controller allows and what it sends. */
async function sendRate(page: import('playwright-core').Page): Promise<{ available: number; bitrate: number; at: number }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { pub: { pc: RTCPeerConnection } }).pub.pc;
    let available = 0;
    let bytes = 0;
    let ts = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate) available = s.availableOutgoingBitrate;
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        bytes = s.bytesSent;
        ts = s.timestamp;
      }
    });
    return { available, bitrate: bytes * 8, at: ts };
  });
}

describe('bandwidth feedback (REMB) lets a Chromium publisher ramp up', () => {
  const ctx = serverAndBrowser(['--max-video-bitrate', '800000']);

  it('the publisher estimate climbs from the 300 kbps start rate to --max-video-bitrate (800 kbps here) and stays under it', async () => {
    const page = await openPage(ctx.browser, ctx.server);
    await publishFrom(page, 'bw', 'cam');
    const viewer = await openPage(ctx.browser, ctx.server);
    await subscribeFrom(viewer, 'bw', 'viewer');
    // 15 one-second samples: the estimate must reach the ceiling and stay under it. Without
    // REMB Chromium's loss-based estimate starts at 300 kbps and keeps growing past 800 kbps.
    const samples: number[] = [];
    const sent: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await sendRate(page);
      samples.push(r.available);
      sent.push(r.bitrate);
      await new Promise((res) => setTimeout(res, 1000));
    }
    console.error(`estimate samples (bps): ${samples.join(' ')}`);
    const sentRate = (sent.at(-1)! - sent.at(-6)!) / 5;
    console.error(`video send rate over the last 5 s: ${Math.round(sentRate)} bps`);
    assert.ok(samples.at(-1)! >= 700_000, `estimate reached the ceiling: ${samples.at(-1)}`);
    assert.ok(Math.max(...samples) <= 880_000, `estimate never exceeded the REMB ceiling: ${Math.max(...samples)}`);
    await page.close();
    await viewer.close();
  });
});
