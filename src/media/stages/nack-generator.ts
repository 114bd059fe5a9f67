/**
 * Asks the publisher for what was lost on the uplink (RFC 4585 generic NACK): every gap in
 * a stream's sequence numbers is NACKed at once, again every `retryMs` (RTT-based) while
 * missing, and given up after `giveUpMs` — then the stream needs a keyframe instead. A
 * packet that arrives late (a retransmission, or reordering) fills its gap.
 */
import type { RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

/** Sequence numbers tracked at once (a power of two): gaps wider than this are not NACKed. */
const WINDOW = 512;
/** A gap wider than this is a restart or a long outage: ask for a keyframe, not for packets. */
const MAX_GAP = 256;
/**
 * A gap that follows this long without any packet is a path outage: what was lost is older
 * than a sender's retransmission history (Chromium keeps ~1 s) and the frames after it
 * cannot be decoded anyway, so a keyframe is asked for at once instead of NACKing for
 * `giveUpMs` first (issue 14: media back within 1 s after a 3 s outage).
 */
const OUTAGE_MS = 1000;
const MAX_TRIES = 10;

export interface NackGeneratorOptions {
  /** sends one NACK for `count` sequence numbers, ascending */
  send: (seqs: Uint16Array, count: number) => void;
  /** recovery failed: the decoder needs a keyframe */
  giveUp: () => void;
  /** give up on a missing packet after this long */
  giveUpMs?: number;
  now?: () => number;
  /** a gap left packets missing: retries are due from now on (the owner's timer need only run then) */
  onMissing?: () => void;
}

export class NackGenerator implements RtpStage {
  /** spacing of NACKs for one packet: about one round trip */
  retryMs = 100;
  /** sequence numbers NACKed (each try counts) */
  requested = 0;
  /** missing packets that arrived later */
  recovered = 0;
  /** missing packets given up */
  gaveUp = 0;
  private started = false;
  private ssrc = 0;
  private highest = 0;
  /** when the newest packet arrived */
  private highestAt = 0;
  private pending = 0;
  private readonly seqOf = new Int32Array(WINDOW).fill(-1);
  private readonly missingAt = new Float64Array(WINDOW);
  private readonly nackedAt = new Float64Array(WINDOW);
  private readonly tries = new Uint8Array(WINDOW);
  private readonly batch = new Uint16Array(WINDOW);
  private readonly send: NackGeneratorOptions['send'];
  private readonly onGiveUp: () => void;
  private readonly giveUpMs: number;
  private readonly now: () => number;
  private readonly onMissing: (() => void) | undefined;

  constructor(o: NackGeneratorOptions) {
    this.onMissing = o.onMissing;
    this.send = o.send;
    this.onGiveUp = o.giveUp;
    this.giveUpMs = o.giveUpMs ?? 1000;
    this.now = o.now ?? performance.now.bind(performance);
  }

  /** Packets missing now. */
  get missing(): number {
    return this.pending;
  }

  onRtp(_packet: Buffer, h: RtpHeader): boolean {
    const seq = h.seq;
    if (!this.started || h.ssrc !== this.ssrc) {
      this.reset();
      this.started = true;
      this.ssrc = h.ssrc;
      this.highest = seq;
      this.highestAt = h.receivedAt || this.now();
      return true;
    }
    const d = (seq - this.highest) & 0xffff;
    if (d === 0) return true;
    if (d < 0x8000) {
      const gap = d - 1;
      const now = h.receivedAt || this.now();
      const since = now - this.highestAt;
      this.highestAt = now;
      if (gap > MAX_GAP || (gap > 0 && since > OUTAGE_MS)) {
        // not a loss to repair packet by packet
        this.reset();
        this.started = true;
        this.ssrc = h.ssrc;
        this.highest = seq;
        this.onGiveUp();
        return true;
      }
      for (let i = 1; i <= gap; i++) this.mark((this.highest + i) & 0xffff, now);
      this.highest = seq;
      if (gap > 0) {
        this.tick(now);
        if (this.pending > 0) this.onMissing?.();
      }
      return true;
    }
    // older than the highest: fills its gap if it was missing
    const slot = seq & (WINDOW - 1);
    if (this.seqOf[slot] === seq && this.missingAt[slot]! > 0) {
      this.clear(slot);
      this.recovered++;
    }
    return true;
  }

  private mark(seq: number, now: number): void {
    const slot = seq & (WINDOW - 1);
    if (this.missingAt[slot]! > 0) this.clear(slot); // an older loss in the same slot: too old now
    this.seqOf[slot] = seq;
    this.missingAt[slot] = now;
    this.nackedAt[slot] = 0;
    this.tries[slot] = 0;
    this.pending++;
  }

  private clear(slot: number): void {
    this.missingAt[slot] = 0;
    this.pending--;
  }

  /** Sends the NACKs that are due and gives up on what is too old; called on gaps and by a timer. */
  tick(now: number = this.now()): void {
    if (this.pending === 0) return;
    let count = 0;
    let gaveUp = false;
    // oldest first, so the NACK lists sequence numbers in ascending order
    for (let i = WINDOW - 1; i >= 0; i--) {
      const seq = (this.highest - i) & 0xffff;
      const slot = seq & (WINDOW - 1);
      if (this.seqOf[slot] !== seq || this.missingAt[slot] === 0) continue;
      if (now - this.missingAt[slot]! > this.giveUpMs || this.tries[slot]! >= MAX_TRIES) {
        this.clear(slot);
        this.gaveUp++;
        gaveUp = true;
        continue;
      }
      if (this.nackedAt[slot] !== 0 && now - this.nackedAt[slot]! < this.retryMs) continue;
      this.nackedAt[slot] = now;
      this.tries[slot] = this.tries[slot]! + 1;
      this.batch[count++] = seq;
    }
    if (count > 0) {
      this.requested += count;
      this.send(this.batch, count);
    }
    if (gaveUp) this.onGiveUp();
  }

  private reset(): void {
    if (this.pending > 0) this.missingAt.fill(0);
    this.pending = 0;
  }
}
