/**
 * The load clients of one thread: one target, its publishers (media sources driven by
 * one 5 ms timer) and subscribers (recorders). Snapshots are plain data, so a worker
 * can post them and the runner can add them up.
 */

import { randomSsrc } from 'weever-rtp';
import { nowMs } from './media.js';
import { type DelayHistograms, RR_BYTES, SubscriberRecorder, writeReceiverReportOf } from './recorder.js';
import { layerShapes, OpusSource, SimulcastVp8Source, type VideoShape, Vp8Source } from './source.js';
import { DelayHistogram } from './stats.js';
import type { Kind, PublisherConnection, SubscriberConnection, Target } from './target.js';
import { createTarget, type TargetName } from './targets.js';

export interface ClientsConfig {
  target: TargetName;
  url: string;
  /** subscribers join here instead of `url` */
  subscribeUrl?: string;
  /** several instances of one cluster: participant i (the number in its id) joins `urls[i mod n]`, publisher and subscriber alike */
  urls?: string[];
  room: string;
  /** null: publishers send no video */
  video: VideoShape | null;
  audio: boolean;
  /** connections opened at the same time by this thread */
  concurrency: number;
  /** VP8 simulcast layers per publisher (SSRCs in a SIM group, `layerShapes`: the top one is `video`); 1 or absent: one stream */
  layers?: number;
  /** subscribers send an RTCP receiver report per received track every second, as browsers do */
  receiverReports?: boolean;
  /** conference with manual subscription: see `manualChoice` */
  manual?: ManualConference;
}

/**
 * A conference where each participant receives only some others, as a paged grid does:
 * participant i subscribes to the `top` participants after it (i+1 …) at the quality its
 * path carries, and to the `low` ones after those at their smallest layer (VIDEO_QUALITY low).
 */
export interface ManualConference {
  participants: number;
  top: number;
  low: number;
}

/** What subscriber `p<i>+sub` of a manual conference takes of publisher `p<j>+pub`. */
export function manualChoice(m: ManualConference, subscriberId: string): (pubFullId: string) => 'high' | 'low' | undefined {
  const i = Number(/^p(\d+)\+sub/.exec(subscriberId)?.[1] ?? Number.NaN);
  return (pub) => {
    const j = Number(/^p(\d+)\+pub/.exec(pub)?.[1] ?? Number.NaN);
    if (!Number.isInteger(i) || !Number.isInteger(j)) return undefined;
    const d = (j - i + m.participants) % m.participants;
    if (d === 0) return undefined;
    return d <= m.top ? 'high' : d <= m.top + m.low ? 'low' : undefined;
  };
}

