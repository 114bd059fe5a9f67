/**
 * The load run: spreads publishers and subscribers over shards (this process, or worker
 * processes), connects publishers first (a Janus subscriber only gets the feeds present
 * when it joins), then subscribers, lets media flow, and adds the shards' counters up.
 * Input loss (publisher → server) comes from the server's per-publisher receive counters
 * (`/debug/traffic/{room}` on the private API) when a private URL is given.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ClientsConfig, JoinTiming, KindSnapshot, ShardSnapshot, SnapshotDetail, TrackDetail } from './clients.js';
import { LoadClients } from './clients.js';
import { DelayHistogram, HISTOGRAM_BINS } from './stats.js';
import type { Kind } from './target.js';
import type { TargetName } from './targets.js';
import { RETRY_SUFFIX } from './weever-target.js';
import type { Call } from './worker.js';

export interface LoadOptions {
  url: string;
  /** subscribers join here instead of `url` (cross-instance: another instance of the cluster) */
  subscribeUrl?: string;
  /** private API of our server: input loss and server CPU */
  privateUrl?: string;
  room: string;
  publishers: number;
  subscribers: number;
  video: boolean;
  audio: boolean;
  /** bit/s */
  videoBitrate: number;
  fps: number;
  /** seconds; 0: keyframes only when requested */
  keyframeInterval: number;
  /** seconds of media after everyone connected */
  duration: number;
  /** 1: clients in this process; more: that many worker processes */
  workers: number;
  target: TargetName;
  /** connections opened at the same time per shard */
  concurrency?: number;
  /** each participant publishes and subscribes (ids p<i>+pub / p<i>+sub: no own media back) */
  conference?: boolean;
  /** progress line on stderr once per second */
  progress?: boolean;
}

interface Shard {
  readonly pid: number;
  call<T>(op: Exclude<Call['op'], 'init'>, ...args: unknown[]): Promise<T>;
  terminate(): Promise<void>;
}

class LocalShard implements Shard {
  readonly pid = process.pid;
  constructor(private readonly clients: LoadClients) {}
  async call<T>(op: Exclude<Call['op'], 'init'>, ...args: unknown[]): Promise<T> {
    const fn = this.clients[op] as (...a: unknown[]) => unknown;
    return (await fn.apply(this.clients, args)) as T;
  }
  async terminate(): Promise<void> {}
}

