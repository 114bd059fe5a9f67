/**
 * One subscriber's downlink (issue 18, item 3): estimates what its path carries
 * (bandwidth/downlink-estimator.ts, from what we send and its receiver reports), shares
 * that across its DownTracks (bandwidth/allocator.ts: audio first, screen share before
 * cameras, each camera the simulcast layer it fits, paused when not even the smallest
 * fits), and sends probe padding when a higher layer might fit.
 *
 *   every packet sent / RR block / NACK ─▶ DownlinkEstimator
 *   every ALLOCATE_MS: layer bitrates + estimate ─▶ allocate ─▶ DownTrack.setLayer
 *   every PAD_MS while probing: padding packets on one forwarding video DownTrack
 */
import { layerSubject, publisherInfo, type VideoQuality } from 'weever-protocol';
import { type AllocTrack, allocate, changedTracks, type Layer, UP_HEADROOM } from './bandwidth/allocator.js';
import { DownlinkEstimator } from './bandwidth/downlink-estimator.js';
import { type DownlinkListener, type DownTrack, DownTrackState } from './down-track.js';
import { MAX_TEMPORAL } from './stages/layer-selector.js';

export const ALLOCATE_MS = 500;
export const PAD_MS = 50;
export type ProbeEvent = 'start' | 'success' | 'failure';
/** An Opus stream as the allocator reserves it before its rate is measured. */
const AUDIO_BPS = 40_000;
/**
 * A layer of a publisher elsewhere not received here yet: its rate guessed by its place
 * from the top, as the SDK's layers went here (top ≈ 800 kbit/s at 1280×720, ≈ 480 at
 * 640×480; the next ≈ 300; the smallest ≈ 150); measured rates replace it.
 */
const NOMINAL_FROM_TOP = [800_000, 300_000, 150_000];
const PADDING_PACKET_BITS = (12 + 255) * 8;
/** Publishers one subscriber may cap at once. */
const MAX_CAPS = 256;
/** Cameras are paused only when the estimate is below this share of their smallest layers (with audio). */
const MIN_SHARE_BEFORE_PAUSE = 0.35;

/**
 * Adaptive stream: the spatial layer a video shown at `view` (device pixels) needs — the
 * smallest whose key frames are at least that wide and that high. Undefined when no layer
 * size is known or none is that large (then the size does not cap it).
 */
export function layerForView(sizes: readonly (readonly [number, number])[] | undefined, view: ViewSize): number | undefined {
  if (!sizes) return undefined;
  for (let i = 0; i < sizes.length; i++) {
    const [w, h] = sizes[i]!;
    if (w > 0 && h > 0 && w >= view.width && h >= view.height) return i;
  }
  return undefined;
}

/** How large a subscriber shows a video (`VIDEO_SIZE`); 0×0: not shown. */
export interface ViewSize {
  width: number;
  height: number;
}

export class Downlink implements DownlinkListener {
  /**
   * Starts at 500 kbit/s: a camera's smallest layer plus audio fits with the allocator's
   * headroom (≈ 250 + 40 kbit/s × 1.15, measured), so video starts at once on any path
   * that carries that, and probes find more within seconds.
   */
  readonly estimator = new DownlinkEstimator({ startBps: 500_000 });
  private previous = new Map<string, Layer | null>();
  private wantedBps = 0;
  /** what a probe aims at: resuming paused video first (a small step), else the best allocation */
  private probeForBps = 0;
  private resuming = false;
  private paddingBps = 0;
  /** padding owed (bits), carried between PAD_MS ticks */
  private owed = 0;
  private lastAllocateAt = 0;
  /** the app's caps, by publisher full id (VIDEO_QUALITY) */
  private readonly caps = new Map<string, VideoQuality>();
  /** the sizes the app shows videos at, by publisher full id (VIDEO_SIZE) */
  private readonly views = new Map<string, ViewSize>();
  /** a track's layer sizes as its publisher's key frames say (the room's latest track info) */
  sizesOf: (pub: string, trackId: string) => readonly (readonly [number, number])[] | undefined = () => undefined;
  private lastPadAt = 0;
  /** the estimator's probe counters at the last tick (onProbe) */
  private seenProbes = 0;
  private seenSuccesses = 0;
  private seenFailures = 0;
  /** the last choice, for stats and tests: DownTrack mid → layer (null: paused) */
  get layers(): ReadonlyMap<string, Layer | null> {
    return this.previous;
  }

