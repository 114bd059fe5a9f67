/** RTCP (RFC 3550, RFC 4585) packet types and readers over compound packets. */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;
/** transport-layer feedback (generic NACK is FMT 1) */
export const RTCP_RTPFB = 205;
/** payload-specific feedback */
export const RTCP_PSFB = 206;
export const PSFB_PLI = 1;
export const PSFB_FIR = 4;
export const PSFB_REMB = 15;
export const RTPFB_NACK = 1;

/** True when the (compound) RTCP packet holds a PLI or FIR for `mediaSsrc`. */
export function hasKeyframeRequest(p: Buffer, mediaSsrc: number): boolean {
  let off = 0;
  while (off + 12 <= p.length) {
    const fmt = p[off]! & 0x1f;
    const pt = p[off + 1]!;
    const len = (p.readUInt16BE(off + 2) + 1) * 4;
    if (off + len > p.length) return false;
    if (pt === RTCP_PSFB) {
      if (fmt === PSFB_PLI && p.readUInt32BE(off + 8) === mediaSsrc) return true;
      if (fmt === PSFB_FIR) {
        // FCI entries of 8 bytes: SSRC, seq nr, reserved
        for (let fci = off + 12; fci + 8 <= off + len; fci += 8) {
          if (p.readUInt32BE(fci) === mediaSsrc) return true;
        }
      }
    }
    off += len;
  }
  return false;
}

/** What an SR says about its sender (RFC 3550 §6.4.1). */
export interface SenderInfo {
  ssrc: number;
  /** NTP timestamp, seconds and fraction */
  ntpSec: number;
  ntpFrac: number;
  rtpTs: number;
  packets: number;
  octets: number;
}

export const newSenderInfo = (): SenderInfo => ({ ssrc: 0, ntpSec: 0, ntpFrac: 0, rtpTs: 0, packets: 0, octets: 0 });

/** Offsets of the sub-packets of a compound RTCP packet, calling `fn(off, pt, fmt, len)` for each whole one. */
function walk(p: Buffer, fn: (off: number, pt: number, fmt: number, len: number) => boolean | undefined): void {
  let off = 0;
  while (off + 4 <= p.length) {
    if (p[off]! >> 6 !== 2) return;
    const len = (p.readUInt16BE(off + 2) + 1) * 4;
    if (off + len > p.length) return;
    if (fn(off, p[off + 1]!, p[off]! & 0x1f, len)) return;
    off += len;
  }
}

/** Reads the first SR of the compound into `out`; false when there is none. */
export function readSenderReport(p: Buffer, out: SenderInfo): boolean {
  let found = false;
  walk(p, (off, pt, _fmt, len) => {
    if (pt !== RTCP_SR || len < 28) return false;
    out.ssrc = p.readUInt32BE(off + 4);
    out.ntpSec = p.readUInt32BE(off + 8);
    out.ntpFrac = p.readUInt32BE(off + 12);
    out.rtpTs = p.readUInt32BE(off + 16);
    out.packets = p.readUInt32BE(off + 20);
    out.octets = p.readUInt32BE(off + 24);
    found = true;
    return true;
  });
  return found;
}

/** One report block (RFC 3550 §6.4.1) about one source. */
export interface ReportBlock {
  ssrc: number;
  /** fraction lost since the last report, 0–255 */
  fraction: number;
  /** cumulative packets lost (24-bit signed) */
  lost: number;
  extHighestSeq: number;
  jitter: number;
  /** middle 32 bits of the NTP time of the last SR received from the source, 0 when none */
  lsr: number;
  /** delay since that SR, in 1/65536 s */
  dlsr: number;
}

export const newReportBlock = (): ReportBlock => ({ ssrc: 0, fraction: 0, lost: 0, extHighestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 });

/** Finds the report block about `ssrc` in any SR or RR of the compound; false when there is none. */
export function readReportBlock(p: Buffer, ssrc: number, out: ReportBlock): boolean {
  let found = false;
  walk(p, (off, pt, count, len) => {
    if (pt !== RTCP_SR && pt !== RTCP_RR) return false;
    let b = off + (pt === RTCP_SR ? 28 : 8);
    for (let i = 0; i < count && b + 24 <= off + len; i++, b += 24) {
      if (p.readUInt32BE(b) !== ssrc) continue;
      out.ssrc = ssrc;
      out.fraction = p[b + 4]!;
      out.lost = p.readIntBE(b + 5, 3);
      out.extHighestSeq = p.readUInt32BE(b + 8);
      out.jitter = p.readUInt32BE(b + 12);
      out.lsr = p.readUInt32BE(b + 16);
      out.dlsr = p.readUInt32BE(b + 20);
      found = true;
      return true;
    }
    return false;
  });
  return found;
}

/**
 * Calls `lost(seq)` for every sequence number a generic NACK (RFC 4585 §6.2.1) of the
 * compound asks for on `mediaSsrc`: each FCI is a PID and a bitmask of the 16 after it.
 */
