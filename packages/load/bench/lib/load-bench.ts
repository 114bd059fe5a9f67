/**
 * What the load scenarios share: the server under test (our server started embedded and
 * pinned to core 0, clients on core 1; or a given URL), a steady-state window measured
 * with the load tool's clients, the server's CPU over that window, and the output (a
 * table, then one JSON line).
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { type ServerProcess, startNatsCluster, startRedis, startServer, waitFor } from '#server-harness';
import type { LoadOptions, LoadReport, LoadRun } from '../../src/run.js';
import { TARGETS, type TargetName } from '../../src/targets.js';
import { startJanus } from './janus-server.js';
import { machine, pinSelf } from './machine.js';

export const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};
export const intList = (v: string) => {
  const xs = v.split(',').map((x) => Number(x));
  if (xs.some((x) => !Number.isInteger(x) || x < 1)) throw new InvalidArgumentError('must be positive integers, comma separated');
  return xs;
};

export interface CommonOptions {
  url?: string;
  privateUrl?: string;
  pid?: number;
  /** `both` (fanout, audio-room): ours, then Janus, in the same run with the same media and pinning */
  target: TargetName | 'both';
  seconds: number;
  warmup: number;
  /** idle seconds after starting a server, before anything connects */
  settle: number;
  workers: number;
  videoBitrate: number;
  fps: number;
  /** our server as this many instances of one cluster (real redis-server, 3-node NATS), the participants spread over them */
  instances?: number;
}

/** Options every load scenario takes. */
export function commonOptions(c: Command, withTarget: boolean): Command {
  c.option('--url <url>', 'load this server instead of starting one (public base URL; Janus: its HTTP API)')
    .option('--private-url <url>', 'with --url: our private API, for server CPU, forwarded packets and input loss')
    .option('--pid <pid>', 'with --url: server process id, CPU read from /proc/<pid>/stat (e.g. Janus)', int)
    .option('--seconds <s>', 'measurement window', int, 10)
    .option('--warmup <s>', 'warm-up before the window', int, 3)
    .option('--settle <s>', "idle time after starting the server (V8's start-up garbage collections stay out of the first window)", int, 10)
    .option('--workers <n>', 'load worker processes (1: the clients run in the benchmark process)', int, 1)
    .option('--video-bitrate <bps>', 'VP8 bitrate per publisher', int, 1_000_000)
    .option('--fps <n>', 'video frames per second', int, 30);
  if (withTarget)
    c.addOption(
      new Option('--target <name>', "server under test; janus and both start Debian's Janus (videoroom) unless --url is given")
        .choices([...TARGETS, 'both'])
        .default('weever'),
    );
  else c.addOption(new Option('--target <name>').choices(['weever']).default('weever').hideHelp());
  return c;
}

export interface ServerUnderTest {
  publicUrl: string;
  privateUrl?: string;
  pid?: number;
  /** server on core 0, clients on core 1 */
  pinned: boolean;
  /** e.g. "Janus 1.1.2" */
  label?: string;
  /** several instances: each one's URLs and process (the first is also publicUrl, privateUrl, pid) */
  urls?: string[];
  privateUrls?: string[];
  pids?: number[];
  stop(): Promise<void>;
}

