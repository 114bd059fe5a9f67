/**
 * Which simulcast layer ONE subscriber gets, and the rewrite that makes the layers it gets
 * over time look like one stream (mediasoup's SimulcastConsumer, LiveKit's forwarder and
 * vp8munger). One per DownTrack, in its chain right BEFORE the RtpRewriter it works with:
 *
 *   layers' packets (header.layer set) ─▶ LayerSelector ─▶ RtpRewriter ─▶ extensions ─▶ NACK
 *
 * - Spatial: the layer changes (up or down) only at the first packet of a keyframe of the
 *   target layer; until then the current layer goes on. A keyframe of the target is asked
 *   for (`requestKeyframe`) whenever a target is set that is not the current layer.
 *   Nothing is forwarded before the first keyframe of the target (start, resume).
 * - Temporal (VP8 TID): packets above the current temporal layer are dropped; it goes up
 *   at the start of a layer-sync frame (Y) of a layer ≤ the target, or at a keyframe, and
 *   down at any frame start. Packets without TID are TL0.
 * - Continuity: the rewriter is told of each dropped packet of the current layer
 *   (sequence numbers without gaps) and of each switch (sequence numbers continue;
 *   timestamps through both layers' sender reports when known, else a step of the wall
 *   time passed, at least one frame; never backwards). VP8 picture ids continue from the
 *   last one sent + 1 across a switch, and each frame dropped moves the later ones down by
 *   one; TL0PICIDX continues across a switch (+1: a keyframe is a TL0 frame). Both are
 *   rewritten in place in their own width (7/15 bits, 8 bits), wrapping.
 *
 * The buffer is shared by every subscriber and rewritten in place by each in turn: the
 * decisions and rewrites start from the original values read once per packet
 * (`RtpHeader.vp8`), and every forwarded packet's picture id and TL0PICIDX are written,
 * changed or not. So every DownTrack of a layered VP8 track must have a selector (one
 * without would see what the previous subscriber wrote).
 *
 * H264: keyframes are IDR/SPS packets (single NAL, STAP-A, FU-A start); no temporal
 * layers, no picture ids. Other codecs: no keyframe detection — a spatial switch happens
 * at the first packet of the target layer (the requested keyframe repairs the picture).
 *
 * Per packet: no allocation, no logging; the callbacks run on a switch or a target change.
 */
import { isH264Keyframe, type RtpHeader, type SenderInfo } from 'weever-rtp';
import type { RtpStage } from '../chain.js';
import { Renumbering } from './renumbering.js';
import type { RtpRewriter } from './rewriter.js';

/** Spatial layers a selector knows sender reports for. */
export const MAX_LAYERS = 4;
/** Highest VP8 temporal layer index (TID is 2 bits): a temporal target of 3 forwards all. */
export const MAX_TEMPORAL = 3;
/** Packets after a switch during which the target layer's packets from before the keyframe are dropped. */
const LATE_WINDOW = 1024;

export type LayerCodec = 'vp8' | 'h264' | 'other';

export interface LayerSelectorOptions {
  codec?: LayerCodec;
  /** RTP clock rate of the video: 90000 */
  clockRate?: number;
  /** asks the publisher for a keyframe on that spatial layer (throttling is the caller's) */
  requestKeyframe: (spatial: number) => void;
  /**
   * the forwarded layer changed (−1: paused): the DownTrack may unsubscribe the others.
   * `waitMs`: how long the switch waited for the new layer's keyframe (from the target
   * being set), or −1 when it is not a switch that was waited for (a pause, a restart).
   */
  onSwitched?: (spatial: number, waitMs: number) => void;
  /** the target at start; paused (−1) when not given */
  spatial?: number;
  temporal?: number;
}

export class LayerSelector implements RtpStage {
  /** spatial layer forwarded now; −1 before the first keyframe and while paused */
  private currentSpatial = -1;
  private currentTemporalLayer = 0;
  private targetSpatial: number;
  private targetTemporal: number;
  /** layer forwarded last (kept across a pause); −1 before the first */
  private lastSpatial = -1;
  /** packets forwarded */
  forwarded = 0;
  /** packets of the forwarded layer not forwarded: temporal layers above the current one, padding */
  dropped = 0;
  /** packets of other layers (or while waiting for a keyframe, or paused) not forwarded */
  skipped = 0;
  /** changes of the forwarded layer, the first start and each resume included */
  switches = 0;

  private readonly codec: LayerCodec;
  private readonly clockRate: number;
  private readonly requestKeyframe: (spatial: number) => void;
  private readonly onSwitched: ((spatial: number, waitMs: number) => void) | undefined;

