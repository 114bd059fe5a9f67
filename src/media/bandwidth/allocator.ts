/**
 * Shares one subscriber's downlink estimate across its DownTracks (issue 18, item 3).
 * Pure: the same budget, tracks and previous choice give the same answer.
 *
 *   1. audio: always forwarded, its rate reserved first (a call without sound is broken,
 *      one without video is not);
 *   2. every video, in priority order (screen share before cameras, then the caller's
 *      order), gets its lowest layer if that still fits, else it is paused — so the
 *      lowest-priority video is paused first, and a cheap one can use what is left after a
 *      costly one did not fit;
 *   3. what remains upgrades the videos one step at a time, a higher priority class to its
 *      best first, equal priorities in turn (two cameras get 360p each before one gets 720p).
 *
 * Hysteresis: a move above what the track had before (or resuming it) needs the total to fit
 * in the budget with headroom (×1.15); keeping or lowering needs only to fit. So a budget
 * hovering at a boundary does not switch layers (each switch waits for a keyframe).
 *
 * Frame rate before resolution: above its lowest spatial layer a video is only offered at the
 * full frame rate its cap allows; fewer temporal layers are the last step before a pause.
 */

export type TrackSource = 'audio' | 'screen' | 'camera';

/** A layer to forward. Audio is always { spatial: 0, temporal: 0 }. */
export interface Layer {
  readonly spatial: number;
  readonly temporal: number;
}

/** What forwarding a layer costs: the publisher's measured rate of that spatial layer up to that temporal layer. */
export interface LayerRate extends Layer {
  readonly bps: number;
}

/** The app's cap on a track (`setVideoQuality`, a maximum size), mapped to layers by the caller. */
export interface LayerCap {
  readonly maxSpatial?: number;
  readonly maxTemporal?: number;
}

export interface AllocTrack {
  readonly id: string;
  readonly kind: 'audio' | 'video';
  readonly source: TrackSource;
  /** higher is served first; default: screen 2, camera 1 */
  readonly priority?: number;
  /** the layers seen from the publisher; one with no rate (not seen yet) is never chosen */
  readonly layers: readonly LayerRate[];
  readonly cap?: LayerCap;
  /** what is forwarded now: the hysteresis reference when `previous` does not name the track */
  readonly current?: Layer | null;
}

export interface Allocation {
  /** per track id: the layer to forward, or null = paused (a video with no usable layer, or no room) */
  readonly layers: ReadonlyMap<string, Layer | null>;
  /** the sum of the chosen layers' rates */
  readonly usedBps: number;
  /**
   * The budget at which every track would get the best layer its cap allows (with the up
   * headroom): what is worth probing for. 0 when no track is held back by the budget.
   */
  readonly wantedBps: number;
  /**
   * The budget at which every paused video would get its lowest layer back (with the up
   * headroom); 0 when none is paused. A probe for this small step is what brings a paused
   * video back on a path that cannot carry the best (a probe for `wantedBps` never passes there).
   */
  readonly resumeBps: number;
}

export interface AllocatorOptions {
  /** a move up needs budget ≥ this × the new total */
  upHeadroom?: number;
}

/** 15 %: above the ±10 % a publisher's encoder wanders around its target, below a layer step (×2.5–3). */
export const UP_HEADROOM = 1.15;

const AUDIO_LAYER: Layer = { spatial: 0, temporal: 0 };

interface Video {
  readonly track: AllocTrack;
  readonly ladder: readonly LayerRate[];
  readonly priority: number;
  /** the previous choice: null = paused or new (any layer is a move up) */
  readonly ref: Layer | null;
  /** into ladder; -1 = paused */
  index: number;
}