/** Our server in embedded mode, pinned to core 0 (this process moves to core 1); or the given URL. */
export async function serverUnderTest(o: CommonOptions, args: string[] = []): Promise<ServerUnderTest> {
  if (o.url) {
    if (o.target === 'janus' && !o.pid) process.stderr.write('note: no --pid: server CPU of Janus is not measured\n');
    return {
      publicUrl: o.url.replace(/\/+$/, ''),
      ...(o.privateUrl ? { privateUrl: o.privateUrl.replace(/\/+$/, '') } : {}),
      ...(o.pid ? { pid: o.pid } : {}),
      pinned: false,
      stop: async () => {},
    };
  }
  if (o.target === 'both') throw new Error('--target both: run each target in turn (see bench/rooms.ts)');
  const pinned = pinSelf(1);
  if ((o.instances ?? 1) > 1) return cluster(o, o.instances!, args, pinned);
  if (o.target === 'janus') {
    // The same place as ours: its own core 0, the clients on core 1.
    const janus = await startJanus(pinned ? { cpus: '0' } : {});
    await sleep(o.settle * 1000);
    return { publicUrl: janus.url, pid: janus.pid, pinned, label: `Janus ${janus.version}`, stop: () => janus.stop() };
  }
  const server = await startServer(
    ['--keyframe-interval', '0', ...args],
    { WEEVER_LOG_LEVEL: 'info' },
    pinned ? ['taskset', '-c', '0'] : [],
  );
  await sleep(o.settle * 1000);
  return {
    publicUrl: server.publicUrl,
    privateUrl: server.privateUrl,
    pid: server.proc.pid!,
    pinned,
    stop: async () => {
      await server.stop();
    },
  };
}

/**
 * `n` instances of ours sharing a real redis-server and a 3-node nats-server cluster, all
 * on core 0 like the single instance (so their summed CPU compares with its), each told
 * the NATS nodes starting from its own.
 */