/** A child process running src/load/worker.ts (see there why not a worker thread). */
class ProcessShard implements Shard {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly pid: number;
  private constructor(private readonly child: ChildProcess) {
    this.pid = child.pid!;
    child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`load worker exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  static async start(cfg: ClientsConfig): Promise<ProcessShard> {
    // 'advanced' serialization: snapshots carry typed arrays (delay histograms)
    const child = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [], { serialization: 'advanced', stdio: 'inherit' });
    const shard = new ProcessShard(child);
    await shard.call('init', cfg);
    return shard;
  }

  call<T>(op: Call['op'], ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.child.connected) return reject(new Error('load worker is gone'));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  async terminate(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/** The shards' snapshots added up. */
export interface Totals {
  at: number;
  publishers: number;
  subscribers: number;
  failures: string[];
  keyframeRequests: number;
  keyframesSent: number;
  audio: KindSnapshot;
  video: KindSnapshot;
  tracks?: TrackDetail[];
  joins?: JoinTiming[];
  /** server's packets received from our publishers, per kind (private API) */
  serverReceived?: Record<Kind, number>;
  server?: { cpuMicros: number; forwardedPackets: number; rssBytes: number };
}

function addKind(a: KindSnapshot, b: KindSnapshot): KindSnapshot {
  const out: KindSnapshot = {
    sentPackets: a.sentPackets + b.sentPackets,
    sentBytes: a.sentBytes + b.sentBytes,
    tracks: a.tracks + b.tracks,
    packets: a.packets + b.packets,
    bytes: a.bytes + b.bytes,
    expected: a.expected + b.expected,
    lost: a.lost + b.lost,
    duplicates: a.duplicates + b.duplicates,
    keyframes: a.keyframes + b.keyframes,
    jitterMsSum: a.jitterMsSum + b.jitterMsSum,
    jitterMsMax: Math.max(a.jitterMsMax, b.jitterMsMax),
  };
  if (a.delay || b.delay) {
    const h = new DelayHistogram(a.delay ? Uint32Array.from(a.delay) : new Uint32Array(HISTOGRAM_BINS));
    if (b.delay) h.merge(b.delay);
    out.delay = h.bins;
  }
  return out;
}

const EMPTY_KIND: KindSnapshot = {
  sentPackets: 0,
  sentBytes: 0,
  tracks: 0,
  packets: 0,
  bytes: 0,
  expected: 0,
  lost: 0,
  duplicates: 0,
  keyframes: 0,
  jitterMsSum: 0,
  jitterMsMax: 0,
};

export function addSnapshots(snaps: ShardSnapshot[]): Omit<Totals, 'at'> {
  const t: Omit<Totals, 'at'> = {
    publishers: 0,
    subscribers: 0,
    failures: [],
    keyframeRequests: 0,
    keyframesSent: 0,
    audio: { ...EMPTY_KIND },
    video: { ...EMPTY_KIND },
  };
  for (const s of snaps) {
    t.publishers += s.publishers;
    t.subscribers += s.subscribers;
    t.failures.push(...s.failures);
    t.keyframeRequests += s.keyframeRequests;
    t.keyframesSent += s.keyframesSent;
    t.audio = addKind(t.audio, s.audio);
    t.video = addKind(t.video, s.video);
    if (s.tracks) (t.tracks ??= []).push(...s.tracks);
    if (s.joins) (t.joins ??= []).push(...s.joins);
  }
  return t;
}

export interface KindReport {
  sentPackets: number;
  sentPacketsPerSecond: number;
  /** received by the server from our publishers (null: unknown, no private URL) */
  serverReceivedPackets: number | null;
  /** publisher → server */
  inputLossPercent: number | null;
  receivedPackets: number;
  receivedPacketsPerSecond: number;
  /** at the subscribers, from sequence numbers: includes the input loss */
  outputLossPercent: number;
  duplicates: number;
  jitterMsMean: number;
  jitterMsMax: number;
  delayMs: { p50: number; p95: number; p99: number } | null;
  keyframes: number;
}

export interface LoadReport {
  target: string;
  room: string;
  seconds: number;
  publishers: { requested: number; connected: number };
  subscribers: { requested: number; connected: number };
  failures: string[];
  audio?: KindReport;
  video?: KindReport;
  /** all kinds together */
  inputLossPercent: number | null;
  outputLossPercent: number;
  receivedPacketsPerSecond: number;
  keyframeRequests: number;
  keyframesSent: number;
  server?: { cpuPercent: number; cpuUsPerForwardedPacket: number; forwardedPacketsPerSecond: number; rssMiB: number };
  tracks?: TrackDetail[];
  joins?: JoinTiming[];
}

const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
const pct = (part: number, whole: number) => (whole > 0 ? round((100 * part) / whole, 3) : 0);

function sub(a: KindSnapshot, b: KindSnapshot | undefined): KindSnapshot {
  if (!b) return a;
  const out: KindSnapshot = {
    ...a,
    sentPackets: a.sentPackets - b.sentPackets,
    sentBytes: a.sentBytes - b.sentBytes,
    packets: a.packets - b.packets,
    bytes: a.bytes - b.bytes,
    expected: a.expected - b.expected,
    lost: a.lost - b.lost,
    duplicates: a.duplicates - b.duplicates,
    keyframes: a.keyframes - b.keyframes,
  };
  if (a.delay && b.delay) out.delay = new DelayHistogram(a.delay).since(b.delay).bins;
  return out;
}

/** The report of the window from `start` (or the beginning) to `end`. */
export function report(o: LoadOptions, end: Totals, start?: Totals): LoadReport {
  const seconds = start ? (end.at - start.at) / 1000 : o.duration;
  const kinds: Kind[] = [];
  if (o.audio) kinds.push('audio');
  if (o.video) kinds.push('video');
  const r: LoadReport = {
    target: o.target,
    room: o.room,
    seconds: round(seconds, 1),
    publishers: { requested: o.publishers, connected: end.publishers },
    subscribers: { requested: o.conference ? o.publishers : o.subscribers, connected: end.subscribers },
    failures: end.failures.slice(0, 20),
    inputLossPercent: null,
    outputLossPercent: 0,
    receivedPacketsPerSecond: 0,
    keyframeRequests: end.keyframeRequests - (start?.keyframeRequests ?? 0),
    keyframesSent: end.keyframesSent - (start?.keyframesSent ?? 0),
  };
  let sent = 0;
  let serverIn = 0;
  let expected = 0;
  let lost = 0;
  let received = 0;
  for (const k of kinds) {
    const w = sub(end[k], start?.[k]);
    const inServer = end.serverReceived ? end.serverReceived[k] - (start?.serverReceived?.[k] ?? 0) : null;
    const h = w.delay ? new DelayHistogram(w.delay) : undefined;
    r[k] = {
      sentPackets: Math.round(w.sentPackets),
      sentPacketsPerSecond: round(w.sentPackets / seconds, 1),
      serverReceivedPackets: inServer,
      inputLossPercent: inServer === null ? null : pct(Math.max(0, w.sentPackets - inServer), w.sentPackets),
      receivedPackets: w.packets,
      receivedPacketsPerSecond: round(w.packets / seconds, 1),
      outputLossPercent: pct(Math.max(0, w.lost), w.expected),
      duplicates: w.duplicates,
      jitterMsMean: round(end[k].tracks ? end[k].jitterMsSum / end[k].tracks : 0, 3),
      jitterMsMax: round(end[k].jitterMsMax, 3),
      delayMs:
        h && h.count > 0 ? { p50: round(h.percentile(50), 3), p95: round(h.percentile(95), 3), p99: round(h.percentile(99), 3) } : null,
      keyframes: w.keyframes,
    };
    sent += w.sentPackets;
    serverIn += inServer ?? 0;
    expected += w.expected;
    lost += Math.max(0, w.lost);
    received += w.packets;
  }
  r.inputLossPercent = end.serverReceived ? pct(Math.max(0, sent - serverIn), sent) : null;
  r.outputLossPercent = pct(lost, expected);
  r.receivedPacketsPerSecond = round(received / seconds, 1);
  if (end.server && start?.server) {
    const cpu = end.server.cpuMicros - start.server.cpuMicros;
    const fwd = end.server.forwardedPackets - start.server.forwardedPackets;
    r.server = {
      cpuPercent: round((cpu / (seconds * 1e6)) * 100, 1),
      cpuUsPerForwardedPacket: round(cpu / Math.max(1, fwd)),
      forwardedPacketsPerSecond: Math.round(fwd / seconds),
      rssMiB: Math.round(end.server.rssBytes / 2 ** 20),
    };
  }
  if (end.tracks) r.tracks = end.tracks;
  if (end.joins) r.joins = end.joins;
  return r;
}

export const publisherId = (o: Pick<LoadOptions, 'conference'>, i: number) => (o.conference ? `p${i}+pub` : `pub${i}`);
export const subscriberId = (o: Pick<LoadOptions, 'conference'>, i: number) => (o.conference ? `p${i}+sub` : `sub${i}`);

export class LoadRun {
  private progressTimer: NodeJS.Timeout | undefined;
  private readonly publisherIds: Set<string>;
  private nextSubscriber: number;
  private baseline: Totals | undefined;

  private constructor(
    readonly o: LoadOptions,
    private readonly shards: Shard[],
  ) {
    this.publisherIds = new Set(Array.from({ length: o.publishers }, (_, i) => publisherId(o, i)));
    this.nextSubscriber = o.conference ? o.publishers : o.subscribers;
  }

  /** Creates the shards and connects everyone; media flows when it resolves. */
  static async start(o: LoadOptions): Promise<LoadRun> {
    const cfg: ClientsConfig = {
      target: o.target,
      url: o.url,
      ...(o.subscribeUrl ? { subscribeUrl: o.subscribeUrl } : {}),
      room: o.room,
      video: o.video ? { bitrate: o.videoBitrate, fps: o.fps, keyframeInterval: o.keyframeInterval } : null,
      audio: o.audio,
      concurrency: o.concurrency ?? 4,
    };
    const shards: Shard[] =
      o.workers <= 1
        ? [new LocalShard(await LoadClients.create(cfg))]
        : await Promise.all(Array.from({ length: o.workers }, () => ProcessShard.start(cfg)));
    const run = new LoadRun(o, shards);
    if (o.progress) run.startProgress();
    const spread = (n: number, id: (i: number) => string) =>
      shards.map((_, w) =>
        Array.from({ length: n }, (_, i) => i)
          .filter((i) => i % shards.length === w)
          .map(id),
      );
    const pubs = spread(o.publishers, (i) => publisherId(o, i));
    await Promise.all(shards.map((s, w) => s.call('publish', pubs[w])));
    const subs = spread(o.conference ? o.publishers : o.subscribers, (i) => subscriberId(o, i));
    await Promise.all(shards.map((s, w) => s.call('subscribe', subs[w])));
    return run;
  }

  /** Connects `n` more subscribers (ids continue), spread over the shards; returns their ids. */
  async addSubscribers(n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, () => subscriberId(this.o, this.nextSubscriber++));
    const share = (w: number) => ids.filter((_, i) => i % this.shards.length === w);
    await Promise.all(this.shards.map((s, w) => s.call('subscribe', share(w))));
    return ids;
  }

  /** Everyone's counters now (and the server's, with a private URL). */
  async totals(detail: SnapshotDetail = {}): Promise<Totals> {
    const [snaps, serverReceived, server] = await Promise.all([
      Promise.all(this.shards.map((s) => s.call<ShardSnapshot>('snapshot', detail))),
      this.serverReceived(),
      this.serverResources(),
    ]);
    const t: Totals = { at: performance.now(), ...addSnapshots(snaps) };
    if (serverReceived) {
      t.serverReceived = serverReceived;
      // The server read its counters somewhere between our two reads of the sent counters:
      // compare with their mean, or a window's edges would show packets in flight as loss.
      const after = addSnapshots(await Promise.all(this.shards.map((s) => s.call<ShardSnapshot>('snapshot', {}))));
      for (const k of ['audio', 'video'] as const) t[k].sentPackets = (t[k].sentPackets + after[k].sentPackets) / 2;
    }
    if (server) t.server = server;
    return t;
  }

  private async serverReceived(): Promise<Record<Kind, number> | undefined> {
    if (!this.o.privateUrl) return undefined;
    try {
      const r = await fetch(`${this.o.privateUrl}/debug/traffic/${encodeURIComponent(this.o.room)}`, { signal: AbortSignal.timeout(5000) });
      if (!r.ok) return undefined;
      const j = (await r.json()) as { publishers: Record<string, { audio: number; video: number }> };
      const out = { audio: 0, video: 0 };
      for (const [id, c] of Object.entries(j.publishers)) {
        // `<id>-2`, `<id>-3`: a connection retried after a client-side race (weever-target.ts)
        if (!this.publisherIds.has(id.replace(RETRY_SUFFIX, ''))) continue;
        out.audio += c.audio;
        out.video += c.video;
      }
      return out;
    } catch {
      return undefined;
    }
  }

  private async serverResources(): Promise<Totals['server']> {
    if (!this.o.privateUrl) return undefined;
    try {
      const r = await fetch(`${this.o.privateUrl}/debug/resources`, { signal: AbortSignal.timeout(5000) });
      if (!r.ok) return undefined;
      const j = (await r.json()) as { cpuMicros: number; traffic: { forwardedPackets: number }; rssBytes: number };
      return { cpuMicros: j.cpuMicros, forwardedPackets: j.traffic.forwardedPackets, rssBytes: j.rssBytes };
    } catch {
      return undefined;
    }
  }

  /** The report of the next `seconds` (a steady-state window); media keeps flowing. */
  async measure(seconds: number): Promise<LoadReport> {
    const start = await this.totals({ delays: true });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return report(this.o, await this.totals({ delays: true }), start);
  }

  /** Process ids running the clients (this one, or the worker processes): their CPU is the load side's. */
  clientPids(): number[] {
    return this.shards.map((s) => s.pid);
  }

  /** Marks the start of the measured window of `finish()` (default: when media started). */
  async markWindow(): Promise<Totals> {
    this.baseline = await this.totals({ delays: true });
    return this.baseline;
  }

  private startProgress(): void {
    let last: Totals | undefined;
    const t0 = performance.now();
    let busy = false;
    this.progressTimer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const t = await this.totals();
        const s = (t.at - t0) / 1000;
        const dt = last ? (t.at - last.at) / 1000 : 1;
        const rx = t.audio.packets + t.video.packets - (last ? last.audio.packets + last.video.packets : 0);
        const tx = t.audio.sentPackets + t.video.sentPackets - (last ? last.audio.sentPackets + last.video.sentPackets : 0);
        const expected = t.audio.expected + t.video.expected;
        const lost = t.audio.lost + t.video.lost;
        const requestedSubs = this.o.conference ? this.o.publishers : this.o.subscribers;
        process.stderr.write(
          `[${s.toFixed(0).padStart(4)} s] connected: ${t.publishers}/${this.o.publishers} pub, ${t.subscribers}/${requestedSubs} sub` +
            ` | sent ${Math.round(tx / dt)} pkt/s, received ${Math.round(rx / dt)} pkt/s | loss ${pct(lost, expected).toFixed(2)} %` +
            (t.failures.length ? ` | ${t.failures.length} failed` : '') +
            '\n',
        );
        last = t;
      } catch {
        // a worker gone: the run is ending
      } finally {
        busy = false;
      }
    }, 1000);
  }

  /**
   * Stops the media, waits for packets in flight, reads the final counters (before closing:
   * the server forgets a publisher's counters when it leaves), closes everything.
   */
  async finish(detail: SnapshotDetail = { tracks: true }): Promise<LoadReport> {
    clearInterval(this.progressTimer);
    await Promise.all(this.shards.map((s) => s.call('stopSending')));
    const stoppedAt = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    // rates are per second of sending, not of sending + the wait for packets in flight
    const end = { ...(await this.totals({ ...detail, delays: true })), at: stoppedAt };
    await this.close();
    return report(this.o, end, this.baseline);
  }

  async close(): Promise<void> {
    clearInterval(this.progressTimer);
    await Promise.allSettled(this.shards.map((s) => s.call('close')));
    await Promise.allSettled(this.shards.map((s) => s.terminate()));
  }
}

/** The whole run: connect, `duration` seconds of media, report. */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const run = await LoadRun.start(o);
  try {
    await run.markWindow();
    await new Promise((r) => setTimeout(r, o.duration * 1000));
    return await run.finish();
  } catch (err) {
    await run.close();
    throw err;
  }
}
