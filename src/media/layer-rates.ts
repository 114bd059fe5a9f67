/**
 * The bitrate of each simulcast layer published on this instance, by its bus subject,
 * measured where the layers arrive (the UpTrack, once a second). Subscribers here read
 * it to choose layers: a layer they do not receive has a rate all the same. A layer of a
 * publisher on another instance is not here; its DownTracks measure what they receive.
 */
export class LayerRates {
  private readonly bps = new Map<string, number>();

  set(subject: string, bps: number): void {
    this.bps.set(subject, bps);
  }

  /** bit/s, or undefined when the layer is not published here (or has not been measured yet) */
  get(subject: string): number | undefined {
    return this.bps.get(subject);
  }

  delete(subject: string): void {
    this.bps.delete(subject);
  }

  get size(): number {
    return this.bps.size;
  }
}