  /** sequence number of the packet the current layer started at */
  private switchSeq = 0;
  private sinceSwitch = 0;
  /** receivedAt of the last packet forwarded */
  private lastAt = 0;
  /** when the spatial target last changed (performance.now()); 0 once the switch happened */
  private targetSetAt = 0;

  /** VP8 picture ids: input → output of the current layer */
  private readonly pictureIds = new Renumbering(0x7fff);
  /** a picture id went out (numbering continues from it) */
  private pictureIdStarted = false;
  private tl0Offset = 0;
  private lastTl0 = 0;
  private tl0Started = false;

  /** the latest sender report of each layer: its SSRC (−1 none), NTP time in seconds, RTP timestamp */
  private readonly srSsrc = new Float64Array(MAX_LAYERS).fill(-1);
  private readonly srNtp = new Float64Array(MAX_LAYERS);
  private readonly srRtp = new Float64Array(MAX_LAYERS);

  constructor(
    private readonly rewriter: RtpRewriter,
    options: LayerSelectorOptions,
  ) {
    this.codec = options.codec ?? 'vp8';
    this.clockRate = options.clockRate ?? 90000;
    this.requestKeyframe = options.requestKeyframe;
    this.onSwitched = options.onSwitched;
    this.targetSpatial = options.spatial ?? -1;
    this.targetTemporal = options.temporal ?? MAX_TEMPORAL;
  }

  /** spatial layer forwarded now; −1 before the first keyframe and while paused */
  get spatial(): number {
    return this.currentSpatial;
  }

  /** temporal layer forwarded now (highest TID that goes out) */
  get temporal(): number {
    return this.currentTemporalLayer;
  }

  get target(): { spatial: number; temporal: number } {
    return { spatial: this.targetSpatial, temporal: this.targetTemporal };
  }

  /** a spatial switch is pending: waiting for a keyframe of the target layer */
  get switching(): boolean {
    return this.targetSpatial >= 0 && this.targetSpatial !== this.currentSpatial;
  }

  /**
   * What this subscriber should get: spatial −1 pauses (at once). Takes effect as the rules
   * allow (spatial at a keyframe of the target, temporal at a sync point / frame start);
   * asks for a keyframe of the target each time it is called while that layer is not the
   * one forwarded. Between packets.
   */
  setTarget(spatial: number, temporal: number = MAX_TEMPORAL): void {
    if (spatial !== this.targetSpatial) this.targetSetAt = performance.now();
    this.targetSpatial = spatial;
    this.targetTemporal = temporal;
    if (spatial < 0) {
      if (this.currentSpatial >= 0) {
        this.currentSpatial = -1;
        this.onSwitched?.(-1, -1);
      }
      return;
    }
    if (spatial !== this.currentSpatial) this.requestKeyframe(spatial);
  }

  /**
   * A sender report of `layer`'s stream (the publisher's SR as it arrived): its NTP↔RTP
   * mapping, used to continue timestamps when switching to or from that layer.
   */
  onSenderReport(layer: number, sr: SenderInfo): void {
    if (layer < 0 || layer >= MAX_LAYERS) return;
    this.srSsrc[layer] = sr.ssrc >>> 0;
    this.srNtp[layer] = sr.ntpSec + sr.ntpFrac / 0x100000000;
    this.srRtp[layer] = sr.rtpTs >>> 0;
  }

  onRtp(p: Buffer, h: RtpHeader): boolean {
    const layer = h.layer;
    // (the layer's stream on another SSRC — the publisher restarted it — waits for a keyframe like a switch)
    if (layer === this.currentSpatial && h.ssrc === this.rewriter.source) {
      if (this.sinceSwitch < LATE_WINDOW) {
        this.sinceSwitch++;
        // from before the keyframe the layer started at (reordered): not decodable
        if (((h.seq - this.switchSeq) & 0xffff) >= 0x8000) {
          this.skipped++;
          return false;
        }
      }
      return this.forward(p, h);
    }
    if (layer !== this.targetSpatial || !this.isKeyframe(p, h)) {
      this.skipped++;
      return false;
    }
    this.switchAt(p, h);
    return this.forward(p, h);
  }

  private isKeyframe(p: Buffer, h: RtpHeader): boolean {
    if (this.codec === 'vp8') return h.vp8(p).keyframe;
    if (this.codec === 'h264') {
      let end = p.length;
      if (p[0]! & 0x20) end -= p[end - 1]!;
      return isH264Keyframe(p, h.payloadOffset, end);
    }
    return !h.paddingOnly;
  }

