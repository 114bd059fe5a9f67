/**
 * The renegotiation state machine of a control-channel subscriber, with no engine in it:
 * `desired` (publisher → tracks, as the room has them) against what the m-lines carry.
 *
 * - `next(desired, received)` says what to change, in order: `pub-left` and its m-lines
 *   retired, then `pub-join` and m-lines attached (an idle m-line of the kind is recycled,
 *   else a new mid). Every publisher of `desired` is announced; only the tracks of
 *   `received` (by default all of `desired`; fewer in manual mode) get m-lines.
 *   The caller applies the actions and sends ONE offer.
 * - At most one offer is outstanding: while it is, `next` only marks the state dirty, and
 *   `answered()` says to run `next` again, so every change meanwhile goes in ONE follow-up.
 * - A retired m-line is reused only after the offer that retired it is answered.
 */
import type { Kind, TrackInfo } from 'weever-protocol';

export enum LineState {
  /** inactive, reusable */
  Idle = 'idle',
  /** made inactive in the outstanding offer: not reusable before the answer */
  Retiring = 'retiring',
  /** carries a track in the outstanding offer */
  Offered = 'offered',
  /** carries a track, answered */
  Live = 'live',
}

export interface Line {
  readonly mid: string;
  readonly kind: Kind;
  state: LineState;
  pub: string | undefined;
  info: TrackInfo | undefined;
}

export type Action =
  | { type: 'pub-left'; pub: string }
  | { type: 'retire'; line: Line }
  | { type: 'pub-join'; pub: string }
  /** `line.pub`/`line.info` are set; `fresh` when the m-line is new (else recycled) */
  | { type: 'attach'; line: Line; fresh: boolean };

export class Negotiator {
  private readonly lines: Line[] = [];
  /** publishers announced to the client (PUB_JOIN sent, no PUB_LEFT yet) */
  private readonly joined = new Set<string>();
  private outstanding = false;
  private dirty = false;

  constructor(
    /** mids the client's own offer used (its data channel): never reused for our m-lines */
    private readonly clientMids: ReadonlySet<string>,
  ) {}

  get offerOutstanding(): boolean {
    return this.outstanding;
  }

  /** PUB_JOIN was sent for `pub` (and no PUB_LEFT since). */
  isJoined(pub: string): boolean {
    return this.joined.has(pub);
  }

  /** Lines in mid order of creation. */
  all(): readonly Line[] {
    return this.lines;
  }

  /**
   * What to change to bring the m-lines to `desired`; empty when nothing changed. While an
   * offer is outstanding, returns empty and remembers to be asked again after the answer.
   */
  next(desired: ReadonlyMap<string, readonly TrackInfo[]>, received: ReadonlyMap<string, readonly TrackInfo[]> = desired): Action[] {
    if (this.outstanding) {
      this.dirty = true;
      return [];
    }
    this.dirty = false;
    const actions: Action[] = [];
    for (const pub of [...this.joined]) {
      if (desired.has(pub)) continue;
      actions.push({ type: 'pub-left', pub });
      for (const line of this.linesOf(pub)) actions.push(this.retire(line));
      this.joined.delete(pub);
    }
    for (const pub of desired.keys()) {
      if (!this.joined.has(pub)) {
        this.joined.add(pub);
        actions.push({ type: 'pub-join', pub });
      }
      const tracks = received.get(pub) ?? [];
      const wanted = new Set(tracks.map((t) => t.trackId));
      for (const line of this.linesOf(pub)) if (!wanted.has(line.info!.trackId)) actions.push(this.retire(line));
      const have = new Set(this.linesOf(pub).map((l) => l.info!.trackId));
      for (const info of tracks) if (!have.has(info.trackId)) actions.push(this.attach(pub, info));
    }
    if (actions.some((a) => a.type === 'retire' || a.type === 'attach')) this.outstanding = true;
    return actions;
  }

  /**
   * The outstanding offer is answered. Returns the lines that now carry a track live
   * (forwarding may start on them) and whether changes wait for a follow-up offer.
   */
  answered(): { live: Line[]; again: boolean } {
    const live: Line[] = [];
    for (const line of this.lines) {
      if (line.state === LineState.Retiring) line.state = LineState.Idle;
      else if (line.state === LineState.Offered) {
        line.state = LineState.Live;
        live.push(line);
      }
    }
    this.outstanding = false;
    return { live, again: this.dirty };
  }

  /** Lines carrying a track (offered or live). */
  attachedCount(): number {
    return this.lines.filter((l) => l.pub !== undefined).length;
  }

  private linesOf(pub: string): Line[] {
    return this.lines.filter((l) => l.pub === pub);
  }

  private retire(line: Line): Action {
    line.pub = line.info = undefined;
    line.state = LineState.Retiring;
    return { type: 'retire', line };
  }

  private attach(pub: string, info: TrackInfo): Action {
    const recycled = this.lines.find((l) => l.kind === info.kind && l.state === LineState.Idle);
    const line = recycled ?? { mid: this.nextMid(), kind: info.kind, state: LineState.Idle, pub: undefined, info: undefined };
    if (!recycled) this.lines.push(line);
    line.pub = pub;
    line.info = info;
    line.state = LineState.Offered;
    return { type: 'attach', line, fresh: !recycled };
  }

  /** Mids are numbers, skipping those the client's own offer used. */
  private nextMid(): string {
    let n = this.lines.length + 1;
    while (this.clientMids.has(String(n)) || this.lines.some((l) => l.mid === String(n))) n++;
    return String(n);
  }
}
