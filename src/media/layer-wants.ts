/**
 * Dynacast for one simulcast track of a publisher here (docs/protocol.md, "Choosing what
 * to receive"): which of its layers the publisher should send. Pure, with the clock passed in.
 *
 * - Every instance with subscribers of the track reports, about once a second and at once
 *   when it changes, the highest layer any of them would take (its `VIDEO_QUALITY` and
 *   `VIDEO_SIZE` caps; −1 when none shows it). A report older than `WANT_TTL_MS` counts no more.
 * - A layer above every fresh report is switched off once it has been unwanted for
 *   `OFF_AFTER_MS` (a subscriber resizing a tile does not flap the encoder); a wanted
 *   layer, or one a keyframe is asked for, is switched on at once.
 * - Layer 0 is always sent: a subscriber that joins gets video at once, and its instance's
 *   report (or its keyframe request) brings the larger layers back.
 * - Before any report every layer is sent, as the publisher offered them.
 */

/** A report counts this long. */
export const WANT_TTL_MS = 3000;
/** A layer nobody wants is switched off after this long. */
export const OFF_AFTER_MS = 1500;

export class LayerWants {
  /** reporting instance → its highest wanted layer and when it said so */
  private readonly reports = new Map<string, { max: number; at: number }>();
  /** per layer, when it was last wanted (a report or a keyframe request) */
  private readonly wantedAt: Float64Array;
  private maskNow: number;
  private reported = false;
  /** the highest layer a fresh report wants, as of the last update */
  private maxNow: number;

  constructor(private readonly layers: number) {
    this.wantedAt = new Float64Array(layers);
    this.maskNow = (1 << layers) - 1;
    this.maxNow = layers - 1;
  }

  /** the layers to send: bit i set = layer i on */
  get mask(): number {
    return this.maskNow;
  }

  /** Instance `from` says its subscribers want up to layer `max` (−1: none). Returns the new mask when it changed. */
  onReport(from: string, max: number, now: number): number | undefined {
    // the layers sent so far count as wanted until now: none goes off before OFF_AFTER_MS
    if (!this.reported) this.wantedAt.fill(now);
    this.reported = true;
    this.reports.set(from, { max, at: now });
    return this.update(now);
  }

  /** A subscriber asked for a keyframe of `layer`: it is wanted now. Returns the new mask when it changed. */
  onKeyframeRequest(layer: number, now: number): number | undefined {
    if (layer < 0 || layer >= this.layers) return undefined;
    this.wantedAt[layer] = now;
    if (this.maskNow & (1 << layer)) return undefined;
    this.maskNow |= 1 << layer;
    return this.maskNow;
  }

  /** Recomputes the mask (on a report, and when `nextCheck` says); returns it when it changed. */
  update(now: number): number | undefined {
    if (!this.reported) return undefined;
    let max = 0;
    for (const [from, r] of this.reports) {
      if (now - r.at > WANT_TTL_MS) this.reports.delete(from);
      else if (r.max > max) max = r.max;
    }
    this.maxNow = max;
    for (let i = 0; i <= Math.min(max, this.layers - 1); i++) this.wantedAt[i] = now;
    let mask = 1;
    for (let i = 1; i < this.layers; i++) {
      const on = (this.maskNow & (1 << i)) !== 0;
      if (this.wantedAt[i] === now || (on && now - this.wantedAt[i]! < OFF_AFTER_MS)) mask |= 1 << i;
    }
    if (mask === this.maskNow) return undefined;
    this.maskNow = mask;
    return mask;
  }

  /** When `update` may switch a layer off next (ms, on the same clock); undefined when none is waiting to. */
  nextCheck(): number | undefined {
    let next: number | undefined;
    for (let i = Math.max(1, this.maxNow + 1); i < this.layers; i++) {
      if (!(this.maskNow & (1 << i))) continue;
      const at = this.wantedAt[i]! + OFF_AFTER_MS;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }
}