  constructor(
    private readonly downTracks: () => readonly DownTrack[],
    /** a layer's bitrate measured where it is published, when that is this instance */
    private readonly publishedBps: (layerSubject: string) => number | undefined,
    /** told when the choice changes (not per packet): the estimate and each DownTrack's layer */
    private readonly onChange?: (estimateBps: number, layers: ReadonlyMap<string, Layer | null>) => void,
    /** told when a probe starts or is judged (seen at the next tick), for logs */
    private readonly onProbe?: (event: ProbeEvent, paddingBps: number) => void,
  ) {}

  onSent(bytes: number, now: number): void {
    this.estimator.onSent(bytes, now);
  }
  onReceiverReport(ssrc: number, fractionLost: number, extHighestSeq: number, now: number): void {
    this.estimator.onReceiverReport(ssrc, fractionLost, extHighestSeq, now);
  }
  onRtt(ms: number): void {
    this.estimator.onRtt(ms);
  }

  onNack(packets: number, now: number): void {
    this.estimator.onNack(packets, now);
  }

  /**
   * Caps a publisher's camera for this subscriber (`high` lifts the cap); false when too
   * many publishers are capped already. Takes effect at the next allocation.
   */
  setQuality(pub: string, quality: VideoQuality): boolean {
    if (quality === 'high') this.caps.delete(pub);
    else if (!this.caps.has(pub) && this.caps.size >= MAX_CAPS) return false;
    else this.caps.set(pub, quality);
    this.lastAllocateAt = 0; // reallocate at the next tick
    return true;
  }

  /**
   * Adaptive stream: publisher `pub`'s video is shown at `width`×`height` (0×0: hidden, so
   * nothing of a simulcast camera is sent); false when too many are set already.
   */
  setViewSize(pub: string, width: number, height: number): boolean {
    if (!this.views.has(pub) && this.views.size >= MAX_CAPS) return false;
    this.views.set(pub, { width, height });
    this.lastAllocateAt = 0;
    return true;
  }

  /**
   * Dynacast: the highest layer of `pub`'s `n`-layer track this subscriber would take on any
   * path — its caps (VIDEO_QUALITY, VIDEO_SIZE), not the estimate; −1 when it is hidden.
   */
  wantedLayer(pub: string, trackId: string, n: number): number {
    const view = this.views.get(pub);
    if (view && view.width === 0) return -1;
    const quality = this.caps.get(pub);
    let max = quality === 'low' ? 0 : quality === 'medium' ? Math.max(0, n - 2) : n - 1;
    const fit = view ? layerForView(this.sizesOf(pub, trackId), view) : undefined;
    if (fit !== undefined) max = Math.min(max, fit);
    return max;
  }

  /** The publisher left: its cap and size go too. */
  forget(pub: string): void {
    this.caps.delete(pub);
    this.views.delete(pub);
  }

  /**
   * Whether `tick` must run every PAD_MS: a layer above the estimate is wanted (a probe may
   * start, or pads), or an allocation is due at once (start, a new cap). Otherwise nothing
   * happens between allocations, and ticking every ALLOCATE_MS does the same work with a
   * tenth of the wake-ups (a 1:1 call's subscriber: 20 → 2 per second).
   */
  get wantsFastTicks(): boolean {
    return this.wantedBps > 0 || this.paddingBps > 0 || this.lastAllocateAt === 0;
  }