export function forEachNack(p: Buffer, mediaSsrc: number, lost: (seq: number) => void): void {
  walk(p, (off, pt, fmt, len) => {
    if (pt !== RTCP_RTPFB || fmt !== RTPFB_NACK || len < 16 || p.readUInt32BE(off + 8) !== mediaSsrc) return false;
    for (let f = off + 12; f + 4 <= off + len; f += 4) {
      const pid = p.readUInt16BE(f);
      const blp = p.readUInt16BE(f + 2);
      lost(pid);
      for (let bit = 0; bit < 16; bit++) if (blp & (1 << bit)) lost((pid + bit + 1) & 0xffff);
    }
    return false;
  });
}

/** Writes an SR with no report blocks at `off`; returns its length (28). */
export function writeSenderReport(b: Buffer, off: number, s: SenderInfo): number {
  b[off] = 0x80;
  b[off + 1] = RTCP_SR;
  b.writeUInt16BE(6, off + 2);
  b.writeUInt32BE(s.ssrc >>> 0, off + 4);
  b.writeUInt32BE(s.ntpSec >>> 0, off + 8);
  b.writeUInt32BE(s.ntpFrac >>> 0, off + 12);
  b.writeUInt32BE(s.rtpTs >>> 0, off + 16);
  b.writeUInt32BE(s.packets >>> 0, off + 20);
  b.writeUInt32BE(s.octets >>> 0, off + 24);
  return 28;
}

/** Writes an RR from `senderSsrc` with one report block at `off`; returns its length (32). */
export function writeReceiverReport(b: Buffer, off: number, senderSsrc: number, r: ReportBlock): number {
  b[off] = 0x81;
  b[off + 1] = RTCP_RR;
  b.writeUInt16BE(7, off + 2);
  b.writeUInt32BE(senderSsrc >>> 0, off + 4);
  b.writeUInt32BE(r.ssrc >>> 0, off + 8);
  b[off + 12] = r.fraction & 0xff;
  b.writeIntBE(Math.max(-0x800000, Math.min(0x7fffff, r.lost)), off + 13, 3);
  b.writeUInt32BE(r.extHighestSeq >>> 0, off + 16);
  b.writeUInt32BE(r.jitter >>> 0, off + 20);
  b.writeUInt32BE(r.lsr >>> 0, off + 24);
  b.writeUInt32BE(r.dlsr >>> 0, off + 28);
  return 32;
}

/** Writes a PLI (RFC 4585 §6.3.1) at `off`; returns its length (12). */
export function writePli(b: Buffer, off: number, senderSsrc: number, mediaSsrc: number): number {
  b[off] = 0x80 | PSFB_PLI;
  b[off + 1] = RTCP_PSFB;
  b.writeUInt16BE(2, off + 2);
  b.writeUInt32BE(senderSsrc >>> 0, off + 4);
  b.writeUInt32BE(mediaSsrc >>> 0, off + 8);
  return 12;
}

/** Writes a REMB (draft-alvestrand-rmcat-remb) for one SSRC at `off`; returns its length (24). */
export function writeRemb(b: Buffer, off: number, senderSsrc: number, bitrate: number, mediaSsrc: number): number {
  let exp = 0;
  let mantissa = Math.max(0, Math.floor(bitrate));
  while (mantissa > 0x3ffff) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  b[off] = 0x80 | PSFB_REMB;
  b[off + 1] = RTCP_PSFB;
  b.writeUInt16BE(5, off + 2);
  b.writeUInt32BE(senderSsrc >>> 0, off + 4);
  b.writeUInt32BE(0, off + 8);
  b.write('REMB', off + 12, 'latin1');
  b[off + 16] = 1;
  b[off + 17] = (exp << 2) | (mantissa >> 16);
  b.writeUInt16BE(mantissa & 0xffff, off + 18);
  b.writeUInt32BE(mediaSsrc >>> 0, off + 20);
  return 24;
}

/**
 * Writes a generic NACK for the `count` sequence numbers in `seqs` (ascending, within one
 * wrap) at `off`, packing each run of 17 into one FCI; returns its length.
 */
export function writeNack(b: Buffer, off: number, senderSsrc: number, mediaSsrc: number, seqs: ArrayLike<number>, count: number): number {
  let f = off + 12;
  let i = 0;
  while (i < count) {
    const pid = seqs[i]!;
    let blp = 0;
    i++;
    while (i < count) {
      const d = (seqs[i]! - pid) & 0xffff;
      if (d < 1 || d > 16) break;
      blp |= 1 << (d - 1);
      i++;
    }
    b.writeUInt16BE(pid, f);
    b.writeUInt16BE(blp, f + 2);
    f += 4;
  }
  b[off] = 0x80 | RTPFB_NACK;
  b[off + 1] = RTCP_RTPFB;
  b.writeUInt16BE((f - off) / 4 - 1, off + 2);
  b.writeUInt32BE(senderSsrc >>> 0, off + 4);
  b.writeUInt32BE(mediaSsrc >>> 0, off + 8);
  return f - off;
}

/** Middle 32 bits of an NTP timestamp: what LSR echoes. */
export const ntpMiddle = (ntpSec: number, ntpFrac: number): number => (((ntpSec & 0xffff) << 16) | (ntpFrac >>> 16)) >>> 0;
