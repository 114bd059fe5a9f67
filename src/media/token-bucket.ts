/**
 * A token bucket (per sending connection: data messages, docs/protocol.md "Data messages"):
 * `capacity` tokens, refilled at `perSecond`; a take that does not fit takes nothing.
 * Pure: the caller passes the time.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  /** Takes `n` tokens at `now` (ms); false, taking none, when fewer are left. */
  take(n: number, now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) * this.perSecond) / 1000);
      this.at = now;
    }
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }
}
