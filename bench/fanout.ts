/**
 * fanout: 1 synthetic publisher (300 pkt/s of 1100-byte RTP by default) → N subscribers,
 * all node-datachannel clients on loopback. The server runs pinned to core 0, the clients
 * on core 1. Server CPU comes from the server's own process.cpuUsage() (user+system)
 * over a steady-state window, divided by the packets it forwarded in that window.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerProcess, startServer, waitFor } from '../test/e2e/harness.js';
import { machine, pinSelf } from './lib/machine.js';
import { CountingSubscriber, SyntheticPublisher } from './lib/ndc-clients.js';

export interface FanoutOptions {
  subscribers: number[];
  seconds: number;
  warmup: number;
  pps: number;
  size: number;
  url?: string;
}

export interface FanoutResult {
  scenario: 'fanout';
  subscribers: number;
  forwardedPacketsPerSecond: number;
  serverCpuUsPerPacket: number;
  serverCpuPercent: number;
  /** the same from /proc/<pid>/stat, 10 ms resolution */
  procCpuPercent: number;
  inputLossPercent: number;
  lossPercent: number;
  rssMiB: number;
}

async function resources(server: ServerProcess) {
  return server.resources();
}

/** utime+stime of the server process from /proc, in µs: a cross-check of its own cpuUsage(). */
function procCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  return (ticks * 1e6) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

async function runOne(server: ServerProcess, n: number, o: FanoutOptions): Promise<FanoutResult> {
  const base = server.publicUrl;
  const room = `fanout${n}-${Date.now()}`;
  // One after the other: the measurement is the steady state, not a join storm.
  const subs: CountingSubscriber[] = [];
  for (let i = 0; i < n; i++) subs.push(await CountingSubscriber.connect(base, room, `sub${i}+b`));
  const pub = await SyntheticPublisher.connect(base, room, 'pub+b', o.pps, o.size);
  await waitFor('every subscriber receiving', () => subs.every((s) => s.packets > 0), 20_000);
  await sleep(o.warmup * 1000);
  const r0 = await resources(server);
  const p0 = procCpuMicros(server.proc.pid!);
  const sent0 = pub.sent;
  const got0 = subs.reduce((a, s) => a + s.packets, 0);
  await sleep(o.seconds * 1000);
  const r1 = await resources(server);
  const p1 = procCpuMicros(server.proc.pid!);
  const sent1 = pub.sent;
  const got1 = subs.reduce((a, s) => a + s.packets, 0);
  pub.close();
  for (const s of subs) s.close();
  await waitFor('server empty', async () => (await resources(server)).peers === 0, 20_000);

  const forwarded = r1.traffic.forwardedPackets - r0.traffic.forwardedPackets;
  const received = r1.traffic.receivedPackets - r0.traffic.receivedPackets;
  const sent = sent1 - sent0;
  const got = got1 - got0;
  const cpu = r1.cpuMicros - r0.cpuMicros;
  return {
    scenario: 'fanout',
    subscribers: n,
    forwardedPacketsPerSecond: Math.round(forwarded / o.seconds),
    serverCpuUsPerPacket: Number((cpu / Math.max(1, forwarded)).toFixed(2)),
    serverCpuPercent: Number(((cpu / (o.seconds * 1e6)) * 100).toFixed(1)),
    procCpuPercent: Number((((p1 - p0) / (o.seconds * 1e6)) * 100).toFixed(1)),
    // publisher → server, and server → subscribers, counted separately
    inputLossPercent: Number((Math.max(0, 1 - received / Math.max(1, sent)) * 100).toFixed(2)),
    lossPercent: Number((Math.max(0, 1 - got / Math.max(1, sent * n)) * 100).toFixed(2)),
    rssMiB: Math.round(r1.rssBytes / 2 ** 20),
  };
}

export async function fanout(o: FanoutOptions): Promise<FanoutResult[]> {
  const pinned = pinSelf(1);
  const server = await startServer(['--keyframe-interval', '0'], { LOG_LEVEL: 'info' }, pinned ? ['taskset', '-c', '0'] : []);
  const results: FanoutResult[] = [];
  try {
    process.stderr.write(`machine: ${machine()}\nserver pinned to core 0, clients to core 1: ${pinned}\n`);
    for (const n of o.subscribers) {
      const r = await runOne(server, n, o);
      results.push(r);
      process.stderr.write(`N=${n}: ${JSON.stringify(r)}\n`);
    }
  } finally {
    await server.stop();
  }
  console.log(`\nfanout: 1 publisher (${o.pps} pkt/s × ${o.size} B) → N subscribers, ${o.seconds} s window after ${o.warmup} s warm-up`);
  console.log(`machine: ${machine()}`);
  console.log('| N | forwarded pkt/s | server CPU µs/pkt | server CPU % (cpuUsage) | (/proc) | input loss % | loss % | RSS MiB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.subscribers} | ${r.forwardedPacketsPerSecond} | ${r.serverCpuUsPerPacket} | ${r.serverCpuPercent} | ${r.procCpuPercent} | ${r.inputLossPercent} | ${r.lossPercent} | ${r.rssMiB} |`,
    );
  }
  if (results.length >= 2) {
    // Slope between the two largest N: the cost of one more forwarded packet, without the fixed per-second costs.
    const [a, b] = results.slice(-2) as [FanoutResult, FanoutResult];
    const marginal =
      (b.serverCpuUsPerPacket * b.forwardedPacketsPerSecond - a.serverCpuUsPerPacket * a.forwardedPacketsPerSecond) /
      (b.forwardedPacketsPerSecond - a.forwardedPacketsPerSecond);
    console.log(`marginal server CPU per extra forwarded packet (N=${a.subscribers}→${b.subscribers}): ${marginal.toFixed(2)} µs`);
  }
  return results;
}
