/**
 * The per-track pipeline, after pion's interceptors: each RTP/RTCP feature is a small
 * stage, and a track runs its stages in order. The packet path allocates nothing: a
 * stage takes the shared buffer and the header read once on arrival, and says whether
 * the packet goes on.
 */
import type { RtpHeader } from 'weever-rtp';

/** One step of an RTP path. False drops the packet (later stages do not see it). */
export interface RtpStage {
  onRtp(packet: Buffer, header: RtpHeader): boolean;
}

/** Reads RTCP arriving from the remote peer (a compound packet, as received). */
export interface RtcpReader {
  onRtcp(packet: Buffer): void;
}

/** Runs stages in order; the chain itself is a stage, so chains nest. */
export class RtpChain implements RtpStage {
  private stages: readonly RtpStage[];

  constructor(stages: readonly RtpStage[] = []) {
    this.stages = stages;
  }

  onRtp(packet: Buffer, header: RtpHeader): boolean {
    const stages = this.stages;
    for (let i = 0; i < stages.length; i++) if (!stages[i]!.onRtp(packet, header)) return false;
    return true;
  }

  /** Replaces the stage list (between packets; the array is never mutated in place). */
  set(stages: readonly RtpStage[]): void {
    this.stages = stages;
  }
}

/** Hands each RTCP packet to every reader, in order. */
export class RtcpChain implements RtcpReader {
  constructor(private readonly readers: readonly RtcpReader[]) {}

  onRtcp(packet: Buffer): void {
    const readers = this.readers;
    for (let i = 0; i < readers.length; i++) readers[i]!.onRtcp(packet);
  }
}
