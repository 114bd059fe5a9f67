/**
 * The simulcast layers published on this instance, by bus subject, as subscribers here
 * choose from them: a layer's usual bitrate, and whether it is being sent at all (an
 * encoder drops its larger layers when its own uplink narrows, e.g. after an outage). A
 * layer of a publisher on another instance is not here; its DownTracks measure what they
 * receive.
 */

/** What a published layer tells (an UpLayer). */
export interface PublishedLayer {
  /** usual bitrate, bit/s; 0 before it was measured */
  readonly bps: number;
  /** when its last packet arrived (performance.now()); 0 before the first */
  readonly lastPacketAt: number;
}

/** A layer silent this long is not being sent: not to be chosen. */
export const LAYER_IDLE_MS = 500;

export class LayerRates {
  private readonly layers = new Map<string, PublishedLayer>();

  set(subject: string, layer: PublishedLayer): void {
    this.layers.set(subject, layer);
  }

  /**
   * bit/s of a layer published here; 0 when it is not being sent; undefined when the
   * layer is not published on this instance or its rate is not measured yet.
   */
  get(subject: string, now = performance.now()): number | undefined {
    const l = this.layers.get(subject);
    if (!l) return undefined;
    if (l.lastPacketAt === 0 || now - l.lastPacketAt > LAYER_IDLE_MS) return 0;
    return l.bps > 0 ? l.bps : undefined;
  }

  delete(subject: string): void {
    this.layers.delete(subject);
  }

  get size(): number {
    return this.layers.size;
  }
}