  /** `h`, the first packet of a keyframe of the target layer, starts it. */
  private switchAt(p: Buffer, h: RtpHeader): void {
    const layer = h.layer;
    const rw = this.rewriter;
    rw.switchTo(h, this.timestampOffset(h));
    if (this.codec === 'vp8') {
      const d = h.vp8(p);
      if (d.pictureId >= 0) {
        this.pictureIds.rebase(d.pictureId, this.pictureIdStarted ? this.pictureIds.last + 1 : d.pictureId);
      }
      if (d.tl0PicIdx >= 0) this.tl0Offset = this.tl0Started ? (this.lastTl0 + 1 - d.tl0PicIdx) & 0xff : 0;
    }
    this.currentSpatial = layer;
    this.lastSpatial = layer;
    this.currentTemporalLayer = this.targetTemporal;
    this.switchSeq = h.seq;
    this.sinceSwitch = 0;
    this.switches++;
    const waited = this.targetSetAt > 0 && h.receivedAt > 0 ? h.receivedAt - this.targetSetAt : -1;
    this.targetSetAt = 0;
    this.onSwitched?.(layer, waited);
  }

  /**
   * The timestamp offset that continues the output at `h`, the first packet of the new
   * stretch: undefined leaves the rewriter's one-frame step.
   */
  private timestampOffset(h: RtpHeader): number | undefined {
    const rw = this.rewriter;
    if (!rw.hasStarted) return undefined;
    const from = this.lastSpatial;
    // The same stream again (resume after a pause): its own clock says how much time passed.
    if (h.ssrc === rw.source) return rw.timestampOffset;
    if (from >= 0 && from < MAX_LAYERS && h.layer < MAX_LAYERS && this.srSsrc[from] === rw.source && this.srSsrc[h.layer] === h.ssrc) {
      // The same NTP instant maps to the same output timestamp on both layers.
      const ntpDelta = this.srNtp[h.layer]! - this.srNtp[from]!;
      return rw.timestampOffset + this.srRtp[from]! - this.srRtp[h.layer]! + Math.round(ntpDelta * this.clockRate);
    }
    // No mapping: the wall time since the last packet sent when more than a frame (a
    // pause), else the rewriter's one-frame step.
    if (h.receivedAt > 0 && this.lastAt > 0) {
      const elapsed = Math.round(((h.receivedAt - this.lastAt) * this.clockRate) / 1000);
      if (elapsed > rw.tsStep) return rw.lastTimestamp + elapsed - h.ts;
    }
    return undefined;
  }

  /** A packet of the current layer: temporal filtering, then the VP8 rewrite. */
  private forward(p: Buffer, h: RtpHeader): boolean {
    if (h.paddingOnly) return this.drop(h, -1, 0);
    if (this.codec !== 'vp8') return this.pass(h);
    const d = h.vp8(p);
    if (!d.valid) return this.drop(h, -1, 0);
    const tid = d.tid;
    if (d.startOfFrame) {
      const target = this.targetTemporal;
      const current = this.currentTemporalLayer;
      if (d.keyframe) this.currentTemporalLayer = target;
      else if (target < current) this.currentTemporalLayer = target;
      else if (d.y && tid > current && tid <= target) this.currentTemporalLayer = tid;
    }
    if (tid > this.currentTemporalLayer) return this.drop(h, d.pictureId, d.pictureIdMask);
    if (d.pictureId >= 0) {
      const out = this.pictureIds.map(d.pictureId, d.pictureIdMask);
      if (out < 0) return this.drop(h, -1, 0);
      d.writePictureId(p, out);
      this.pictureIdStarted = true;
    }
    if (d.tl0PicIdx >= 0) {
      const out = (d.tl0PicIdx + this.tl0Offset) & 0xff;
      d.writeTl0PicIdx(p, out);
      if (!this.tl0Started || ((out - this.lastTl0) & 0xff) < 0x80) this.lastTl0 = out;
      this.tl0Started = true;
    }
    return this.pass(h);
  }

  private pass(h: RtpHeader): boolean {
    this.forwarded++;
    if (h.receivedAt > 0) this.lastAt = h.receivedAt;
    return true;
  }

  private drop(h: RtpHeader, pictureId: number, mask: number): boolean {
    this.rewriter.dropped(h);
    if (pictureId >= 0) this.pictureIds.drop(pictureId, mask);
    this.dropped++;
    return false;
  }
}
