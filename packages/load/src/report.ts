/** Adding up the shards' counters, and the report of a window: rates, input and output loss, jitter, delay percentiles. */
import { emptyKindSnapshot, type JoinTiming, type KindSnapshot, type ShardSnapshot, type TrackDetail } from './clients.js';
import type { LoadOptions } from './run.js';
import { DelayHistogram, HISTOGRAM_BINS } from './stats.js';
import type { Kind } from './target.js';

/** The shards' snapshots added up, at a time, with what the server said. */
export interface Totals extends ShardSnapshot {
  at: number;
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

export function addSnapshots(snaps: ShardSnapshot[]): Omit<Totals, 'at'> {
  const t: Omit<Totals, 'at'> = {
    publishers: 0,
    subscribers: 0,
    failures: [],
    keyframeRequests: 0,
    keyframesSent: 0,
    audio: emptyKindSnapshot(),
    video: emptyKindSnapshot(),
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

export const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
export const pct = (part: number, whole: number) => (whole > 0 ? round((100 * part) / whole, 3) : 0);

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