  /** Reallocates (every ALLOCATE_MS) and sends the padding a probe asks for; called every PAD_MS (see wantsFastTicks). */
  tick(now: number): void {
    if (now - this.lastAllocateAt >= ALLOCATE_MS) {
      const elapsed = this.lastAllocateAt === 0 ? ALLOCATE_MS : now - this.lastAllocateAt;
      this.lastAllocateAt = now;
      this.allocate(elapsed, now);
    }
    this.paddingBps = this.wantedBps > 0 ? this.estimator.probe(now, this.probeForBps, this.resuming) : 0;
    if (this.onProbe) this.reportProbes();
    const dt = this.lastPadAt === 0 ? PAD_MS : Math.min(now - this.lastPadAt, 100);
    this.lastPadAt = now;
    if (this.paddingBps <= 0) {
      this.owed = 0;
      return;
    }
    this.owed += (this.paddingBps * dt) / 1000;
    const count = Math.floor(this.owed / PADDING_PACKET_BITS);
    if (count === 0) return;
    // not a muted track's: its subscriber must see no packet of it
    const carrier = this.downTracks().find((d) => d.kind === 'video' && d.state === DownTrackState.Forwarding && !d.muted);
    if (carrier?.sendPadding(count, now)) this.owed -= count * PADDING_PACKET_BITS;
    else this.owed = 0;
  }

  private reportProbes(): void {
    const e = this.estimator;
    if (e.probeSuccesses !== this.seenSuccesses) this.onProbe!('success', 0);
    if (e.probeFailures !== this.seenFailures) this.onProbe!('failure', 0);
    if (e.probes !== this.seenProbes) this.onProbe!('start', this.paddingBps);
    this.seenProbes = e.probes;
    this.seenSuccesses = e.probeSuccesses;
    this.seenFailures = e.probeFailures;
  }

  /**
   * What the allocator may spend: the estimate, but at least every track's smallest layer
   * while the estimate is above 35 % of that. Against a policer the estimate swings low for
   * a moment after the path saturates or a probe fails (a report over a quarter second of a
   * burst), and the smallest layer's measured rate swings high with the keyframes a lossy
   * subscriber asks for (at half, a camera on a 400 kbit/s path flapped between paused and
   * its 150 kbit/s layer, the estimate at 193 k, its layer measured at up to 350 k); pausing
   * costs a keyframe wait to resume, and the smallest layer is what such a path carries.
   * Below 35 %, the path cannot carry it: then pause.
   */
  private budget(tracks: readonly AllocTrack[]): number {
    const estimate = this.estimator.estimateBps;
    let smallest = 0;
    let starting = false;
    for (const t of tracks) {
      smallest += t.layers[0]?.bps ?? 0;
      if (t.kind === 'video' && !this.previous.get(t.id)) starting = true;
    }
    // Before any report the estimate is only a start value: nothing is paused on it.
    if (this.estimator.judgedPath && estimate < smallest * MIN_SHARE_BEFORE_PAUSE) return estimate;
    // Enough to keep every camera's smallest layer; with the allocator's up headroom when a
    // camera starts or resumes, so it gets that too — but never the headroom for more.
    return Math.max(estimate, starting ? smallest * UP_HEADROOM : smallest);
  }

