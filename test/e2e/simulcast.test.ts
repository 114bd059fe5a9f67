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
import { playerView, stopPlayer, whepPlay } from './whep-player.js';

const HD = { audio: true, video: { width: 1280, height: 720 } };

/** The subscriber's video as its browser sees it: width decoded, frames, freezes (s). */
async function videoIn(page: Page): Promise<{ width: number; frames: number; freezes: number; plis: number }> {
  const v = await subView(page);
  const s = v.inbound.find((x) => x.kind === 'video');
  return { width: s?.frameWidth ?? 0, frames: s?.framesDecoded ?? 0, freezes: s?.totalFreezesDuration ?? 0, plis: s?.pliCount ?? 0 };
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
/** Drops what the server (UDP `serverPort`) sends to `port` beyond `kbytes` a second; replaces a cap a failed test left. */
function capDownlink(serverPort: number, port: number, kbytes: number): void {
  removeCap();
  nft('add', 'table', 'inet', TABLE);
  nft('add', 'chain', 'inet', TABLE, 'out', '{ type filter hook output priority 0; }');
  nft(
    'add',
    'rule',
    'inet',
    TABLE,
    'out',
    'udp',
    'sport',
    String(serverPort),
    'udp',
    'dport',
    String(port),
    'limit',
    'rate',
    'over',
    String(kbytes),
    'kbytes/second',
    'drop',
  );
}
function removeCap(): void {
  try {
    nft('delete', 'table', 'inet', TABLE);
  } catch {
    // not there
  }
}

describe('simulcast', () => {
  let udpPort = 0;
  // debug: the server logs each subscriber's allocation changes, which the cap test prints
  const ctx = serverAndBrowser(
    async () => {
      udpPort = await freePort('udp');
      return ['--rtc-udp-port', String(udpPort)];
    },
    { WEEVER_LOG_LEVEL: 'debug' },
  );
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

  it('a WHEP player of a simulcast camera gets a layer too, the top one on an open path', async () => {
    const room = 'sim-whep';
    const pubPage = await openPage(ctx.browser, ctx.server);
    await publishFrom(pubPage, room, 'alice', HD, undefined, true);
    const player = await openPage(ctx.browser, ctx.server);
    const played = await whepPlay(player, `${ctx.server.publicUrl}/whep/${room}/alice`);
    assert.equal(played.status, 201);
    await waitFor(
      'the player decodes the top layer',
      async () => {
        const v = await playerView(player);
        return v.videoWidth === 1280 && v.videoFrames > 30 ? v : undefined;
      },
      40_000,
      250,
    );
    await stopPlayer(player);
    await Promise.all([pubPage, player].map((p) => p.close()));
  });

  it('VIDEO_QUALITY caps one publisher for one subscriber (low, medium, high); under a steady cap each switch freezes no longer than its keyframe wait, with no decoder error', async () => {
    const room = 'sim-quality';
    const pubPage = await openPage(ctx.browser, ctx.server);
    const pub = await publishFrom(pubPage, room, 'alice', HD, undefined, true);
    const [capped, other] = [await openPage(ctx.browser, ctx.server), await openPage(ctx.browser, ctx.server)];
    await subscribeFrom(capped!, room, 'thumb');
    await subscribeFrom(other!, room, 'spot');
    for (const p of [capped!, other!]) await waitFor('top layer', async () => (await videoIn(p)).width === 1280, 30_000, 250);
    // a steady cap that carries every layer (1.2 Mbit/s against ≈ 0.8 for the top one): the switches happen under it
    const port = await subscriberPort(capped!);
    capDownlink(udpPort, port, 150);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await videoIn(capped!)).width, 1280, 'the top layer fits the cap');
    const say = (text: string) => capped!.evaluate((t) => (window as unknown as { sub: { dc: RTCDataChannel } }).sub.dc.send(t), text);
    /** One switch: the keyframe wait the server measured (sfu_layer_switch_seconds) and the freezes the subscriber saw. */
    const switchTo = async (quality: string, width: number) => {
      const before = await switchMetric();
      const v0 = await videoIn(capped!);
      const o0 = await videoIn(other!);
      await say(`VIDEO_QUALITY ${pub} ${quality}`);
      await waitFor(`width ${width} after ${quality}`, async () => (await videoIn(capped!)).width === width, 10_000, 100);
      await new Promise((r) => setTimeout(r, 1000)); // a freeze is counted when it ends
      const after = await switchMetric();
      const v1 = await videoIn(capped!);
      const o1 = await videoIn(other!);
      const wait = (after.sum - before.sum) / Math.max(1, after.count - before.count);
      const frozen = v1.freezes - v0.freezes;
      // a decoder that cannot go on (a broken reference, a bad frame) asks for a keyframe
      const plis = v1.plis - v0.plis;
      // the same publisher's video to a subscriber that did not switch: freezes not due to the switch (a busy machine)
      const otherFrozen = o1.freezes - o0.freezes;
      console.log(
        `switch to ${quality} under a 1.2 Mbit/s cap: keyframe wait ${(wait * 1000).toFixed(0)} ms (${after.count - before.count} switch), frozen ${(frozen * 1000).toFixed(0)} ms (the other subscriber meanwhile ${(otherFrozen * 1000).toFixed(0)} ms), keyframe requests from the decoder ${plis}`,
      );
      assert.ok(after.count > before.count, 'the switch was measured');
      assert.equal(plis, 0, 'no decoder error: the subscriber asked for no keyframe');
      // the old layer goes on until the new one's keyframe: a freeze, if any, is no longer than that wait
      assert.ok(
        frozen <= wait + otherFrozen + 0.05,
        `frozen ${frozen.toFixed(3)} s ≤ keyframe wait ${wait.toFixed(3)} s (+ ${otherFrozen.toFixed(3)} s the other subscriber froze)`,
      );
    };
    const switchMetric = async () => {
      const text = await (await fetch(`${ctx.server.privateUrl}/metrics`)).text();
      const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      return { sum: read('sfu_layer_switch_seconds_sum'), count: read('sfu_layer_switch_seconds_count') };
    };
    await switchTo('low', 320);
    await switchTo('medium', 640);
    assert.equal((await videoIn(other!)).width, 1280, 'the other subscriber is not capped');
    await switchTo('high', 1280);
    await say('VIDEO_QUALITY nobody best');
    const errors = await waitFor('an ERROR for a bad quality', async () => {
      const v = await subView(capped!);
      return v.state.errors.length > 0 ? v.state.errors : undefined;
    });
    assert.match(errors[0]!, /quality must be low, medium or high/);
    removeCap();
    await Promise.all([pubPage, capped!, other!].map((p) => p.close()));
  });

  it('a subscriber capped at 400 kbit/s gets a lower layer and keeps decoding; the other keeps the top; the cap lifted, top again within 10 s', async () => {
    const room = 'sim-cap';
    const pubPage = await openPage(ctx.browser, ctx.server);
    await publishFrom(pubPage, room, 'alice', HD, undefined, true);
    const [free, capped] = [await openPage(ctx.browser, ctx.server), await openPage(ctx.browser, ctx.server)];
    await subscribeFrom(free!, room, 'free');
    await subscribeFrom(capped!, room, 'capped');
    for (const p of [free!, capped!]) await waitFor('top layer on both', async () => (await videoIn(p)).width === 1280, 30_000, 250);
    const port = await subscriberPort(capped!);
    assert.ok(port > 0, 'the capped subscriber has a selected candidate pair');
    // what the server sends the capped subscriber, over 400 kbit/s, is dropped
    capDownlink(udpPort, port, 50);
    const capAt = performance.now();
    const capWall = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const a = await videoIn(capped!);
    const topA = await videoIn(free!);
    const pubFps0 = await publisherFps(pubPage);
    // A whole minute, the unit of the bound: each failed probe of the cap may cost a stall
    // of ~250 ms, and over a shorter window one such stall, scaled up, decides the result.
    const WINDOW_S = 60;
    // frames decoded, sampled every 50 ms in the page over the window: the stalls inside it
    // (Chromium's own freeze counter adds a freeze when it ends, so one that began before
    // the window would be counted in it whole)
    const sampled = await capped!.evaluate(async (ms) => {
      const pc = (window as unknown as { sub: { pc: RTCPeerConnection } }).sub.pc;
      const frames = async () => {
        let n = 0;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded ?? 0;
        });
        return n;
      };
      const end = performance.now() + ms;
      let last = await frames();
      let lastAt = performance.now();
      const gaps: number[] = [];
      /** when each stall over 250 ms ended (ms epoch), to set beside the server's log */
      const ends: number[] = [];
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
        const n = await frames();
        const now = performance.now();
        if (n !== last) {
          gaps.push(now - lastAt);
          if (now - lastAt > 250) ends.push(Date.now());
          last = n;
          lastAt = now;
        }
      }
      gaps.push(performance.now() - lastAt);
      return { gaps, ends };
    }, WINDOW_S * 1000);
    const stalls = sampled.gaps;
    const b = await videoIn(capped!);
    const top = await videoIn(free!);
    const fps = (b.frames - a.frames) / WINDOW_S;
    const pubFps = (pubFps0 + (await publisherFps(pubPage))) / 2;
    // a freeze as Chromium counts one at this frame rate: no new frame for over 3 frame times (150 ms at 20 fps) + sampling
    const frozenS = stalls.filter((g) => g > 250).reduce((x, g) => x + g, 0) / 1000;
    const freezesPerMin = (frozenS * 60) / WINDOW_S;
    console.log(
      `capped 400 kbit/s, ${WINDOW_S} s from 10 s after the cap: width ${b.width}, ${fps.toFixed(1)} fps (publisher ${pubFps.toFixed(1)}, ${((100 * fps) / pubFps).toFixed(0)} %), frozen ${freezesPerMin.toFixed(2)} s/min (stalls over 250 ms: ${
        stalls
          .filter((g) => g > 250)
          .map((g) => Math.round(g))
          .join(', ') || 'none'
      }; Chromium's counter ${(((b.freezes - a.freezes) * 60) / WINDOW_S).toFixed(2)} s/min); uncapped: width ${top.width}, ${((top.frames - topA.frames) / WINDOW_S).toFixed(1)} fps, freezes ${(((top.freezes - topA.freezes) * 60) / WINDOW_S).toFixed(2)} s/min`,
    );
    console.log(
      `capped subscriber's allocation and probes from the cap on (s after it):\n${allocationTrail(ctx.server.logs, 'capped', capWall)}${sampled.ends
        .map((t) => `\n  +${((t - capWall) / 1000).toFixed(1)} s: a stall ended (page)`)
        .join('')}`,
    );
    removeCap();
    const liftedAt = performance.now();
    await waitFor('top layer again after the cap is lifted', async () => (await videoIn(capped!)).width === 1280, 30_000, 250);
    const back = (performance.now() - liftedAt) / 1000;
    console.log(`cap lifted: top layer again after ${back.toFixed(1)} s (cap was on ${((liftedAt - capAt) / 1000).toFixed(0)} s)`);
    assert.ok(b.width < 1280, `the capped subscriber decodes a lower layer (width ${b.width})`);
    assert.equal(top.width, 1280, 'the uncapped subscriber keeps the top layer');
    assert.ok(fps >= 0.9 * pubFps, `frame rate ${fps.toFixed(1)} ≥ 90 % of the publisher's ${pubFps.toFixed(1)}`);
    assert.ok(freezesPerMin < 1, `frozen ${freezesPerMin.toFixed(2)} s a minute, under 1`);
    assert.ok(back <= 10, `back on top within 10 s (${back.toFixed(1)} s)`);
    await Promise.all([pubPage, free!, capped!].map((p) => p.close()));
  });
});