export function allocate(
  budgetBps: number,
  tracks: readonly AllocTrack[],
  previous?: ReadonlyMap<string, Layer | null>,
  options: AllocatorOptions = {},
): Allocation {
  const headroom = options.upHeadroom ?? UP_HEADROOM;
  const layers = new Map<string, Layer | null>();
  const videos: Video[] = [];
  let used = 0;
  let best = 0;
  for (const track of tracks) {
    if (track.kind === 'audio') {
      const rate = audioRate(track.layers);
      used += rate;
      best += rate;
      layers.set(track.id, AUDIO_LAYER);
      continue;
    }
    const ladder = ladderOf(track);
    const ref = previous?.has(track.id) ? previous.get(track.id)! : (track.current ?? null);
    videos.push({ track, ladder, priority: track.priority ?? (track.source === 'screen' ? 2 : 1), ref, index: -1 });
    const top = ladder[ladder.length - 1];
    if (top) best += top.bps;
  }
  // Stable: equal priorities keep the caller's order.
  videos.sort((a, b) => b.priority - a.priority);

  const fits = (total: number, up: boolean) => (up ? total * headroom : total) <= budgetBps;

  for (const v of videos) {
    const lowest = v.ladder[0];
    if (lowest && fits(used + lowest.bps, isUp(lowest, v.ref))) {
      v.index = 0;
      used += lowest.bps;
    }
  }

  for (let start = 0; start < videos.length; ) {
    let end = start + 1;
    while (end < videos.length && videos[end]!.priority === videos[start]!.priority) end++;
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = start; i < end; i++) {
        const v = videos[i]!;
        if (v.index < 0) continue;
        const next = v.ladder[v.index + 1];
        if (!next) continue;
        const total = used - v.ladder[v.index]!.bps + next.bps;
        if (!fits(total, isUp(next, v.ref))) continue;
        used = total;
        v.index++;
        changed = true;
      }
    }
    start = end;
  }

  let held = false;
  let resume = 0;
  for (const v of videos) {
    const chosen = v.index < 0 ? undefined : v.ladder[v.index];
    layers.set(v.track.id, chosen ? { spatial: chosen.spatial, temporal: chosen.temporal } : null);
    if (v.ladder.length > 0 && v.index < v.ladder.length - 1) held = true;
    if (v.index < 0 && v.ladder[0]) resume += v.ladder[0].bps;
  }
  return {
    layers,
    usedBps: used,
    wantedBps: held ? Math.ceil(best * headroom) : 0,
    resumeBps: resume > 0 ? Math.ceil((used + resume) * headroom) : 0,
  };
}

/** The ids whose choice differs between two allocations (new and removed ids included). */
export function changedTracks(before: ReadonlyMap<string, Layer | null>, after: ReadonlyMap<string, Layer | null>): string[] {
  const out: string[] = [];
  for (const [id, layer] of after) if (!before.has(id) || !sameLayer(before.get(id)!, layer)) out.push(id);
  for (const id of before.keys()) if (!after.has(id)) out.push(id);
  return out;
}

export function sameLayer(a: Layer | null, b: Layer | null): boolean {
  if (a === null || b === null) return a === b;
  return a.spatial === b.spatial && a.temporal === b.temporal;
}

/** Audio: its best measured rate is reserved (0 while unmeasured: it is forwarded all the same). */
function audioRate(layers: readonly LayerRate[]): number {
  let rate = 0;
  for (const l of layers) if (l.bps > rate) rate = l.bps;
  return rate;
}

/**
 * The layers a video may be given, worst to best: seen (rate > 0), within its cap, and above
 * the lowest spatial layer only at the full frame rate the cap allows.
 */
function ladderOf(track: AllocTrack): LayerRate[] {
  const maxS = track.cap?.maxSpatial ?? Number.POSITIVE_INFINITY;
  const maxT = track.cap?.maxTemporal ?? Number.POSITIVE_INFINITY;
  const usable = track.layers.filter((l) => l.bps > 0 && l.spatial <= maxS && l.temporal <= maxT);
  if (usable.length === 0) return usable;
  let lowestSpatial = Number.POSITIVE_INFINITY;
  const topTemporal = new Map<number, number>();
  for (const l of usable) {
    if (l.spatial < lowestSpatial) lowestSpatial = l.spatial;
    if (l.temporal > (topTemporal.get(l.spatial) ?? -1)) topTemporal.set(l.spatial, l.temporal);
  }
  return usable
    .filter((l) => l.spatial === lowestSpatial || l.temporal === topTemporal.get(l.spatial))
    .sort((a, b) => a.spatial - b.spatial || a.temporal - b.temporal);
}

/** Quality order: spatial first, then temporal. Anything is up from paused or new. */
function isUp(l: Layer, ref: Layer | null): boolean {
  if (!ref) return true;
  return l.spatial > ref.spatial || (l.spatial === ref.spatial && l.temporal > ref.temporal);
}
