/**
 * Who is speaking in a room, from the audio levels of its publishers' packets (RFC 6464),
 * after mediasoup's AudioLevelObserver and LiveKit's active speaker detection:
 *
 * - per publisher and window (`tick`, every 250 ms): the mean power of its packets' levels
 *   (silence counts, so a short blip weighs little) and how many packets were at or above
 *   the noise floor (`thresholdDbov`);
 * - smoothed over the last `smoothing` windows: the mean, or the last window when that is
 *   louder (a speaker who starts is heard at once; a pause between words keeps them);
 * - a speaker: smoothed level at or above the floor, with at least `minVoicedPackets`
 *   packets above it in those windows (one click is no speech). A muted publisher (its
 *   packets say silence), a silent one, and one whose packets stop (its windows count as
 *   silence) drop out within `smoothing` windows; one that leaves at the next tick;
 * - ranked loudest first; `tick` returns the ranking only when the order of publishers
 *   changed since the last one it returned, so a room hears of it at most once per window.
 *
 * The per-packet call (`SpeakerSlot.onLevel`) adds to three numbers; no allocation.
 */
import type { ActiveSpeaker } from 'weever-protocol';

export interface RankingOptions {
  /** noise floor, dBov (-127 … 0): quieter than this is not speech; default -50 */
  thresholdDbov?: number;
  /** windows the level is averaged over; default 3 (750 ms at 250 ms windows) */
  smoothing?: number;
  /** packets at or above the floor needed within those windows; default 3 */
  minVoicedPackets?: number;
  /** speakers listed at most; default 8 */
  maxSpeakers?: number;
}

/** Linear power of each RFC 6464 level (0 … 127 = 0 … -127 dBov). */
const POWER = Float64Array.from({ length: 128 }, (_, level) => 10 ** (-level / 10));

/** One publisher's levels: the current window and the last `smoothing` windows. */
export class SpeakerSlot {
  private packets = 0;
  private voiced = 0;
  private energy = 0;
  /** power of each past window (0: silent or no packets), a ring */
  readonly powers: Float64Array;
  /** packets above the floor in each past window */
  readonly voicedCounts: Uint16Array;

  constructor(
    readonly pub: string,
    /** the floor as an RFC 6464 level: a packet at or below it (as loud or louder) is voiced */
    private readonly floorLevel: number,
    smoothing: number,
  ) {
    this.powers = new Float64Array(smoothing);
    this.voicedCounts = new Uint16Array(smoothing);
  }

  /** The per-packet call: `level` 0 (loudest) … 127 (silence). */
  onLevel(level: number): void {
    this.packets++;
    this.energy += POWER[level & 0x7f]!;
    if (level <= this.floorLevel) this.voiced++;
  }

  /** Closes the current window into ring slot `at`. */
  close(at: number): void {
    this.powers[at] = this.packets > 0 ? this.energy / this.packets : 0;
    this.voicedCounts[at] = Math.min(this.voiced, 0xffff);
    this.packets = this.voiced = this.energy = 0;
  }

  /**
   * The smoothed power: the mean over the smoothed windows, or the last window's (`at`)
   * when that is higher — the level rises at once when someone starts, and falls over
   * the smoothing when they stop.
   */
  power(at: number): number {
    let sum = 0;
    for (let i = 0; i < this.powers.length; i++) sum += this.powers[i]!;
    return Math.max(sum / this.powers.length, this.powers[at]!);
  }

  voicedPackets(): number {
    let n = 0;
    for (let i = 0; i < this.voicedCounts.length; i++) n += this.voicedCounts[i]!;
    return n;
  }
}

export class SpeakerRanking {
  readonly thresholdDbov: number;
  readonly smoothing: number;
  readonly minVoicedPackets: number;
  readonly maxSpeakers: number;
  private readonly thresholdPower: number;
  private readonly floorLevel: number;
  private readonly slots = new Map<string, SpeakerSlot>();
  private windows = 0;
  /** the ranking last returned (publisher full ids, loudest first) */
  private order: readonly string[] = [];
  /** and its levels */
  private last: ActiveSpeaker[] = [];

  constructor(o: RankingOptions = {}) {
    this.thresholdDbov = Math.max(-127, Math.min(0, o.thresholdDbov ?? -50));
    this.smoothing = Math.max(1, Math.floor(o.smoothing ?? 3));
    this.minVoicedPackets = Math.max(1, o.minVoicedPackets ?? 3);
    this.maxSpeakers = Math.max(1, o.maxSpeakers ?? 8);
    this.thresholdPower = 10 ** (this.thresholdDbov / 10);
    this.floorLevel = Math.round(-this.thresholdDbov);
  }

  /** The slot `pub`'s packets add to (created on first use; shared by its audio tracks). */
  slot(pub: string): SpeakerSlot {
    let s = this.slots.get(pub);
    if (!s) {
      s = new SpeakerSlot(pub, this.floorLevel, this.smoothing);
      this.slots.set(pub, s);
    }
    return s;
  }

  /** `pub` is gone: it leaves the ranking at the next tick. */
  remove(pub: string): void {
    this.slots.delete(pub);
  }

  get size(): number {
    return this.slots.size;
  }

  /** The ranking last returned by `tick`. */
  get current(): readonly ActiveSpeaker[] {
    return this.last;
  }

  /** Closes the window; the new ranking when its order changed, else undefined. */
  tick(): ActiveSpeaker[] | undefined {
    const at = this.windows++ % this.smoothing;
    const speaking: { pub: string; power: number }[] = [];
    for (const s of this.slots.values()) {
      s.close(at);
      const power = s.power(at);
      if (power >= this.thresholdPower && s.voicedPackets() >= this.minVoicedPackets) speaking.push({ pub: s.pub, power });
    }
    speaking.sort((a, b) => b.power - a.power || (a.pub < b.pub ? -1 : 1));
    if (speaking.length > this.maxSpeakers) speaking.length = this.maxSpeakers;
    const same = speaking.length === this.order.length && speaking.every((s, i) => s.pub === this.order[i]);
    if (same) return undefined;
    this.order = speaking.map((s) => s.pub);
    this.last = speaking.map((s) => ({ pub: s.pub, level: Math.max(-127, Math.round(10 * Math.log10(s.power))) }));
    return this.last;
  }
}
