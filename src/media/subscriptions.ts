/**
 * What a control-channel subscriber chose to receive (docs/protocol.md, "Choosing what to
 * receive"). Pure: the room as it is (`desired`) in, the tracks to put on m-lines out.
 *
 * - `auto` (the default): every track of every publisher.
 * - `manual`: only the kinds named by `SUB <pub>`, until `UNSUB`. A `SUB` for a publisher
 *   the subscriber does not know yet (it raced the `PUB_JOIN`) is kept for
 *   `PENDING_MS`; a publisher that left takes its subscription with it (a publisher that
 *   reconnects has a new full id: the client subscribes to it again).
 * - Switching `auto` → `manual` keeps what is received now as the subscriptions, so the
 *   switch itself changes nothing on the wire.
 */
import type { Kind, SubscribeMode, TrackInfo } from 'weever-protocol';

/** How long a `SUB` for a publisher not (yet) in the room is remembered. */
export const PENDING_MS = 10_000;
/** Most publishers one subscriber may name (the room's publisher count is bounded elsewhere). */
export const MAX_SUBSCRIPTIONS = 256;

interface Wanted {
  audio: boolean;
  video: boolean;
  /** set while the publisher is unknown: forgotten after this time */
  until: number | undefined;
}

export class Subscriptions {
  private modeNow: SubscribeMode;
  private readonly wanted = new Map<string, Wanted>();

  constructor(
    mode: SubscribeMode = 'auto',
    private readonly now: () => number = () => performance.now(),
  ) {
    this.modeNow = mode;
  }

  get mode(): SubscribeMode {
    return this.modeNow;
  }

  /** Sets the mode; `manual` after `auto` starts from every publisher of `desired`. */
  setMode(mode: SubscribeMode, desired: ReadonlyMap<string, readonly TrackInfo[]>): void {
    if (mode === this.modeNow) return;
    this.modeNow = mode;
    this.wanted.clear();
    if (mode === 'manual') for (const pub of desired.keys()) this.wanted.set(pub, { audio: true, video: true, until: undefined });
  }

  /**
   * `SUB` (`on`) or `UNSUB` of `kinds` of `pub`; `known`: the publisher is in the room.
   * Returns an error for the client, or undefined.
   */
  set(pub: string, kinds: readonly Kind[], on: boolean, known: boolean): string | undefined {
    if (this.modeNow !== 'manual') return `${on ? 'SUB' : 'UNSUB'} needs SUB_MODE manual`;
    let w = this.wanted.get(pub);
    if (!w) {
      if (!on) return undefined; // nothing to stop
      if (this.wanted.size >= MAX_SUBSCRIPTIONS) return `SUB: at most ${MAX_SUBSCRIPTIONS} publishers`;
      w = { audio: false, video: false, until: undefined };
      this.wanted.set(pub, w);
    }
    for (const k of kinds) w[k] = on;
    if (!w.audio && !w.video) this.wanted.delete(pub);
    else if (!known && w.until === undefined) w.until = this.now() + PENDING_MS;
    return undefined;
  }

  /** Whether `kind` of `pub` is subscribed (always in `auto` mode). */
  wants(pub: string, kind: Kind): boolean {
    if (this.modeNow === 'auto') return true;
    return this.wanted.get(pub)?.[kind] === true;
  }

  /**
   * The tracks to receive of `desired`. In manual mode also settles the subscriptions:
   * a pending one whose publisher arrived is kept, one whose publisher left or that
   * waited too long is dropped.
   */
  select(desired: ReadonlyMap<string, readonly TrackInfo[]>): ReadonlyMap<string, readonly TrackInfo[]> {
    if (this.modeNow === 'auto') return desired;
    const now = this.now();
    for (const [pub, w] of this.wanted) {
      if (w.until !== undefined && now >= w.until) this.wanted.delete(pub);
      else if (desired.has(pub)) w.until = undefined;
      else if (w.until === undefined) this.wanted.delete(pub);
    }
    const out = new Map<string, readonly TrackInfo[]>();
    for (const [pub, tracks] of desired) {
      const w = this.wanted.get(pub);
      if (!w) continue;
      const chosen = tracks.filter((t) => w[t.kind]);
      if (chosen.length > 0) out.set(pub, chosen);
    }
    return out;
  }

  /** The subscribed publishers (manual mode), for the debug view. */
  list(): string[] {
    return [...this.wanted.keys()];
  }
}
