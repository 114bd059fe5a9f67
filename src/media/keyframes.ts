/**
 * Throttled keyframe requests towards one publisher track. A request inside the
 * window is not dropped but deferred to the window's end, so a subscriber that
 * attached just after the previous keyframe still gets one.
 */
export class KeyframeThrottle {
  private last = Number.NEGATIVE_INFINITY;
  private pending: NodeJS.Timeout | undefined;
  private closed = false;
  requests = 0;
  sent = 0;

  constructor(
    private readonly send: () => void,
    private readonly minIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  request(): void {
    if (this.closed) return;
    this.requests++;
    const now = this.now();
    const wait = this.last + this.minIntervalMs - now;
    if (wait <= 0) {
      this.fire(now);
    } else if (!this.pending) {
      this.pending = setTimeout(() => {
        this.pending = undefined;
        this.fire(this.now());
      }, wait);
    }
  }

  private fire(now: number): void {
    this.last = now;
    this.sent++;
    this.send();
  }

  close(): void {
    this.closed = true;
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
  }
}
