/**
 * Receive statistics of one RTP stream, O(1) and allocation-free per packet: loss from
 * sequence numbers (wrap-aware, RFC 3550 A.1 style), interarrival jitter (RFC 3550 §6.4.1,
 * A.8), duplicates, and one-way delay into a histogram that merges across workers.
 */

/** Loss from sequence numbers: expected = extended highest − first + 1, counting 16-bit wraps. */
export class SequenceCounter {
  received = 0;
  duplicates = 0;
  private base = -1;
  private maxSeq = 0;
  private cycles = 0;
  /** a ring of the last 1024 sequence numbers, to tell duplicates from new packets */
  private readonly seen = new Uint8Array(65536);
  private readonly order = new Uint16Array(1024);
  private n = 0;

  /** Counts `seq`; false when it is a duplicate of one of the last 1024 packets. */
  add(seq: number): boolean {
    if (this.seen[seq]) {
      this.duplicates++;
      return false;
    }
    if (this.n >= 1024) this.seen[this.order[this.n % 1024]!] = 0;
    this.order[this.n % 1024] = seq;
    this.seen[seq] = 1;
    this.n++;
    this.received++;
    if (this.base < 0) {
      this.base = seq;
      this.maxSeq = seq;
      return true;
    }
    const delta = (seq - this.maxSeq) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      if (seq < this.maxSeq) this.cycles += 0x10000; // wrapped forwards
      this.maxSeq = seq;
    } else if (delta >= 0x8000 && this.cycles === 0 && seq < this.base && this.base - seq < 0x8000) {
      // reordered packet older than the first one seen: the stream started earlier
      this.base = seq;
    }
    return true;
  }

  get expected(): number {
    return this.base < 0 ? 0 : this.cycles + this.maxSeq - this.base + 1;
  }

  get lost(): number {
    return Math.max(0, this.expected - this.received);
  }

  /** The extended highest sequence number received (RFC 3550 §6.4.1: cycles in the upper 16 bits). */
  get extHighest(): number {
    return this.base < 0 ? 0 : this.cycles + this.maxSeq;
  }
}

/** Interarrival jitter J (RFC 3550 §6.4.1) in RTP timestamp units; `ms()` converts. */
export class Jitter {
  jitter = 0;
  private lastTransit = Number.NaN;

  constructor(private readonly clockRate: number) {}

  /** `arrivalMs`: local receive time; `rtpTs`: the packet's RTP timestamp. */
  add(arrivalMs: number, rtpTs: number): void {
    // transit in timestamp units, modulo 2^32 so a timestamp wrap is a small step
    const transit = ((((arrivalMs * this.clockRate) / 1000 - rtpTs) % 4294967296) + 4294967296) % 4294967296;
    if (!Number.isNaN(this.lastTransit)) {
      let d = Math.abs(transit - this.lastTransit);
      if (d > 2147483648) d = 4294967296 - d;
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }

  ms(): number {
    return (this.jitter * 1000) / this.clockRate;
  }
}

/**
 * Histogram of delays in ms: 10 µs bins up to 100 ms, then 1 ms bins up to 10 s (beyond
 * counts in the last bin). Percentiles to 10 µs where loopback delays live; merges by addition.
 */
export const FINE_BINS = 10_000;
export const COARSE_BINS = 9_900;
export const HISTOGRAM_BINS = FINE_BINS + COARSE_BINS;

export function histogramBin(ms: number): number {
  if (!(ms > 0)) return 0;
  if (ms < 100) return Math.floor(ms * 100);
  return Math.min(HISTOGRAM_BINS - 1, FINE_BINS + Math.floor(ms - 100));
}

/** Upper edge of a bin in ms. */
export function binUpperMs(bin: number): number {
  return bin < FINE_BINS ? (bin + 1) / 100 : 100 + (bin - FINE_BINS + 1);
}

export class DelayHistogram {
  readonly bins: Uint32Array;
  count = 0;

  constructor(bins?: Uint32Array) {
    this.bins = bins ?? new Uint32Array(HISTOGRAM_BINS);
    if (bins) for (const b of bins) this.count += b;
  }

  add(ms: number): void {
    this.bins[histogramBin(ms)]!++;
    this.count++;
  }

  merge(other: Uint32Array): void {
    for (let i = 0; i < HISTOGRAM_BINS; i++) {
      const v = other[i]!;
      if (v) {
        this.bins[i]! += v;
        this.count += v;
      }
    }
  }

  /** This histogram minus an earlier snapshot of it (a window's delays). */
  since(earlier: Uint32Array): DelayHistogram {
    const d = new Uint32Array(HISTOGRAM_BINS);
    for (let i = 0; i < HISTOGRAM_BINS; i++) d[i] = this.bins[i]! - earlier[i]!;
    return new DelayHistogram(d);
  }

  /** The upper edge of the bin holding the p-th percentile (nearest rank); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let acc = 0;
    for (let i = 0; i < HISTOGRAM_BINS; i++) {
      acc += this.bins[i]!;
      if (acc >= rank) return binUpperMs(i);
    }
    return binUpperMs(HISTOGRAM_BINS - 1);
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