/** Frames per second the publisher encodes on its top layer. */
async function publisherFps(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { pub: { pc: RTCPeerConnection } }).pub.pc;
    let fps = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth === 1280) fps = s.framesPerSecond ?? 0;
    });
    return fps;
  });
}

/** The server's allocation changes and probes for one subscriber since `since` (ms epoch). */
function allocationTrail(logs: readonly string[], peer: string, since: number): string {
  const rows: string[] = [];
  for (const line of logs) {
    const probe = line.includes('"msg":"probe"');
    if (!probe && !line.includes('layers chosen')) continue;
    const j = JSON.parse(line) as {
      time: number;
      peer?: string;
      event: string;
      paddingBps: number;
      estimateBps: number;
      layers: Record<string, { spatial: number } | null>;
      probes: number;
      probeSuccesses: number;
      probeFailures: number;
      decreases: number;
    };
    if (j.time < since || !j.peer?.startsWith(peer)) continue;
    const at = `  +${((j.time - since) / 1000).toFixed(1)} s: `;
    if (probe) {
      rows.push(
        `${at}probe ${j.event}${j.event === 'start' ? ` (padding ${Math.round(j.paddingBps / 1000)} kbit/s)` : ''}, estimate ${Math.round(j.estimateBps / 1000)} kbit/s`,
      );
      continue;
    }
    const layers = Object.entries(j.layers)
      .map(([mid, l]) => `${mid}:${l === null ? 'paused' : l.spatial}`)
      .join(' ');
    rows.push(
      `${at}estimate ${Math.round(j.estimateBps / 1000)} kbit/s, layers (mid:spatial) ${layers}; probes ${j.probes} (ok ${j.probeSuccesses}, failed ${j.probeFailures}), decreases ${j.decreases}`,
    );
  }
  return rows.join('\n') || '  (no change)';
}
