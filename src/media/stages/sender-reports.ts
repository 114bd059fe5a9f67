/**
 * Sender reports towards a subscriber: the publisher's SR (arriving on the bus beside the
 * RTP) with its NTP↔RTP mapping kept and translated to what the subscriber sees — our
 * SSRC, the rewritten timestamp — so the browser can synchronise audio with video. The
 * subscriber's receiver reports then give the round trip (LSR/DLSR, RFC 3550 §6.4.1).
 */
import { newReportBlock, newSenderInfo, ntpMiddle, readReportBlock, readSenderReport, writeSenderReport } from 'weever-rtp';
import type { RtcpReader } from '../chain.js';
import type { RtpRewriter } from './rewriter.js';

/** SRs remembered for matching the receiver's LSR. */
const KEPT = 4;

export class SenderReports implements RtcpReader {
  sent = 0;
  /** round trip to the subscriber; 0 while unknown */
  rttMs = 0;
  private readonly sr = newSenderInfo();
  private readonly block = newReportBlock();
  private readonly out = Buffer.alloc(28);
  private readonly lsrs = new Uint32Array(KEPT);
  private readonly lsrAt = new Float64Array(KEPT);
  private next = 0;

  constructor(
    private readonly ssrc: number,
    private readonly rewriter: RtpRewriter,
    /** packets and bytes sent so far on this stream */
    private readonly counts: { packets: number; bytes: number },
    private readonly send: (packet: Buffer) => void,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** An SR of the publisher from the bus: sent on, translated, when it is about the source we rewrite. */
  onSourceReport(packet: Buffer): boolean {
    if (!readSenderReport(packet, this.sr) || !this.rewriter.hasStarted || this.sr.ssrc !== this.rewriter.source) return false;
    this.sr.ssrc = this.ssrc;
    this.sr.rtpTs = (this.sr.rtpTs + this.rewriter.timestampOffset) >>> 0;
    this.sr.packets = this.counts.packets;
    this.sr.octets = this.counts.bytes;
    writeSenderReport(this.out, 0, this.sr);
    this.lsrs[this.next] = ntpMiddle(this.sr.ntpSec, this.sr.ntpFrac);
    this.lsrAt[this.next] = this.now();
    this.next = (this.next + 1) % KEPT;
    this.sent++;
    this.send(this.out);
    return true;
  }

  /** Receiver reports of the subscriber: the round trip from the block about our SSRC. */
  onRtcp(packet: Buffer): void {
    if (!readReportBlock(packet, this.ssrc, this.block) || this.block.lsr === 0) return;
    for (let i = 0; i < KEPT; i++) {
      if (this.lsrs[i] !== this.block.lsr) continue;
      const rtt = this.now() - this.lsrAt[i]! - (this.block.dlsr * 1000) / 65536;
      if (rtt >= 0) this.rttMs = rtt;
      return;
    }
  }
}
