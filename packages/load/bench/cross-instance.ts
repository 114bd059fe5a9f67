/**
 * cross-instance: the fanout with the subscribers on another instance, over NATS.
 * Real redis-server and a 3-node nats-server cluster; instance A on node 0 (publisher),
 * instance B on node 1. Two phases with the same load (the load tool's clients: VP8 +
 * Opus): subscribers on A (in-process path), then on B (A → NATS → B). Reports server CPU
 * (A + B) per forwarded packet and one-way delay publisher → subscriber, whose difference
 * between the phases is the added latency of the hop.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerProcess, startNatsCluster, startRedis, startServer } from '#server-harness';
import { LoadRun } from '../src/run.js';
import { type CommonOptions, loadOptions, note, type ServerUnderTest, waitReceiving } from './lib/load-bench.js';
import { machine, pinSelf } from './lib/machine.js';

export interface CrossOptions extends CommonOptions {
  subscribers: number;
}

export interface CrossPhase {
  placement: 'same-instance' | 'other-instance';
  forwardedPacketsPerSecond: number;
  /** CPU of both instances over the window ÷ packets forwarded to subscribers */
  serverCpuUsPerPacket: number;
  /** CPU of instance A (the publisher's) and B, % of a core */
  cpuPercentA: number;
  cpuPercentB: number;
  delayP50Ms: number | null;
  delayP99Ms: number | null;
  inputLossPercent: number | null;
  lossPercent: number;
  duplicates: number;
}

const asSut = (s: ServerProcess): ServerUnderTest => ({
  publicUrl: s.publicUrl,
  privateUrl: s.privateUrl,
  pid: s.proc.pid!,
  pinned: false,
  stop: async () => {},
});

async function phase(a: ServerProcess, b: ServerProcess, o: CrossOptions, placement: CrossPhase['placement']): Promise<CrossPhase> {
  const subSide = placement === 'same-instance' ? a : b;
  const lo = loadOptions(o, asSut(a), `cross-${placement}-${Date.now()}`, {
    publishers: 1,
    subscribers: o.subscribers,
    subscribeUrl: subSide.publicUrl,
  });
  // CPU and forwarded packets are read from both instances here; the load run reads A's input counters.
  const run = await LoadRun.start(lo);
  try {
    await waitReceiving(run);
    await sleep(o.warmup * 1000);
    const r0 = await Promise.all([a.resources(), b.resources()]);
    const report = await run.measure(o.seconds);
    const r1 = await Promise.all([a.resources(), b.resources()]);
    const cpu = [0, 1].map((i) => r1[i]!.cpuMicros - r0[i]!.cpuMicros);
    const s = placement === 'same-instance' ? 0 : 1;
    const fwd = r1[s]!.traffic.forwardedPackets - r0[s]!.traffic.forwardedPackets;
    const span = report.seconds;
    return {
      placement,
      forwardedPacketsPerSecond: Math.round(fwd / span),
      serverCpuUsPerPacket: Number(((cpu[0]! + cpu[1]!) / Math.max(1, fwd)).toFixed(2)),
      cpuPercentA: Number(((cpu[0]! / (span * 1e6)) * 100).toFixed(1)),
      cpuPercentB: Number(((cpu[1]! / (span * 1e6)) * 100).toFixed(1)),
      delayP50Ms: report.video?.delayMs?.p50 ?? null,
      delayP99Ms: report.video?.delayMs?.p99 ?? null,
      inputLossPercent: report.inputLossPercent,
      lossPercent: report.outputLossPercent,
      duplicates: (report.video?.duplicates ?? 0) + (report.audio?.duplicates ?? 0),
    };
  } finally {
    await run.close();
  }
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
  const a = await startServer(args(0), { WEEVER_LOG_LEVEL: 'info' }, prefix);
  const b = await startServer(args(1), { WEEVER_LOG_LEVEL: 'info' }, prefix);
  const phases: CrossPhase[] = [];
  try {
    note(`machine: ${machine()}\ninstances pinned to core 0, clients to core 1: ${pinned}`);
    for (const placement of ['same-instance', 'other-instance'] as const) {
      phases.push(await phase(a, b, o, placement));
      note(JSON.stringify(phases[phases.length - 1]));
    }
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
    await Promise.allSettled([nats.stop(), redis.stop()]);
  }
  const [same, other] = phases as [CrossPhase, CrossPhase];
  console.log(
    `\ncross-instance: 1 publisher (VP8 ${o.videoBitrate / 1000} kbit/s + Opus) → ${o.subscribers} subscribers, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
  console.log(`machine: ${machine()}`);
  console.log(
    '| subscribers on | forwarded pkt/s | CPU µs/pkt (A+B) | A CPU % | B CPU % | video delay p50 ms | p99 ms | input loss % | loss % | duplicates |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const p of phases) {
    console.log(
      `| ${p.placement} | ${p.forwardedPacketsPerSecond} | ${p.serverCpuUsPerPacket} | ${p.cpuPercentA} | ${p.cpuPercentB} | ${p.delayP50Ms} | ${p.delayP99Ms} | ${p.inputLossPercent} | ${p.lossPercent} | ${p.duplicates} |`,
    );
  }
  const diff = (x: number | null, y: number | null) => (x === null || y === null ? null : Number((x - y).toFixed(3)));
  const added = { p50: diff(other.delayP50Ms, same.delayP50Ms), p99: diff(other.delayP99Ms, same.delayP99Ms) };
  console.log(`added latency of the NATS hop: p50 ${added.p50} ms, p99 ${added.p99} ms`);
  return { scenario: 'cross-instance', subscribers: o.subscribers, addedLatencyMs: added, phases };
}
