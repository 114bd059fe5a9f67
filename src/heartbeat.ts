/**
 * The supervisor's heartbeat (issue 22): the one check of a supervised instance that does
 * not run inside the instance's own event loop. A malformed SDES on two tracks floods the
 * instance's JavaScript thread with engine callbacks: its timers starve, its engine probe
 * never decides, `/liveness` never answers, yet the process does not exit. So the
 * supervisor pings the child over the fork IPC channel every `intervalMs`; the child
 * answers from its event loop only while it judges itself healthy (engine probe passing
 * packets, its own timers on time). `missLimit` pings in a row without an answer: the
 * child is killed (SIGKILL: a flooded child would not act on SIGTERM) and started again.
 *
 * The counting is pure (an injected clock) so it is unit-tested without processes.
 */

export interface HeartbeatOptions {
  /** a ping every this many ms */
  intervalMs: number;
  /** pings in a row unanswered before the child counts as dead */
  missLimit: number;
  /** a child that never answered yet gets this long to start (module loading, store connection) */
  startupGraceMs: number;
}

export const HEARTBEAT: HeartbeatOptions = { intervalMs: 500, missLimit: 5, startupGraceMs: 30_000 };

/** What the supervisor's side of the heartbeat decided on one beat. */
export type Beat = { kind: 'ping'; seq: number } | { kind: 'dead'; missed: number; silentMs: number; answeredOnce: boolean };

/**
 * Counts the pings a child left unanswered. `beat()` runs every `intervalMs`: it says
 * whether to send the next ping or to kill. Answers to older pings do not count (a child
 * that answers late is as good as one that does not answer).
 */
export class HeartbeatMonitor {
  private seq = 0;
  /** the last ping is still unanswered */
  private pending = false;
  private missed = 0;
  private answered = false;
  private lastAnswerAt: number;
  private readonly startedAt: number;

  constructor(
    private readonly o: HeartbeatOptions,
    private readonly now: () => number,
  ) {
    this.startedAt = now();
    this.lastAnswerAt = this.startedAt;
  }

  /** The child answered ping `seq`. */
  answer(seq: number): void {
    if (seq !== this.seq || !this.pending) return;
    this.pending = false;
    this.missed = 0;
    this.answered = true;
    this.lastAnswerAt = this.now();
  }

  beat(): Beat {
    const now = this.now();
    // A child that never answered yet is starting: its misses count once the grace is over.
    if (this.pending && (this.answered || now - this.startedAt > this.o.startupGraceMs)) this.missed++;
    if (this.missed >= this.o.missLimit) {
      return { kind: 'dead', missed: this.missed, silentMs: now - this.lastAnswerAt, answeredOnce: this.answered };
    }
    this.seq++;
    this.pending = true;
    return { kind: 'ping', seq: this.seq };
  }
}

/**
 * The supervisor's restart delay: the first restart comes at once (`baseMs`); restarts
 * closer together than `crashLoopMs` double it, up to `maxMs` — unless the child got as far
 * as listening (`ready`): an instance killed for a wedge is not a crash loop, and one
 * attacker wedging it every few seconds must not stretch each outage by the backoff.
 */
export function restartDelay(
  previousMs: number,
  uptimeMs: number,
  ready = false,
  o = { baseMs: 500, crashLoopMs: 10_000, maxMs: 10_000 },
): number {
  return uptimeMs < o.crashLoopMs && !ready ? Math.min(Math.max(previousMs, o.baseMs / 2) * 2, o.maxMs) : o.baseMs;
}

/** What a supervised child sends once it listens. */
export const READY_MESSAGE = 'ready';

/**
 * The child's side: answers each ping with its number while `healthy()` says so. One small
 * message per ping, nothing allocated beyond it.
 */
export function answerHeartbeat(healthy: () => boolean): { ready(): void } {
  process.on('message', (m: unknown) => {
    if (typeof m === 'number' && process.connected && healthy()) process.send?.(m);
  });
  return { ready: () => process.connected && process.send?.(READY_MESSAGE) };
}
