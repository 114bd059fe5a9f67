/**
 * Sender reports towards a subscriber: the publisher's SR (arriving on the bus beside the
 * RTP) with its NTP↔RTP mapping kept and translated to what the subscriber sees — our
 * SSRC, the rewritten timestamp — so the browser can synchronise audio with video. The
 * subscriber's receiver reports then give the round trip (LSR/DLSR, RFC 3550 §6.4.1).
 *
 * A receive-only browser learns its own round trip only from XR (RFC 3611): it sends a
 * receiver reference time report (RRTR, when `rrtr` is offered) and we answer at once with
 * a DLRR block. Without it Chromium repeats a NACK only after its default 100 ms round
 * trip, so a lost retransmission freezes the video (see docs/benchmarks.md, "lossy").
 */
import { newReportBlock, newSenderInfo, ntpMiddle, readReportBlock, readSenderReport, writeSenderReport } from 'weever-rtp';
import type { RtcpReader } from '../chain.js';
import type { RtpRewriter } from './rewriter.js';

/** SRs remembered for matching the receiver's LSR. */
const KEPT = 4;
const RTCP_XR = 207;
const XR_RRTR = 4;
const XR_DLRR = 5;

export class SenderReports implements RtcpReader {
  sent = 0;
  /** round trip to the subscriber; 0 while unknown */
  rttMs = 0;
  /** round trips measured so far (a new one is in `rttMs` when this moved) */
  rttSamples = 0;
  private readonly sr = newSenderInfo();
  private readonly block = newReportBlock();
  private readonly out = Buffer.alloc(28);
  private readonly lsrs = new Uint32Array(KEPT);
  private readonly lsrAt = new Float64Array(KEPT);
  private next = 0;
  /** XR with one DLRR sub-block: header, our SSRC, block header, receiver SSRC, LRR, DLRR */
  private readonly xr = Buffer.alloc(24);
  /** DLRR blocks sent (answers to the subscriber's RRTR) */
  dlrrSent = 0;

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

  /** Receiver reports of the subscriber: the round trip from the block about our SSRC; RRTRs answered with DLRR. */
  onRtcp(packet: Buffer): void {
    this.answerRrtr(packet);
    if (!readReportBlock(packet, this.ssrc, this.block) || this.block.lsr === 0) return;
    for (let i = 0; i < KEPT; i++) {
      if (this.lsrs[i] !== this.block.lsr) continue;
      const rtt = this.now() - this.lsrAt[i]! - (this.block.dlsr * 1000) / 65536;
      if (rtt >= 0) {
        this.rttMs = rtt;
        this.rttSamples++;
      }
      return;
    }
  }

  /** An XR with an RRTR block in the compound: DLRR back at once (delay 0), for the receiver's own RTT. */
  private answerRrtr(p: Buffer): void {
    let off = 0;
    while (off + 8 <= p.length) {
      if (p[off]! >> 6 !== 2) return;
      const len = (p.readUInt16BE(off + 2) + 1) * 4;
      if (off + len > p.length) return;
      if (p[off + 1] === RTCP_XR) {
        const receiver = p.readUInt32BE(off + 4);
        let b = off + 8;
        while (b + 4 <= off + len) {
          const blockLen = (p.readUInt16BE(b + 2) + 1) * 4;
          if (p[b] === XR_RRTR && blockLen === 12 && b + 12 <= off + len) {
            // LRR: the middle 32 bits of the RRTR's NTP timestamp
            const lrr = ((p.readUInt16BE(b + 6) << 16) | p.readUInt16BE(b + 8)) >>> 0;
            this.sendDlrr(receiver, lrr);
          }
          b += blockLen;
        }
      }
      off += len;
    }
  }

  private sendDlrr(receiver: number, lrr: number): void {
    const x = this.xr;
    x[0] = 0x80;
    x[1] = RTCP_XR;
    x.writeUInt16BE(5, 2);
    x.writeUInt32BE(this.ssrc, 4);
    x[8] = XR_DLRR;
    x[9] = 0;
    x.writeUInt16BE(3, 10);
    x.writeUInt32BE(receiver, 12);
    x.writeUInt32BE(lrr, 16);
    x.writeUInt32BE(0, 20); // answered as it arrives
    this.dlrrSent++;
    this.send(x);
  }
}
