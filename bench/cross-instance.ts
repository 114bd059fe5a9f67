/**
 * cross-instance: the fanout with the subscribers on another instance, over NATS.
 * Real redis-server and a 3-node nats-server cluster; instance A on node 0 (publisher),
 * instance B on node 1. Two phases with the same load: subscribers on A (in-process
 * path), then on B (A → NATS → B). Reports server CPU (A + B) per forwarded packet and
 * one-way delay publisher → subscriber (send time in the payload, same clock), whose
 * difference between the phases is the added latency of the hop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerProcess, startServer, waitFor } from '../test/e2e/harness.js';
import { startNatsCluster, startRedis } from '../test/e2e/services.js';
import { machine, percentile, pinSelf } from './lib/machine.js';
import { CountingSubscriber, SyntheticPublisher } from './lib/ndc-clients.js';

export interface CrossOptions {
  subscribers: number;
  seconds: number;
  warmup: number;
  pps: number;
  size: number;
}

export interface CrossPhase {
  placement: 'same-instance' | 'other-instance';
  forwardedPacketsPerSecond: number;
  /** CPU of both instances over the window ÷ packets forwarded to subscribers */
  serverCpuUsPerPacket: number;
  /** CPU of instance A (the publisher's) and B, % of a core */
  cpuPercentA: number;
  cpuPercentB: number;
  delayP50Ms: number;
  delayP99Ms: number;
  lossPercent: number;
  duplicates: number;
}

async function phase(
  pubSide: ServerProcess,
  subSide: ServerProcess,
  both: ServerProcess[],
  o: CrossOptions,
  placement: CrossPhase['placement'],
): Promise<CrossPhase> {
  const room = `cross-${placement}-${Date.now()}`;
  const subs: CountingSubscriber[] = [];
  for (let i = 0; i < o.subscribers; i++) subs.push(await CountingSubscriber.connect(subSide.publicUrl, room, `sub${i}`));
  const pub = await SyntheticPublisher.connect(pubSide.publicUrl, room, 'pub', o.pps, o.size);
  await waitFor('every subscriber receiving', () => subs.every((s) => s.packets > 0), 20_000);
  await sleep(o.warmup * 1000);
  const r0 = await Promise.all(both.map((s) => s.resources()));
  const got0 = subs.reduce((a, s) => a + s.packets, 0);
  const sent0 = pub.sent;
  for (const s of subs) s.recordDelays = true;
  await sleep(o.seconds * 1000);
  for (const s of subs) s.recordDelays = false;
  const r1 = await Promise.all(both.map((s) => s.resources()));
  const got = subs.reduce((a, s) => a + s.packets, 0) - got0;
  const sent = pub.sent - sent0;
  pub.close();
  for (const s of subs) s.close();
  await waitFor('instances empty', async () => (await Promise.all(both.map((s) => s.resources()))).every((r) => r.peers === 0), 20_000);

  const cpu = both.map((_, i) => r1[i]!.cpuMicros - r0[i]!.cpuMicros);
  const subIdx = both.indexOf(subSide);
  const forwarded = r1[subIdx]!.traffic.forwardedPackets - r0[subIdx]!.traffic.forwardedPackets;
  const delays = subs.flatMap((s) => s.delays).sort((a, b) => a - b);
  const pct = (us: number) => Number(((us / (o.seconds * 1e6)) * 100).toFixed(1));
  return {
    placement,
    forwardedPacketsPerSecond: Math.round(forwarded / o.seconds),
    serverCpuUsPerPacket: Number((cpu.reduce((a, b) => a + b, 0) / Math.max(1, forwarded)).toFixed(2)),
    cpuPercentA: pct(cpu[0]!),
    cpuPercentB: pct(cpu[1]!),
    delayP50Ms: Number(percentile(delays, 50).toFixed(3)),
    delayP99Ms: Number(percentile(delays, 99).toFixed(3)),
    lossPercent: Number((Math.max(0, 1 - got / Math.max(1, sent * o.subscribers)) * 100).toFixed(2)),
    duplicates: subs.reduce((a, s) => a + s.duplicates, 0),
  };
}

export async function crossInstance(o: CrossOptions) {
  const pinned = pinSelf(1);
  const redis = await startRedis();
  const nats = await startNatsCluster(3);
  const urls = nats.nodes.map((n) => n.url);
  const prefix = pinned ? ['taskset', '-c', '0'] : [];
  const args = (own: number) => [
    '--keyframe-interval',
    '0',
    '--redis',
    redis.url,
    '--nats',
    [urls[own]!, ...urls.filter((_, i) => i !== own)].join(','),
  ];
  const a = await startServer(args(0), { LOG_LEVEL: 'info' }, prefix);
  const b = await startServer(args(1), { LOG_LEVEL: 'info' }, prefix);
  const phases: CrossPhase[] = [];
  try {
    process.stderr.write(`machine: ${machine()}\ninstances pinned to core 0, clients to core 1: ${pinned}\n`);
    phases.push(await phase(a, a, [a, b], o, 'same-instance'));
    process.stderr.write(`${JSON.stringify(phases[0])}\n`);
    phases.push(await phase(a, b, [a, b], o, 'other-instance'));
    process.stderr.write(`${JSON.stringify(phases[1])}\n`);
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
    await Promise.allSettled([nats.stop(), redis.stop()]);
  }
  const [same, other] = phases as [CrossPhase, CrossPhase];
  console.log(
    `\ncross-instance: 1 publisher (${o.pps} pkt/s × ${o.size} B) → ${o.subscribers} subscribers, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
  console.log(`machine: ${machine()}`);
  console.log(
    '| subscribers on | forwarded pkt/s | CPU µs/pkt (A+B) | A CPU % | B CPU % | delay p50 ms | delay p99 ms | loss % | duplicates |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const p of phases) {
    console.log(
      `| ${p.placement} | ${p.forwardedPacketsPerSecond} | ${p.serverCpuUsPerPacket} | ${p.cpuPercentA} | ${p.cpuPercentB} | ${p.delayP50Ms} | ${p.delayP99Ms} | ${p.lossPercent} | ${p.duplicates} |`,
    );
  }
  const added = {
    p50: Number((other.delayP50Ms - same.delayP50Ms).toFixed(3)),
    p99: Number((other.delayP99Ms - same.delayP99Ms).toFixed(3)),
  };
  console.log(`added latency of the NATS hop: p50 ${added.p50} ms, p99 ${added.p99} ms`);
  return { scenario: 'cross-instance', subscribers: o.subscribers, addedLatencyMs: added, phases };
}
