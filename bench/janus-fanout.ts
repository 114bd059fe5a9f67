/**
 * fanout against Janus' videoroom, measured like bench/fanout.ts measures ours: 1 synthetic
 * VP8 publisher (300 pkt/s of 1100-byte RTP by default) → N subscribers, node-datachannel
 * clients through the load tool's Janus target. Janus runs pinned to core 0 (taskset), the
 * clients on core 1. Janus' CPU is utime+stime from /proc/<pid>/stat over a steady-state
 * window, divided by the packets the subscribers received in that window (Janus exposes
 * no forwarded-packet counter without its admin API, so lost packets cost but do not count).
 *
 *   node dist/bench/janus-fanout.js --subscribers 5,20 --seconds 10
 *
 * Prints a table, then one JSON object as the last line.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import nodeDataChannel from 'node-datachannel';
import { JanusTarget } from '../src/load/janus-target.js';
import type { MediaSender, SubscriberConnection } from '../src/load/target.js';
import { waitFor } from '../test/e2e/harness.js';
import { processCpuMicros, startJanus } from './lib/janus-server.js';
import { machine, pinSelf } from './lib/machine.js';

export interface JanusFanoutOptions {
  subscribers: number[];
  seconds: number;
  warmup: number;
  pps: number;
  size: number;
}

export interface JanusFanoutResult {
  scenario: 'fanout';
  target: 'janus';
  subscribers: number;
  forwardedPacketsPerSecond: number;
  serverCpuUsPerPacket: number;
  serverCpuPercent: number;
  lossPercent: number;
  rssMiB: number;
}

/** Paced synthetic VP8: 10 packets per frame, a keyframe every 30 frames or when asked. */
class PacedVp8 {
  sent = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly packet: Buffer;
  private seq = 1;
  private ts = 0;
  private frame = 0;
  private keyframeWanted = true;

  constructor(
    private readonly s: MediaSender,
    private readonly pps: number,
    size: number,
  ) {
    this.packet = Buffer.alloc(size, 0x5a);
  }

  requestKeyframe(): void {
    this.keyframeWanted = true;
  }

  start(): void {
    const startedAt = performance.now();
    // paced by elapsed time, not timer ticks, so timer jitter does not change the rate
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * this.pps);
      while (this.sent < due) this.sendOne();
    }, 5);
  }

  private sendOne(): void {
    const p = this.packet;
    const inFrame = this.sent % 10;
    if (inFrame === 0) {
      this.ts = (this.ts + 3000) >>> 0;
      this.frame++;
    }
    const key = inFrame === 0 && (this.keyframeWanted || this.frame % 30 === 0);
    if (key) this.keyframeWanted = false;
    p[0] = 0x80;
    p[1] = (inFrame === 9 ? 0x80 : 0) | this.s.payloadType;
    p.writeUInt16BE(this.seq, 2);
    p.writeUInt32BE(this.ts, 4);
    p.writeUInt32BE(this.s.ssrc, 8);
    p[12] = inFrame === 0 ? 0x10 : 0x00; // VP8 descriptor: S bit on a frame's first packet
    // frame tag (RFC 6386 §9.1): bit 0 clear = keyframe, then start code and 320x240
    if (inFrame === 0) p.set(key ? [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00] : [0x11, 0x02, 0x00], 13);
    this.seq = (this.seq + 1) & 0xffff;
    try {
      this.s.track.sendMessageBinary(p);
    } catch {
      // closed
    }
    this.sent++;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function runOne(target: JanusTarget, pid: number, n: number, o: JanusFanoutOptions): Promise<JanusFanoutResult> {
  const room = `fanout${n}-${Date.now()}`;
  const pub = await target.publish(room, 'pub', { audio: false, video: true });
  const video = new PacedVp8(pub.video!, o.pps, o.size);
  pub.onKeyframeRequest(() => video.requestKeyframe());
  video.start();
  // one after the other: the measurement is the steady state, not a join storm
  const subs: SubscriberConnection[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = await target.subscribe(room, `sub${i}`);
    counts.push(0);
    s.onRtp(() => {
      counts[i]!++;
    });
    subs.push(s);
  }
  const total = () => counts.reduce((a, c) => a + c, 0);
  await waitFor('every subscriber receiving', () => counts.every((c) => c > 0), 20_000);
  await sleep(o.warmup * 1000);
  const c0 = processCpuMicros(pid);
  const sent0 = video.sent;
  const got0 = total();
  await sleep(o.seconds * 1000);
  const c1 = processCpuMicros(pid);
  const sent1 = video.sent;
  const got1 = total();
  const rss = rssMiB(pid);
  video.stop();
  await Promise.all(subs.map((s) => s.close()));
  await pub.close();

  const got = got1 - got0;
  const sent = sent1 - sent0;
  const cpu = c1 - c0;
  return {
    scenario: 'fanout',
    target: 'janus',
    subscribers: n,
    forwardedPacketsPerSecond: Math.round(got / o.seconds),
    serverCpuUsPerPacket: Number((cpu / Math.max(1, got)).toFixed(2)),
    serverCpuPercent: Number(((cpu / (o.seconds * 1e6)) * 100).toFixed(1)),
    lossPercent: Number((Math.max(0, 1 - got / Math.max(1, sent * n)) * 100).toFixed(2)),
    rssMiB: rss,
  };
}

export async function janusFanout(o: JanusFanoutOptions): Promise<JanusFanoutResult[]> {
  const pinned = pinSelf(1);
  const janus = await startJanus(pinned ? { cpus: '0' } : {});
  const target = new JanusTarget({ url: janus.url });
  const results: JanusFanoutResult[] = [];
  try {
    process.stderr.write(`machine: ${machine()}\njanus ${janus.version} pinned to core 0, clients to core 1: ${pinned}\n`);
    for (const n of o.subscribers) {
      const r = await runOne(target, janus.pid, n, o);
      results.push(r);
      process.stderr.write(`N=${n}: ${JSON.stringify(r)}\n`);
    }
  } finally {
    await target.close();
    await janus.stop();
    nodeDataChannel.cleanup();
  }
  console.log(
    `\nfanout (Janus ${janus.version} videoroom): 1 publisher (${o.pps} pkt/s × ${o.size} B) → N subscribers, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
  console.log(`machine: ${machine()}`);
  console.log('| N | forwarded pkt/s | Janus CPU µs/pkt | Janus CPU % | loss % | RSS MiB |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.subscribers} | ${r.forwardedPacketsPerSecond} | ${r.serverCpuUsPerPacket} | ${r.serverCpuPercent} | ${r.lossPercent} | ${r.rssMiB} |`,
    );
  }
  return results;
}

const intList = (v: string) => {
  const xs = v.split(',').map((x) => Number(x));
  if (xs.some((x) => !Number.isInteger(x) || x < 1)) throw new InvalidArgumentError('must be positive integers, comma separated');
  return xs;
};
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const program = new Command('janus-fanout')
    .description("1 publisher → N subscribers through Janus' videoroom: Janus CPU µs per forwarded packet")
    .option('--subscribers <list>', 'values of N', intList, [5, 20])
    .option('--seconds <s>', 'measurement window', int, 10)
    .option('--warmup <s>', 'warm-up before the window', int, 3)
    .option('--pps <n>', 'publisher packets per second', int, 300)
    .option('--size <bytes>', 'RTP packet size', int, 1100)
    .action(async (o: JanusFanoutOptions) => {
      const results = await janusFanout(o);
      console.log(JSON.stringify(results.length === 1 ? results[0] : { scenario: 'fanout', target: 'janus', results }));
    });
  await program.parseAsync();
}
