/** `getStats()` summaries per stream, and a connection-quality hint a UI can show. */
import type { PublisherInfo } from './ids.js';

export type Quality = 'good' | 'fair' | 'poor' | 'stalled';

export interface KindStats {
  /** packets received (inbound) or sent (outbound) */
  packets: number;
  packetsLost: number;
  bytes: number;
  /** video: frames decoded (inbound) or encoded (outbound) */
  frames?: number;
  framesPerSecond?: number;
  width?: number;
  height?: number;
  /** audio: level 0..1 of the last packets (inbound) */
  audioLevel?: number;
  jitterMs?: number;
}

export interface StreamStats extends PublisherInfo {
  /** `inbound`: a remote publisher we receive; `outbound`: our own camera or screen */
  direction: 'inbound' | 'outbound';
  audio?: KindStats;
  video?: KindStats;
  /** round-trip time to the server on this stream's connection */
  rttMs?: number;
  quality: Quality;
}

/** Sums RTP stats of one report per stream, keyed by the stream's full id. */
export function collect(
  report: RTCStatsReport,
  direction: 'inbound' | 'outbound',
  streamOf: (mid: string | undefined) => string | undefined,
): { perStream: Map<string, { audio?: KindStats; video?: KindStats }>; rttMs?: number } {
  const perStream = new Map<string, { audio?: KindStats; video?: KindStats }>();
  let rttMs: number | undefined;
  const type = direction === 'inbound' ? 'inbound-rtp' : 'outbound-rtp';
  report.forEach((s: Record<string, unknown>) => {
    if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated && typeof s.currentRoundTripTime === 'number') {
      rttMs = s.currentRoundTripTime * 1000;
    }
    if (s.type !== type) return;
    const stream = streamOf(s.mid as string | undefined);
    if (!stream) return;
    const kind = s.kind === 'audio' ? 'audio' : 'video';
    const entry = perStream.get(stream) ?? {};
    const k: KindStats = (entry[kind] ??= { packets: 0, packetsLost: 0, bytes: 0 });
    k.packets += num(direction === 'inbound' ? s.packetsReceived : s.packetsSent);
    k.packetsLost += num(s.packetsLost);
    k.bytes += num(direction === 'inbound' ? s.bytesReceived : s.bytesSent);
    if (kind === 'video' && direction === 'outbound' && typeof s.frameWidth === 'number' && k.width !== undefined) {
      // Another simulcast layer of a track already counted: the frames, rate and size are the
      // largest layer's (what a subscriber with room sees), not a sum.
      if (s.frameWidth > k.width) {
        k.frames = num(s.framesEncoded);
        if (typeof s.framesPerSecond === 'number') k.framesPerSecond = s.framesPerSecond;
        k.width = s.frameWidth;
        if (typeof s.frameHeight === 'number') k.height = s.frameHeight;
      }
    } else if (kind === 'video') {
      k.frames = (k.frames ?? 0) + num(direction === 'inbound' ? s.framesDecoded : s.framesEncoded);
      if (typeof s.framesPerSecond === 'number') k.framesPerSecond = s.framesPerSecond;
      if (typeof s.frameWidth === 'number') k.width = s.frameWidth;
      if (typeof s.frameHeight === 'number') k.height = s.frameHeight;
    } else if (typeof s.audioLevel === 'number') {
      k.audioLevel = s.audioLevel;
    }
    if (typeof s.jitter === 'number') k.jitterMs = s.jitter * 1000;
    perStream.set(stream, entry);
  });
  return rttMs === undefined ? { perStream } : { perStream, rttMs };
}

/** How a connection reaches the server: its selected ICE candidate pair, our side. */
export interface IcePath {
  /** `host` (direct), `srflx`/`prflx` (through a NAT), `relay` (through a TURN server) */
  candidateType: 'host' | 'srflx' | 'prflx' | 'relay';
  /** the pair's transport to the server (`udp`; `tcp` only with ICE-TCP) */
  protocol: string;
  /** `relay`: how we reach the TURN server, `udp`, `tcp` or `tls` */
  relayProtocol?: string;
}

/** The local candidate of the transport's selected pair (the nominated one when no transport names it), or undefined before one is chosen. */
export function selectedPath(report: RTCStatsReport): IcePath | undefined {
  let pair: Record<string, unknown> | undefined;
  report.forEach((s: Record<string, unknown>) => {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair = report.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    report.forEach((s: Record<string, unknown>) => {
      if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
  }
  const local =
    pair && typeof pair.localCandidateId === 'string' ? (report.get(pair.localCandidateId) as Record<string, unknown>) : undefined;
  const type = local?.candidateType;
  if (type !== 'host' && type !== 'srflx' && type !== 'prflx' && type !== 'relay') return undefined;
  const path: IcePath = { candidateType: type, protocol: String(local!.protocol ?? 'udp') };
  if (type === 'relay' && typeof local!.relayProtocol === 'string') path.relayProtocol = local!.relayProtocol;
  return path;
}

/**
 * Quality from what changed since the previous sample of the same stream: no new packets
 * is `stalled`; loss, round-trip time and frame rate grade the rest.
 */
export function grade(now: StreamStats, before: StreamStats | undefined): Quality {
  const packets = (s: StreamStats | undefined) => (s?.audio?.packets ?? 0) + (s?.video?.packets ?? 0);
  const lost = (s: StreamStats | undefined) => (s?.audio?.packetsLost ?? 0) + (s?.video?.packetsLost ?? 0);
  const dp = packets(now) - packets(before);
  if (dp <= 0) return 'stalled';
  const dl = Math.max(0, lost(now) - lost(before));
  const loss = dl / (dp + dl);
  const rtt = now.rttMs ?? 0;
  const fps = now.video?.framesPerSecond;
  if (loss > 0.1 || rtt > 500 || (fps !== undefined && fps < 8)) return 'poor';
  if (loss > 0.02 || rtt > 250 || (fps !== undefined && fps < 15)) return 'fair';
  return 'good';
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