  private allocate(elapsedMs: number, now: number): void {
    const tracks: AllocTrack[] = [];
    /** cameras whose every layer is silent, with the layer they keep */
    let kept: Map<string, Layer> | undefined;
    /** simulcast videos the app does not show (VIDEO_SIZE 0x0) */
    let hidden: DownTrack[] | undefined;
    const downs = this.downTracks();
    for (const d of downs) {
      const src = d.source;
      if (!src || d.state === DownTrackState.Idle) continue;
      d.tickRates(elapsedMs);
      if (d.muted) {
        // nothing arrives; the layer it had is kept for its unmute, which starts at a keyframe
        const prev = this.previous.get(d.mid);
        if (prev) (kept ??= new Map()).set(d.mid, prev);
        continue;
      }
      if (d.kind === 'audio') {
        tracks.push({ id: d.mid, kind: 'audio', source: 'audio', layers: [{ spatial: 0, temporal: 0, bps: AUDIO_BPS }] });
        continue;
      }
      const n = d.layerCount;
      if (n < 2) {
        // one stream: nothing to choose; it is sent as it comes, unless the app does not show it
        d.setHidden(this.views.get(src.pub)?.width === 0);
        continue;
      }
      // the app's caps: VIDEO_QUALITY and VIDEO_SIZE (−1: not shown, so nothing is sent; it
      // resumes at a keyframe when shown again)
      const maxSpatial = this.wantedLayer(src.pub, src.info.trackId, n);
      if (maxSpatial < 0) {
        (hidden ??= []).push(d);
        continue;
      }
      const layers: { spatial: number; temporal: number; bps: number }[] = [];
      for (let i = 0; i < n; i++) {
        // Published here: its rate as measured; 0 when the encoder does not send it (a small
        // capture gets fewer layers, a narrow uplink drops the larger ones): never chosen.
        // Elsewhere, or not measured yet: what we received, or a guess.
        const local = this.publishedBps(layerSubject(src.subject, i));
        if (local === 0) continue;
        if (local !== undefined) {
          layers.push({ spatial: i, temporal: MAX_TEMPORAL, bps: local });
          continue;
        }
        if (d.layerOff(i, now)) continue;
        const measured = d.layerBps[i]!;
        layers.push({ spatial: i, temporal: MAX_TEMPORAL, bps: measured > 0 ? measured : NOMINAL_FROM_TOP[Math.min(n - 1 - i, 2)]! });
      }
      // Every layer silent: the publisher's uplink is down (an outage), not a choice of its
      // encoder. Pausing would make the camera wait, once packets flow again, for the next
      // allocation (up to ALLOCATE_MS) and a keyframe asked for after it — which the
      // publisher's throttle defers behind the one its own gap just asked for (measured:
      // video back 0.6–1.1 s after an 8 s outage). Kept on its layer, the camera forwards
      // that first keyframe. Sending nothing meanwhile, it costs the budget nothing.
      const prev = this.previous.get(d.mid);
      if (layers.length === 0 && prev) {
        (kept ??= new Map()).set(d.mid, prev);
        continue;
      }
      // A larger layer never costs less than a smaller one: keyframes a lossy subscriber asks
      // for key every layer, and the smallest can then measure dearer than the next.
      for (let k = 1; k < layers.length; k++)
        if (layers[k]!.bps < layers[k - 1]!.bps) layers[k] = { ...layers[k]!, bps: layers[k - 1]!.bps };
      const cap = maxSpatial < n - 1 ? { maxSpatial } : undefined;
      tracks.push({ id: d.mid, kind: 'video', source: publisherInfo(src.pub).kind, layers, ...(cap ? { cap } : {}) });
    }
    const a = allocate(this.budget(tracks), tracks, this.previous);
    this.wantedBps = a.wantedBps;
    this.resuming = a.resumeBps > 0;
    this.probeForBps = this.resuming ? a.resumeBps : a.wantedBps;
    for (const d of downs) {
      if (d.layerCount < 2) continue;
      const l = a.layers.get(d.mid);
      if (l === undefined) continue;
      d.setLayer(l ? l.spatial : -1, l ? l.temporal : MAX_TEMPORAL);
    }
    const chosen = new Map(a.layers);
    if (kept) for (const [mid, l] of kept) chosen.set(mid, l);
    if (hidden)
      for (const d of hidden) {
        d.setLayer(-1, MAX_TEMPORAL);
        chosen.set(d.mid, null);
      }
    if (this.onChange && changedTracks(this.previous, chosen).length > 0) this.onChange(this.estimator.estimateBps, chosen);
    this.previous = chosen;
  }
}
