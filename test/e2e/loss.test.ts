/**
 * Issue 14 acceptance, real networks: a Chromium publisher (fake camera 640×360) → the SFU
 * → a Chromium subscriber, beside a direct Chromium→Chromium call from the same camera,
 * with a share of the media datagrams of every loopback hop dropped by nftables (rules
 * scoped to the SFU's --rtc-port-range and to the direct call's two ports: lossy.ts).
 * 30 s windows, framesDecoded and totalFreezesDuration deltas of both receivers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, type ServerProcess, startServer } from './harness.js';
import { Calls, describeLoss, freeUdpRange, type LossResult, LossyLoopback, measureLoss, portSet } from './lossy.js';
import { type NatsCluster, type RedisServer, startNatsCluster, startRedis } from './services.js';

const WINDOW_S = Number(process.env.WEEVER_LOSS_WINDOW_S ?? 30);

function report(t: TestContext, r: LossResult): void {
  const text = describeLoss(r);
  console.error(text);
  for (const line of text.split('\n')) t.diagnostic(line);
}

/** 3 %: ≥ 95 % of the direct call's frames, at most 0.5 s more frozen. */
function assert3(r: LossResult): void {
  assert.ok(r.direct.frames > 0, 'the direct call decodes');
  assert.ok(
    r.sfu.frames >= 0.95 * r.direct.frames,
    `through the SFU ${r.sfu.frames} frames, direct ${r.direct.frames}: below 95 % (${((100 * r.sfu.frames) / r.direct.frames).toFixed(1)} %)`,
  );
  assert.ok(
    r.sfu.freezeSeconds <= r.direct.freezeSeconds + 0.5,
    `frozen ${r.sfu.freezeSeconds} s through the SFU, ${r.direct.freezeSeconds} s direct: more than 0.5 s longer`,
  );
}

describe('3 % and 10 % loss per hop: the SFU path against a direct call', () => {
  let server: ServerProcess;
  let browser: Browser;
  let loss: LossyLoopback;
  let calls: Calls;
  let sfuPorts: string;
  before(async () => {
    const range = await freeUdpRange(40);
    sfuPorts = portSet([range]);
    loss = await LossyLoopback.create();
    server = await startServer(['--rtc-port-range', `${range.begin}-${range.end}`]);
    browser = await launchBrowser();
    calls = await Calls.start(browser, server, server, 'lossy');
  });
  after(async () => {
    await loss?.delete();
    await calls?.close();
    await browser?.close();
    await server?.stop();
  });

  it('without loss: the subscriber has remote-outbound-rtp (sender reports) for audio and video', async () => {
    await loss.set(0, { sfu: { ports: sfuPorts } });
    const kinds = await calls.subPage.evaluate(async () => {
      const w = window as unknown as { lossSub: { pc: RTCPeerConnection } };
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found: Record<string, { packetsSent: number; remoteTimestamp: number; reportsSent: number }> = {};
        (await w.lossSub.pc.getStats()).forEach((s) => {
          if (s.type === 'remote-outbound-rtp')
            found[s.kind] = { packetsSent: s.packetsSent, remoteTimestamp: s.remoteTimestamp, reportsSent: s.reportsSent };
        });
        if ((found.audio && found.video) || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 250));
      }
    });
    console.error('subscriber remote-outbound-rtp', JSON.stringify(kinds));
    assert.ok(kinds.audio, 'remote-outbound-rtp for audio');
    assert.ok(kinds.video, 'remote-outbound-rtp for video');
    assert.ok(kinds.video.packetsSent > 0 && kinds.audio.packetsSent > 0);
  });

  it('3 % per hop for 30 s: ≥ 95 % of the direct call’s frames, at most 0.5 s more frozen', async (t) => {
    const r = await measureLoss(loss, calls, sfuPorts, 3, WINDOW_S);
    report(t, r);
    assert3(r);
  });

  it('10 % per hop for 30 s: video keeps playing (≥ 50 % of the direct call’s frames)', async (t) => {
    const r = await measureLoss(loss, calls, sfuPorts, 10, WINDOW_S);
    report(t, r);
    assert.ok(r.direct.frames > 0, 'the direct call decodes');
    assert.ok(
      r.sfu.frames >= 0.5 * r.direct.frames,
      `through the SFU ${r.sfu.frames} frames, direct ${r.direct.frames}: below 50 % (${((100 * r.sfu.frames) / r.direct.frames).toFixed(1)} %)`,
    );
  });
});

describe('3 % loss per hop across instances: publisher on A, subscriber on B (Redis + NATS)', () => {
  let redis: RedisServer;
  let nats: NatsCluster;
  let a: ServerProcess;
  let b: ServerProcess;
  let browser: Browser;
  let loss: LossyLoopback;
  let calls: Calls | undefined;
  let sfuPorts: string;
  before(async () => {
    loss = await LossyLoopback.create();
    redis = await startRedis();
    nats = await startNatsCluster(3);
    const urls = nats.nodes.map((x) => x.url);
    const [ra, rb] = [await freeUdpRange(20), await freeUdpRange(20)];
    a = await startServer(['--redis', redis.url, '--nats', urls.join(','), '--rtc-port-range', `${ra.begin}-${ra.end}`]);
    b = await startServer([
      '--redis',
      redis.url,
      '--nats',
      [urls[1], urls[2], urls[0]].join(','),
      '--rtc-port-range',
      `${rb.begin}-${rb.end}`,
    ]);
    sfuPorts = portSet([ra, rb]);
    browser = await launchBrowser();
  });
  after(async () => {
    await loss?.delete();
    await calls?.close();
    await browser?.close();
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await Promise.allSettled([nats?.stop(), redis?.stop()]);
  });

  it('3 % per hop for 30 s: ≥ 95 % of the direct call’s frames, at most 0.5 s more frozen', async (t) => {
    calls = await Calls.start(browser, a, b, 'lossy-across');
    const nats = (await b.resources()).bus.remoteTrackSubscriptions;
    assert.ok((nats ?? 0) > 0, 'B receives the publisher through NATS');
    const r = await measureLoss(loss, calls, sfuPorts, 3, WINDOW_S);
    report(t, r);
    assert3(r);
  });
});