/** A kind's counters at zero. */
export function emptyKindSnapshot(): KindSnapshot {
  return {
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
}

export interface KindSnapshot {
  sentPackets: number;
  sentBytes: number;
  /** received tracks (subscriber × publisher track) */
  tracks: number;
  packets: number;
  bytes: number;
  expected: number;
  lost: number;
  duplicates: number;
  keyframes: number;
  jitterMsSum: number;
  jitterMsMax: number;
  /** delay histogram bins (stats.ts), when asked for */
  delay?: Uint32Array;
}

export interface TrackDetail {
  subscriber: string;
  kind: Kind;
  ssrc: number;
  packets: number;
  lost: number;
  lossPercent: number;
  jitterMs: number;
  keyframes: number;
  bytes: number;
  /** of `packets`: with the padding bit (probes) */
  paddingPackets: number;
  /** dimensions of the last keyframe received (0: none): a simulcast layer's size */
  width: number;
  height: number;
}

export interface JoinTiming {
  subscriber: string;
  /** ms from the start of the join to the first RTP packet / first keyframe; -1: none yet */
  firstPacketMs: number;
  firstKeyframeMs: number;
}

export interface ShardSnapshot {
  publishers: number;
  subscribers: number;
  failures: string[];
  keyframeRequests: number;
  keyframesSent: number;
  audio: KindSnapshot;
  video: KindSnapshot;
  tracks?: TrackDetail[];
  joins?: JoinTiming[];
}

export interface SnapshotDetail {
  delays?: boolean;
  tracks?: boolean;
  joins?: boolean;
}

interface Sending {
  connection: PublisherConnection;
  startedAt: number;
  video?: Vp8Source | SimulcastVp8Source;
  audio?: OpusSource;
}

interface Receiving {
  connection: SubscriberConnection;
  recorder: SubscriberRecorder;
  /** sender SSRC of its receiver reports */
  rtcpSsrc: number;
}

const TICK_MS = 5;
/** Chromium sends a receiver report about every second at these rates. */
const REPORT_MS = 1000;

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

export class LoadClients {
  private readonly sending: Sending[] = [];
  private readonly receiving: Receiving[] = [];
  private readonly failures: string[] = [];
  private readonly delays: DelayHistograms = { audio: new DelayHistogram(), video: new DelayHistogram() };
  private timer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly rr = Buffer.alloc(RR_BYTES);
  private stopped = false;

  private constructor(
    private readonly cfg: ClientsConfig,
    private readonly target: Target,
    private readonly subscribeTarget: Target,
    /** one per instance of `cfg.urls` */
    private readonly spread: Target[],
  ) {}

  static async create(cfg: ClientsConfig): Promise<LoadClients> {
    const target = await createTarget(cfg.target, cfg.url);
    const subscribeTarget = cfg.subscribeUrl ? await createTarget(cfg.target, cfg.subscribeUrl) : target;
    const spread = cfg.urls && cfg.urls.length > 1 ? await Promise.all(cfg.urls.map((u) => createTarget(cfg.target, u))) : [];
    return new LoadClients(cfg, target, subscribeTarget, spread);
  }

  /** The instance participant `id` joins: by the number in its id over `urls`, else the one target. */
  private targetOf(id: string, fallback: Target): Target {
    if (this.spread.length === 0) return fallback;
    const n = Number(/\d+/.exec(id)?.[0] ?? 0);
    return this.spread[n % this.spread.length]!;
  }

  /** Connects publishers `ids` and starts their media; failures are recorded, not thrown. */
  async publish(ids: string[]): Promise<void> {
    const layers = this.cfg.layers ?? 1;
    const media = { audio: this.cfg.audio, video: this.cfg.video !== null, layers };
    await pool(ids, this.cfg.concurrency, async (id) => {
      try {
        const connection = await this.targetOf(id, this.target).publish(this.cfg.room, id, media);
        if (this.stopped) return void (await connection.close());
        const s: Sending = { connection, startedAt: nowMs() };
        if (connection.videoLayers && this.cfg.video) {
          const v = new SimulcastVp8Source(connection.videoLayers, layerShapes(this.cfg.video, connection.videoLayers.length));
          connection.onKeyframeRequest((ssrc) => v.requestKeyframe(ssrc));
          s.video = v;
        } else if (connection.video && this.cfg.video) {
          const v = new Vp8Source(connection.video, this.cfg.video);
          connection.onKeyframeRequest(() => v.requestKeyframe());
          s.video = v;
        }
        if (connection.audio) s.audio = new OpusSource(connection.audio);
        this.sending.push(s);
        this.tick();
        this.timer ??= setInterval(() => this.tick(), TICK_MS);
      } catch (err) {
        this.failures.push(`publisher ${id}: ${(err as Error).message}`);
      }
    });
  }

  /** Connects subscribers `ids`; failures are recorded, not thrown. */
  async subscribe(ids: string[]): Promise<void> {
    await pool(ids, this.cfg.concurrency, async (id) => {
      const recorder = new SubscriberRecorder(id, nowMs(), this.delays);
      try {
        const choose = this.cfg.manual ? manualChoice(this.cfg.manual, id) : undefined;
        const connection = await this.targetOf(id, this.subscribeTarget).subscribe(this.cfg.room, id, choose);
        connection.onRtp((kind, p) => recorder.onRtp(kind, p));
        if (this.stopped) return void (await connection.close());
        this.receiving.push({ connection, recorder, rtcpSsrc: randomSsrc() });
        if (this.cfg.receiverReports) this.reportTimer ??= setInterval(() => this.report(), REPORT_MS);
      } catch (err) {
        this.failures.push(`subscriber ${id}: ${(err as Error).message}`);
      }
    });
  }

  private tick(): void {
    if (this.stopped) return;
    const now = nowMs();
    for (const s of this.sending) {
      const elapsed = now - s.startedAt;
      s.video?.tick(elapsed);
      s.audio?.tick(elapsed);
    }
  }

  /** One receiver report per received track of every subscriber. */
  private report(): void {
    if (this.stopped) return;
    for (const r of this.receiving) {
      const send = r.connection.sendRtcp;
      if (!send) continue;
      for (const t of r.recorder.tracks) {
        writeReceiverReportOf(t, this.rr, r.rtcpSsrc);
        send.call(r.connection, t.kind, this.rr);
      }
    }
  }

  snapshot(detail: SnapshotDetail = {}): ShardSnapshot {
    const kind = (k: Kind): KindSnapshot => {
      const out = emptyKindSnapshot();
      for (const s of this.sending) {
        const src = k === 'video' ? s.video : s.audio;
        if (src) {
          out.sentPackets += src.sent.packets;
          out.sentBytes += src.sent.bytes;
        }
      }
      for (const r of this.receiving) {
        for (const t of r.recorder.tracks) {
          if (t.kind !== k) continue;
          out.tracks++;
          out.packets += t.packets;
          out.bytes += t.bytes;
          out.expected += t.seq.expected;
          out.lost += t.seq.lost;
          out.duplicates += t.seq.duplicates;
          out.keyframes += t.keyframes;
          const j = t.jitter.ms();
          out.jitterMsSum += j;
          out.jitterMsMax = Math.max(out.jitterMsMax, j);
        }
      }
      if (detail.delays) out.delay = this.delays[k].bins.slice();
      return out;
    };
    const snap: ShardSnapshot = {
      publishers: this.sending.length,
      subscribers: this.receiving.length,
      failures: [...this.failures],
      keyframeRequests: this.sending.reduce((a, s) => a + (s.video?.keyframeRequests ?? 0), 0),
      keyframesSent: this.sending.reduce((a, s) => a + (s.video?.keyframesSent ?? 0), 0),
      audio: kind('audio'),
      video: kind('video'),
    };
    if (detail.tracks) {
      snap.tracks = this.receiving.flatMap(({ recorder }) =>
        recorder.tracks.map((t) => ({
          subscriber: recorder.id,
          kind: t.kind,
          ssrc: t.ssrc,
          packets: t.packets,
          lost: t.seq.lost,
          lossPercent: t.seq.expected ? Number(((100 * t.seq.lost) / t.seq.expected).toFixed(3)) : 0,
          jitterMs: Number(t.jitter.ms().toFixed(3)),
          keyframes: t.keyframes,
          bytes: t.bytes,
          paddingPackets: t.paddingPackets,
          width: t.keyWidth,
          height: t.keyHeight,
        })),
      );
    }
    if (detail.joins) {
      snap.joins = this.receiving.map(({ recorder: r }) => ({
        subscriber: r.id,
        firstPacketMs: r.firstPacketAt ? r.firstPacketAt - r.joinStartedAt : -1,
        firstKeyframeMs: r.firstKeyframeAt ? r.firstKeyframeAt - r.joinStartedAt : -1,
      }));
    }
    return snap;
  }

  /** Stops the media; connections stay open so late packets still arrive and counters can be read. */
  stopSending(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.reportTimer);
  }

  async close(): Promise<void> {
    this.stopSending();
    await Promise.allSettled([...this.sending.map((s) => s.connection.close()), ...this.receiving.map((r) => r.connection.close())]);
    await this.target.close();
    if (this.subscribeTarget !== this.target) await this.subscribeTarget.close();
  }
}
