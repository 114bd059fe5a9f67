/**
 * A modular counter (RTP sequence numbers, VP8 picture ids) renumbered for one subscriber
 * who does not get every value: output = input + offset, and each value dropped at the
 * head of the stream moves the later ones down by one, so the output has no gaps where
 * we dropped something. A late (reordered) value gets the offset it had before the drops
 * that followed it: the input values of the last DROPS drops are kept for that. No
 * allocation.
 *
 * Values lost before they reached us still leave a gap (the receiver sees the loss and
 * asks again); so does a value dropped after a newer one went out (its number was given).
 */

/** Drops remembered for numbering late values (a power of two). */
const DROPS = 64;

export class Renumbering {
  /** added to an input value (modulo mask + 1) */
  private offset = 0;
  /** newest input value seen, forwarded or dropped */
  private newest = 0;
  /** drops since the last rebase */
  private drops = 0;
  private readonly dropped = new Uint16Array(DROPS);

  /** `mask`: 0xffff for sequence numbers, 0x7fff for picture ids */
  constructor(private readonly mask: number) {}

  /** From now on `input` maps to `output` and later values follow it; earlier drops are forgotten. */
  rebase(input: number, output: number): void {
    this.offset = (output - input) & this.mask;
    this.newest = (input - 1) & this.mask;
    this.drops = 0;
  }

  /** Output of the newest input value seen (a dropped newest maps onto the output before it). */
  get last(): number {
    return (this.newest + this.offset) & this.mask;
  }

  /**
   * The output value for `input`; `m` masks a narrower field (a 7-bit picture id) and must
   * divide mask + 1. -1 when the value is older than the drops remembered (cannot be
   * numbered without colliding: drop it).
   */
  map(input: number, m = this.mask): number {
    const d = (input - this.newest) & m;
    if (d === 0) return (input + this.offset) & m;
    const half = (m >> 1) + 1;
    if (d < half) {
      this.newest = input;
      return (input + this.offset) & m;
    }
    // Late: the drops newer than it had not moved it down.
    const drops = this.drops;
    const n = Math.min(drops, DROPS);
    let later = 0;
    for (let k = 1; k <= n; k++) {
      const a = (this.dropped[(drops - k) & (DROPS - 1)]! - input) & m;
      if (a !== 0 && a < half) later++;
    }
    if (later === n && drops > DROPS) return -1;
    return (input + this.offset + later) & m;
  }

  /**
   * `input` will not go out. When it is the newest value seen, later values move down by
   * one; an older one (or the newest again: one frame's second packet) changes nothing.
   */
  drop(input: number, m = this.mask): void {
    const d = (input - this.newest) & m;
    if (d === 0 || d > m >> 1) return;
    this.newest = input;
    this.offset = (this.offset - 1) & this.mask;
    this.dropped[this.drops & (DROPS - 1)] = input;
    this.drops++;
  }

  /** An output value was used for something we inserted (padding): later values move up by one. */
  insert(): void {
    this.offset = (this.offset + 1) & this.mask;
  }
}
