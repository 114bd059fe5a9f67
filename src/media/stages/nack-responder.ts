/**
 * Answers a subscriber's generic NACKs (RFC 4585) from a history of what this DownTrack
 * sent, after the rewrite: the packet goes out again unchanged. Bounded: one resend of a
 * packet per round trip at most, and a cap on the bytes resent per second.
 */
import { forEachNack, type RtpHeader } from 'weever-rtp';
import type { RtcpReader, RtpStage } from '../chain.js';

/** Packets kept (a power of two): ~2.5 s of 1 Mbit/s video. */
const SLOTS = 256;
/** Larger packets are not kept (none is, below a path MTU). */
const SLOT_SIZE = 1500;
const WINDOW_MS = 1000;
/** Resent bytes per second: this share of what was sent in the last second, at least MIN_BUDGET. */
const BUDGET_SHARE = 0.5;
const MIN_BUDGET = 64 * 1024;
/** Spacing of resends of one packet while no round trip is known. */
const DEFAULT_RTT_MS = 20;

export class NackResponder implements RtpStage, RtcpReader {
  /** asked for, per sequence number */
  asked = 0;
  /** resent */
  resent = 0;
  resentBytes = 0;
  /** asked for but no longer (or never) in the history */
  missed = 0;
  /** refused by the per-RTT or bandwidth bound */
  throttled = 0;
  /** round trip to the subscriber, from its receiver reports; 0 while unknown */
  rttMs = 0;
  private slab: Buffer | undefined;
  private readonly seqOf = new Int32Array(SLOTS).fill(-1);
  private readonly lengths = new Uint16Array(SLOTS);
  private readonly sentAt = new Float64Array(SLOTS);
  private ssrc = 0;
  private windowStart = 0;
  private windowBytes = 0;
  private lastWindowBytes = 0;
  private windowResent = 0;
  /** bound once: forEachNack calls it per lost sequence number */
  private readonly onLost = (seq: number) => this.resend(seq);

  constructor(
    /** sends one packet to the subscriber */
    private readonly send: (packet: Buffer) => void,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** A new outgoing stream (SSRC): the history starts empty. */
  reset(ssrc: number): void {
    this.ssrc = ssrc;
    this.seqOf.fill(-1);
  }

  /** Keeps a copy of each packet as sent (after the rewrite). */
  onRtp(packet: Buffer, h: RtpHeader): boolean {
    const len = packet.length;
    const now = h.receivedAt || this.now();
    this.roll(now);
    this.windowBytes += len;
    if (len > SLOT_SIZE) return true;
    this.slab ??= Buffer.allocUnsafe(SLOTS * SLOT_SIZE); // only m-lines that carry video pay for it
    const seq = (packet[2]! << 8) | packet[3]!;
    const slot = seq & (SLOTS - 1);
    packet.copy(this.slab, slot * SLOT_SIZE, 0, len);
    this.lengths[slot] = len;
    this.seqOf[slot] = seq;
    this.sentAt[slot] = now;
    return true;
  }

  onRtcp(packet: Buffer): void {
    forEachNack(packet, this.ssrc, this.onLost);
  }

  private roll(now: number): void {
    if (now - this.windowStart < WINDOW_MS) return;
    this.lastWindowBytes = this.windowBytes;
    this.windowBytes = 0;
    this.windowResent = 0;
    this.windowStart = now;
  }

  private resend(seq: number): void {
    this.asked++;
    const slot = seq & (SLOTS - 1);
    if (this.seqOf[slot] !== seq || !this.slab) {
      this.missed++;
      return;
    }
    const now = this.now();
    this.roll(now);
    const len = this.lengths[slot]!;
    const budget = Math.max(MIN_BUDGET, this.lastWindowBytes * BUDGET_SHARE);
    if (now - this.sentAt[slot]! < (this.rttMs || DEFAULT_RTT_MS) || this.windowResent + len > budget) {
      this.throttled++;
      return;
    }
    this.sentAt[slot] = now;
    this.windowResent += len;
    this.resent++;
    this.resentBytes += len;
    const off = slot * SLOT_SIZE;
    this.send(this.slab.subarray(off, off + len));
  }
}
