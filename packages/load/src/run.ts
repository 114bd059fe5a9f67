/**
 * The load run: spreads publishers and subscribers over shards (this process, or worker
 * processes), connects publishers first (a Janus subscriber only gets the feeds present
 * when it joins), then subscribers, lets media flow, and adds the shards' counters up.
 * Input loss (publisher → server) comes from the server's per-publisher receive counters
 * (`/debug/traffic/{room}` on the private API) when a private URL is given.
 */
import type { ClientsConfig, ShardSnapshot, SnapshotDetail } from './clients.js';
import { LoadClients } from './clients.js';
import { addSnapshots, type LoadReport, pct, report, type Totals } from './report.js';
import { LocalShard, ProcessShard, type Shard } from './shards.js';
import type { Kind } from './target.js';
import type { TargetName } from './targets.js';
import { RETRY_SUFFIX } from './weever-target.js';

export type { KindReport, LoadReport, Totals } from './report.js';

export interface LoadOptions {
  url: string;
  /** subscribers join here instead of `url` (cross-instance: another instance of the cluster) */
  subscribeUrl?: string;
  /** private API of our server: input loss and server CPU */
  privateUrl?: string;
  /** several instances of one cluster: participant i joins `urls[i mod n]` (ClientsConfig.urls) */
  urls?: string[];
  /** their private APIs: the server counters are the sum over them */
  privateUrls?: string[];
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
  /** VP8 simulcast layers per publisher (the top one at `videoBitrate`); 1 or absent: one stream */
  layers?: number;
  /** subscribers send RTCP receiver reports (every second per track) */
  receiverReports?: boolean;
  /** conference only: each participant subscribes to `top` others at full quality and `low` at the smallest layer */
  manual?: { top: number; low: number };
}

export const publisherId = (o: Pick<LoadOptions, 'conference'>, i: number) => (o.conference ? `p${i}+pub` : `pub${i}`);
export const subscriberId = (o: Pick<LoadOptions, 'conference'>, i: number) => (o.conference ? `p${i}+sub` : `sub${i}`);

/** Connects `ids` round-robin over the shards (id i to shard i mod n), all shards at once. */
async function dealOut(shards: Shard[], call: 'publish' | 'subscribe', ids: string[]): Promise<void> {
  const share = (w: number) => ids.filter((_, i) => i % shards.length === w);
  await Promise.all(shards.map((s, w) => s.call(call, share(w))));
}

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
      ...(o.urls ? { urls: o.urls } : {}),
      room: o.room,
      video: o.video ? { bitrate: o.videoBitrate, fps: o.fps, keyframeInterval: o.keyframeInterval } : null,
      audio: o.audio,
      concurrency: o.concurrency ?? 4,
      ...(o.layers && o.layers > 1 ? { layers: o.layers } : {}),
      ...(o.receiverReports ? { receiverReports: true } : {}),
      ...(o.manual && o.conference ? { manual: { participants: o.publishers, ...o.manual } } : {}),
    };
    const shards: Shard[] =
      o.workers <= 1
        ? [new LocalShard(await LoadClients.create(cfg))]
        : await Promise.all(Array.from({ length: o.workers }, () => ProcessShard.start(cfg)));
    const run = new LoadRun(o, shards);
    if (o.progress) run.startProgress();
    const pubs = Array.from({ length: o.publishers }, (_, i) => publisherId(o, i));
    const subs = Array.from({ length: o.conference ? o.publishers : o.subscribers }, (_, i) => subscriberId(o, i));
    await dealOut(shards, 'publish', pubs);
    await dealOut(shards, 'subscribe', subs);
    return run;
  }

  /** Connects `n` more subscribers (ids continue), spread over the shards; returns their ids. */
  async addSubscribers(n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, () => subscriberId(this.o, this.nextSubscriber++));
    await dealOut(this.shards, 'subscribe', ids);
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

  /** The private APIs whose counters are added up: every instance's, or the one. */
  private privateUrls(): string[] {
    return this.o.privateUrls ?? (this.o.privateUrl ? [this.o.privateUrl] : []);
  }

  private async serverReceived(): Promise<Record<Kind, number> | undefined> {
    const urls = this.privateUrls();
    if (urls.length === 0) return undefined;
    try {
      const out = { audio: 0, video: 0 };
      // each instance counts the publishers connected to it
      for (const url of urls) {
        const r = await fetch(`${url}/debug/traffic/${encodeURIComponent(this.o.room)}`, { signal: AbortSignal.timeout(5000) });
        if (!r.ok) return undefined;
        const j = (await r.json()) as { publishers: Record<string, { audio: number; video: number }> };
        for (const [id, c] of Object.entries(j.publishers)) {
          // `<id>-2`, `<id>-3`: a connection retried after a client-side race (weever-target.ts)
          if (!this.publisherIds.has(id.replace(RETRY_SUFFIX, ''))) continue;
          out.audio += c.audio;
          out.video += c.video;
        }
      }
      return out;
    } catch {
      return undefined;
    }
  }

  private async serverResources(): Promise<Totals['server']> {
    const urls = this.privateUrls();
    if (urls.length === 0) return undefined;
    try {
      const sum = { cpuMicros: 0, forwardedPackets: 0, rssBytes: 0 };
      for (const url of urls) {
        const r = await fetch(`${url}/debug/resources`, { signal: AbortSignal.timeout(5000) });
        if (!r.ok) return undefined;
        const j = (await r.json()) as { cpuMicros: number; traffic: { forwardedPackets: number }; rssBytes: number };
        sum.cpuMicros += j.cpuMicros;
        sum.forwardedPackets += j.traffic.forwardedPackets;
        sum.rssBytes += j.rssBytes;
      }
      return sum;
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