async function cluster(o: CommonOptions, n: number, args: string[], pinned: boolean): Promise<ServerUnderTest> {
  if (o.target !== 'weever') throw new Error('--instances: weever only');
  const redis = await startRedis();
  const nats = await startNatsCluster(3);
  const servers: ServerProcess[] = [];
  const stop = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await Promise.allSettled([nats.stop(), redis.stop()]);
  };
  try {
    const nodes = nats.nodes.map((x) => x.url);
    for (let i = 0; i < n; i++) {
      const own = i % nodes.length;
      const list = [nodes[own]!, ...nodes.filter((_, k) => k !== own)].join(',');
      servers.push(
        await startServer(
          ['--keyframe-interval', '0', '--redis', redis.url, '--nats', list, ...args],
          { WEEVER_LOG_LEVEL: 'info' },
          pinned ? ['taskset', '-c', '0'] : [],
        ),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  await sleep(o.settle * 1000);
  return {
    publicUrl: servers[0]!.publicUrl,
    privateUrl: servers[0]!.privateUrl,
    pid: servers[0]!.proc.pid!,
    urls: servers.map((s) => s.publicUrl),
    privateUrls: servers.map((s) => s.privateUrl),
    pids: servers.map((s) => s.proc.pid!),
    pinned,
    label: `${n} instances (redis-server, 3-node nats-server), participant i on instance i mod ${n}`,
    stop,
  };
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime+stime of a process from /proc, in µs (10 ms resolution); NaN when it is gone. */
export function procCpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS; // utime, stime (fields 14, 15)
  } catch {
    return Number.NaN;
  }
}

/** Resident memory of a process from /proc (MiB); null when it is gone. */
export function procRssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** The load options of a scenario against `sut`, with the common options applied. */
export function loadOptions(o: CommonOptions, sut: ServerUnderTest, room: string, rest: Partial<LoadOptions>): LoadOptions {
  return {
    url: sut.publicUrl,
    ...(sut.privateUrl ? { privateUrl: sut.privateUrl } : {}),
    ...(sut.urls ? { urls: sut.urls } : {}),
    ...(sut.privateUrls ? { privateUrls: sut.privateUrls } : {}),
    room,
    publishers: 1,
    subscribers: 0,
    video: true,
    audio: true,
    videoBitrate: o.videoBitrate,
    fps: o.fps,
    keyframeInterval: 2,
    duration: o.seconds,
    workers: o.workers,
    target: o.target === 'both' ? 'weever' : o.target,
    ...rest,
  };
}

export interface Row {
  scenario: string;
  target: string;
  publishers: number;
  subscribers: number;
  /** packets forwarded by the server per second (its counter; without a private API: received by the subscribers) */
  forwardedPacketsPerSecond: number;
  /** server CPU (user+system) over the window ÷ forwarded packets; null when not measured */
  serverCpuUsPerPacket: number | null;
  serverCpuPercent: number | null;
  /** the same from /proc/<pid>/stat (10 ms resolution) */
  procCpuPercent: number | null;
  /** the load clients' CPU, % of a core: near 100 % the clients, not the server, are the limit */
  clientCpuPercent: number;
  /** publisher → server (null: unknown without a private API) */
  inputLossPercent: number | null;
  /** at the subscribers, from sequence numbers */
  lossPercent: number;
  rssMiB: number | null;
  delayP50Ms: number | null;
  delayP99Ms: number | null;
  jitterMs: number | null;
  failures: number;
  /**
   * What the subscribers' video tracks got in the window: mean kbit/s per track, and how
   * many tracks' last keyframe had each size (with simulcast layers: which layer arrived)
   */
  receivedVideo?: { kbitPerTrack: number; paddingPacketsPerTrack: number; keyframeSizes: Record<string, number> };
  /** what one subscriber received in the window, all its tracks: mean kbit/s */
  downlinkKbitPerSubscriber?: number;
}

/** Waits (bounded) until every connected subscriber gets packets. */
export async function waitReceiving(run: LoadRun): Promise<void> {
  await waitFor(
    'every subscriber receiving',
    async () => {
      const t = await run.totals({ tracks: true });
      const receiving = new Set((t.tracks ?? []).filter((x) => x.packets > 0).map((x) => x.subscriber));
      return receiving.size >= t.subscribers;
    },
    30_000,
    200,
  );
}

/**
 * Waits (bounded: `timeoutMs`, then goes on) until every subscriber's video track has had a
 * keyframe `width` wide as its last one:
 * with simulcast, every subscriber gets the top layer (its allocation settled). False on timeout.
 */
export async function waitKeyframeWidth(run: LoadRun, width: number, timeoutMs: number): Promise<boolean> {
  try {
    await waitFor(
      `every subscriber on the ${width}-wide layer`,
      async () => {
        const t = await run.totals({ tracks: true });
        const video = (t.tracks ?? []).filter((x) => x.kind === 'video');
        return video.length >= t.subscribers && video.every((x) => x.width === width);
      },
      timeoutMs,
      200,
    );
    return true;
  } catch {
    return false;
  }
}

/** Waits until every subscriber receives (and `settled`, if given), warms up, measures a window. */
export async function steadyWindow(
  run: LoadRun,
  sut: ServerUnderTest,
  o: CommonOptions,
  scenario: string,
  settled?: (run: LoadRun) => Promise<unknown>,
): Promise<{ row: Row; report: LoadReport }> {
  await waitReceiving(run);
  await settled?.(run);
  await sleep(o.warmup * 1000);
  const pids = run.clientPids();
  const c0 = pids.reduce((a, p) => a + procCpuMicros(p), 0);
  const tracks0 = (await run.totals({ tracks: true })).tracks ?? [];
  const serverPids = sut.pids ?? (sut.pid ? [sut.pid] : []);
  const serverCpu = () => (serverPids.length > 0 ? serverPids.reduce((a, p) => a + procCpuMicros(p), 0) : Number.NaN);
  const p0 = serverCpu();
  const report = await run.measure(o.seconds);
  const p1 = serverCpu();
  const c1 = pids.reduce((a, p) => a + procCpuMicros(p), 0);
  const tracks1 = (await run.totals({ tracks: true })).tracks ?? [];
  const kinds = [report.video, report.audio].filter((k) => k !== undefined);
  const received = kinds.reduce((a, k) => a + k.receivedPacketsPerSecond, 0);
  const forwarded = report.server?.forwardedPacketsPerSecond ?? Math.round(received);
  const procPercent = Number.isNaN(p1 - p0) ? null : Number((((p1 - p0) / (report.seconds * 1e6)) * 100).toFixed(1));
  let cpuUs: number | null = report.server?.cpuUsPerForwardedPacket ?? null;
  if (cpuUs === null && procPercent !== null) cpuUs = Number(((p1 - p0) / Math.max(1, forwarded * report.seconds)).toFixed(2));
  const main = report.video ?? report.audio;
  const row: Row = {
    scenario,
    target: report.target,
    publishers: report.publishers.connected,
    subscribers: report.subscribers.connected,
    forwardedPacketsPerSecond: forwarded,
    serverCpuUsPerPacket: cpuUs,
    serverCpuPercent: report.server?.cpuPercent ?? procPercent,
    procCpuPercent: procPercent,
    clientCpuPercent: Number((((c1 - c0) / (report.seconds * 1e6)) * 100).toFixed(1)),
    inputLossPercent: report.inputLossPercent,
    lossPercent: report.outputLossPercent,
    rssMiB: report.server?.rssMiB ?? (sut.pid ? procRssMiB(sut.pid) : null),
    delayP50Ms: main?.delayMs?.p50 ?? null,
    delayP99Ms: main?.delayMs?.p99 ?? null,
    jitterMs: main?.jitterMsMean ?? null,
    failures: report.failures.length,
  };
  if (row.subscribers > 0 && tracks1.length > 0) {
    let all = 0;
    for (const t of tracks1) all += t.bytes - (tracks0.find((x) => x.subscriber === t.subscriber && x.ssrc === t.ssrc)?.bytes ?? 0);
    row.downlinkKbitPerSubscriber = Math.round((all * 8) / 1000 / report.seconds / row.subscribers);
  }
  const video1 = tracks1.filter((t) => t.kind === 'video');
  if (video1.length > 0) {
    const sizes: Record<string, number> = {};
    let bytes = 0;
    let padding = 0;
    for (const t of video1) {
      const size = t.width > 0 ? `${t.width}x${t.height}` : 'none';
      sizes[size] = (sizes[size] ?? 0) + 1;
      const before = tracks0.find((x) => x.subscriber === t.subscriber && x.ssrc === t.ssrc);
      bytes += t.bytes - (before?.bytes ?? 0);
      padding += t.paddingPackets - (before?.paddingPackets ?? 0);
    }
    row.receivedVideo = {
      kbitPerTrack: Math.round((bytes * 8) / 1000 / report.seconds / video1.length),
      paddingPacketsPerTrack: Math.round(padding / video1.length),
      keyframeSizes: sizes,
    };
  }
  return { row, report };
}

const cell = (x: unknown) => (x === null || x === undefined ? '–' : String(x));

export function printRows(title: string, sut: ServerUnderTest, rows: Row[]): void {
  console.log(`\n${title}`);
  console.log(`machine: ${machine()}`);
  console.log(sut.pinned ? 'server pinned to core 0, clients to core 1' : 'no pinning (server given by --url, or one core)');
  console.log(
    '| target | pub | sub | forwarded pkt/s | server CPU µs/pkt | server CPU % | (/proc) | clients CPU % | input loss % | loss % | delay p50 ms | p99 ms | jitter ms | RSS MiB | failed |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${[
        r.target,
        r.publishers,
        r.subscribers,
        r.forwardedPacketsPerSecond,
        r.serverCpuUsPerPacket,
        r.serverCpuPercent,
        r.procCpuPercent,
        r.clientCpuPercent,
        r.inputLossPercent,
        r.lossPercent,
        r.delayP50Ms,
        r.delayP99Ms,
        r.jitterMs,
        r.rssMiB,
        r.failures,
      ]
        .map(cell)
        .join(' | ')} |`,
    );
  }
  for (const r of rows) {
    const v = r.receivedVideo;
    if (!v) continue;
    const sizes = Object.entries(v.keyframeSizes)
      .map(([size, n]) => `${size} ×${n}`)
      .join(', ');
    console.log(
      `${r.target} N=${r.subscribers}: video per track ${v.kbitPerTrack} kbit/s (RTP bytes, probe padding included), ${v.paddingPacketsPerTrack} padding packets in the window, last keyframe size: ${sizes}${r.downlinkKbitPerSubscriber !== undefined ? `; downlink per subscriber ${r.downlinkKbitPerSubscriber} kbit/s` : ''}`,
    );
  }
}

/** Progress of a scenario step on stderr. */
export function note(s: string): void {
  process.stderr.write(`${s}\n`);
}
