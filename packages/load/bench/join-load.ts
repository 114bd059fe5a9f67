/**
 * join: join → first packet and first keyframe latency of new subscribers under load, with
 * the load tool's protocol clients. A fanout room (1 publisher, --subscribers N) runs; then
 * --joins subscribers join one after the other, --gap ms apart. Periodic keyframes are off
 * (publisher and server), so a joiner's first keyframe comes from the server's keyframe
 * request; the server spaces those 500 ms apart per track, so a shorter gap measures that
 * spacing, not the join.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '#server-harness';
import { LoadRun } from '../src/run.js';
import { percentile } from '../src/stats.js';
import { RETRY_SUFFIX } from '../src/weever-target.js';
import { type CommonOptions, loadOptions, note, serverUnderTest } from './lib/load-bench.js';
import { machine } from './lib/machine.js';

export interface JoinLoadOptions extends CommonOptions {
  joins: number;
  subscribers: number;
  /** ms between a joiner's first keyframe and the next join: above the server's 500 ms keyframe-request spacing */
  gap: number;
}

export interface JoinLoadResult {
  scenario: 'join';
  target: string;
  subscribers: number;
  joins: number;
  failed: number;
  firstPacketMs: { p50: number; p95: number; p99: number };
  firstKeyframeMs: { p50: number; p95: number; p99: number };
}

export async function joinLoad(o: JoinLoadOptions): Promise<JoinLoadResult> {
  const sut = await serverUnderTest(o);
  const firstPacket: number[] = [];
  const firstKeyframe: number[] = [];
  let failed = 0;
  const run = await LoadRun.start(
    loadOptions(o, sut, `join-${Date.now()}`, { publishers: 1, subscribers: o.subscribers, keyframeInterval: 0 }),
  );
  try {
    note(`machine: ${machine()}\nserver pinned to core 0, clients to core 1: ${sut.pinned}`);
    await sleep(o.warmup * 1000);
    for (let i = 0; i < o.joins; i++) {
      const [id] = await run.addSubscribers(1);
      const joined = await waitFor(
        'first keyframe at the joiner',
        async () => {
          const j = (await run.totals({ joins: true })).joins ?? [];
          // `<id>-2`, `<id>-3`: the connection was retried after a client-side race
          const me = j.find((x) => x.subscriber.replace(RETRY_SUFFIX, '') === id);
          return me && me.firstKeyframeMs >= 0 ? me : null;
        },
        10_000,
        20,
      ).catch(() => null);
      if (!joined) {
        failed++;
        continue;
      }
      firstPacket.push(joined.firstPacketMs);
      firstKeyframe.push(joined.firstKeyframeMs);
      await sleep(o.gap);
    }
  } finally {
    await run.close();
    await sut.stop();
  }
  firstPacket.sort((a, b) => a - b);
  firstKeyframe.sort((a, b) => a - b);
  const p = (xs: number[]) => ({
    p50: Number(percentile(xs, 50).toFixed(1)),
    p95: Number(percentile(xs, 95).toFixed(1)),
    p99: Number(percentile(xs, 99).toFixed(1)),
  });
  const result: JoinLoadResult = {
    scenario: 'join',
    target: o.target,
    subscribers: o.subscribers,
    joins: o.joins,
    failed,
    firstPacketMs: p(firstPacket),
    firstKeyframeMs: p(firstKeyframe),
  };
  console.log(
    `\njoin: ${o.joins} subscribers join one after the other a fanout room with ${o.subscribers} subscribers (VP8 ${o.videoBitrate / 1000} kbit/s + Opus); no periodic keyframes`,
  );
  console.log(`machine: ${machine()}`);
  console.log('| from the start of the join (offer, POST, ICE, DTLS, renegotiation) to | p50 ms | p95 ms | p99 ms |');
  console.log('|---|---|---|---|');
  console.log(`| first RTP packet | ${result.firstPacketMs.p50} | ${result.firstPacketMs.p95} | ${result.firstPacketMs.p99} |`);
  console.log(`| first keyframe | ${result.firstKeyframeMs.p50} | ${result.firstKeyframeMs.p95} | ${result.firstKeyframeMs.p99} |`);
  if (failed) console.log(`failed joins: ${failed}`);
  return result;
}
