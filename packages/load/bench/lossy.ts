/**
 * lossy: a Chromium publisher (fake camera 640×360) → the SFU → a Chromium subscriber,
 * beside a direct Chromium→Chromium call from the same camera, with a share of the media
 * datagrams of every loopback hop dropped by nftables (rules scoped to the SFU's
 * --rtc-port-range and the direct call's two ports; test/e2e/lossy.ts). Per loss rate,
 * one window on the same two calls: fps, freezes, NACKs (browser and server),
 * retransmissions, keyframe requests per minute. Needs root and `nft`.
 */
import {
  Calls,
  describeLoss,
  freeUdpRange,
  type LossResult,
  LossyLoopback,
  launchBrowser,
  measureLoss,
  portSet,
  startServer,
} from '#server-harness';
import { machine } from './lib/machine.js';

export interface LossyOptions {
  loss: number[];
  seconds: number;
  settle: number;
}

export interface LossyRow {
  lossPercent: number;
  seconds: number;
  directFps: number;
  sfuFps: number;
  /** SFU frames decoded / direct frames decoded */
  frameRatio: number;
  directFreezeSeconds: number;
  sfuFreezeSeconds: number;
  directFreezes: number;
  sfuFreezes: number;
  /** NACKs the direct receiver sent; retransmissions its publisher sent */
  directNacks: number;
  directRetransmissions: number;
  /** NACKs the SFU subscriber's browser sent; sequence numbers the SFU was asked for and resent */
  subscriberNacks: number;
  serverNacksReceived: number;
  serverRetransmitted: number;
  /** uplink: sequence numbers the SFU NACKed (each try), recovered, given up; retransmissions the publisher sent */
  serverNacksSent: number;
  serverRecovered: number;
  serverUnrecovered: number;
  publisherRetransmissions: number;
  /** keyframe requests per minute: SFU → publisher, subscriber → SFU, direct receiver → publisher */
  keyframesPerMinuteSfu: number;
  keyframesPerMinuteSubscriber: number;
  keyframesPerMinuteDirect: number;
  /** what nftables dropped of what it saw over the window, % (publisher → SFU, SFU → subscriber, direct) */
  droppedUplinkPercent: number;
  droppedDownlinkPercent: number;
  droppedDirectPercent: number;
}

const pct = (c: { seen: number; dropped: number } | undefined) => (c && c.seen > 0 ? Math.round((1000 * c.dropped) / c.seen) / 10 : 0);

function row(r: LossResult): LossyRow {
  return {
    lossPercent: r.lossPercent,
    seconds: r.seconds,
    directFps: r.direct.fps,
    sfuFps: r.sfu.fps,
    frameRatio: r.direct.frames > 0 ? Math.round((1000 * r.sfu.frames) / r.direct.frames) / 1000 : 0,
    directFreezeSeconds: r.direct.freezeSeconds,
    sfuFreezeSeconds: r.sfu.freezeSeconds,
    directFreezes: r.direct.freezes,
    sfuFreezes: r.sfu.freezes,
    directNacks: r.direct.nacks,
    directRetransmissions: r.direct.publisherRetransmissions,
    subscriberNacks: r.sfu.nacks,
    serverNacksReceived: r.server.nacksReceived,
    serverRetransmitted: r.server.retransmittedPackets,
    serverNacksSent: r.server.nacksSent,
    serverRecovered: r.server.recoveredPackets,
    serverUnrecovered: r.server.unrecoveredPackets,
    publisherRetransmissions: r.sfu.publisherRetransmissions,
    keyframesPerMinuteSfu: r.keyframesPerMinute.sfuToPublisher,
    keyframesPerMinuteSubscriber: r.keyframesPerMinute.subscriberToSfu,
    keyframesPerMinuteDirect: r.keyframesPerMinute.direct,
    droppedUplinkPercent: pct(r.dropped.uplink),
    droppedDownlinkPercent: pct(r.dropped.downlink),
    droppedDirectPercent: pct(r.dropped.direct),
  };
}

export async function lossy(o: LossyOptions): Promise<{ scenario: 'lossy'; results: LossyRow[] }> {
  const range = await freeUdpRange(40);
  const sfuPorts = portSet([range]);
  const loss = await LossyLoopback.create();
  const rows: LossyRow[] = [];
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let calls: Calls | undefined;
  try {
    server = await startServer(['--rtc-port-range', `${range.begin}-${range.end}`]);
    browser = await launchBrowser();
    calls = await Calls.start(browser, server, server, 'lossy-bench');
    for (const l of o.loss) {
      const r = await measureLoss(loss, calls, sfuPorts, l, o.seconds, o.settle * 1000);
      console.error(describeLoss(r));
      rows.push(row(r));
    }
  } finally {
    await loss.delete();
    await calls?.close();
    await browser?.close();
    await server?.stop();
  }
  console.log(
    `\nlossy: Chromium publisher (fake camera 640×360) → SFU → Chromium subscriber vs a direct Chromium call, ` +
      `nftables loss per loopback hop (media datagrams > 300 bytes), ${o.seconds} s window per rate after ${o.settle} s`,
  );
  console.log(`machine: ${machine()}`);
  console.log(
    '| loss/hop | fps direct / SFU | frames SFU/direct | frozen s direct / SFU (freezes) | NACKs direct (resent) | subscriber NACKs → SFU resent | SFU NACKs upstream → recovered / given up (publisher resent) | keyframe req/min SFU→pub, sub→SFU, direct | nft dropped % uplink, downlink, direct |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.lossPercent} % | ${r.directFps} / ${r.sfuFps} | ${r.frameRatio} | ${r.directFreezeSeconds} / ${r.sfuFreezeSeconds} (${r.directFreezes} / ${r.sfuFreezes}) | ` +
        `${r.directNacks} (${r.directRetransmissions}) | ${r.subscriberNacks} (server asked ${r.serverNacksReceived}) → ${r.serverRetransmitted} | ` +
        `${r.serverNacksSent} → ${r.serverRecovered} / ${r.serverUnrecovered} (${r.publisherRetransmissions}) | ` +
        `${r.keyframesPerMinuteSfu}, ${r.keyframesPerMinuteSubscriber}, ${r.keyframesPerMinuteDirect} | ${r.droppedUplinkPercent}, ${r.droppedDownlinkPercent}, ${r.droppedDirectPercent} |`,
    );
  }
  return { scenario: 'lossy', results: rows };
}
