/**
 * What a load publisher sends: VP8 frames at a bitrate and frame rate, split into RTP
 * packets, with periodic keyframes and one on request (PLI/FIR); Opus packets every
 * 20 ms. Paced by elapsed time, not by timer ticks, so timer jitter does not change the
 * rate. Packets are built in preallocated buffers: nothing is allocated per packet.
 */
import {
  AUDIO_CLOCK,
  nowMs,
  OPUS_TOC,
  OPUS_TOC_20MS_STEREO,
  RTP_HEADER,
  VIDEO_CLOCK,
  VP8_DESCRIPTOR,
  VP8_KEY_HEADER,
  VP8_TAG,
  writeRtpHeader,
  writeVp8Descriptor,
  writeVp8FrameHeader,
} from './media.js';
import type { MediaSender } from './target.js';

/** RTP payload per packet at most (a 1200-byte packet: fits any path MTU with SRTP and ICE overhead) */
export const MAX_RTP_PAYLOAD = 1188;
/** smallest frame: room for a key-frame header and the send time in one packet */
const MIN_FRAME_BYTES = 64;
/** a keyframe is this many times an average frame; delta frames shrink to keep the bitrate */
const KEYFRAME_FACTOR = 3;
/** Opus payload bytes per 20 ms packet: 32 kbit/s */
const OPUS_PAYLOAD = 80;
export const OPUS_PACKET_MS = 20;

export interface VideoShape {
  bitrate: number;
  fps: number;
  /** seconds between periodic keyframes; 0: only the first and those requested */
  keyframeInterval: number;
  width?: number;
  height?: number;
}

/** Frame sizes in bytes (key, delta) so that the average over a keyframe interval is the bitrate. */
export function frameSizes(shape: VideoShape): { key: number; delta: number } {
  const avg = shape.bitrate / 8 / shape.fps;
  const k = Math.round(shape.keyframeInterval * shape.fps);
  const key = Math.max(MIN_FRAME_BYTES, Math.round(avg * KEYFRAME_FACTOR));
  if (k <= 1) return { key, delta: Math.max(MIN_FRAME_BYTES, Math.round(avg)) };
  return { key, delta: Math.max(MIN_FRAME_BYTES, Math.round((avg * k - key) / (k - 1))) };
}

/** Packet payload sizes of a frame of `frameBytes` (VP8 data incl. frame header): split evenly. */
export function splitFrame(frameBytes: number, maxPayload = MAX_RTP_PAYLOAD): number[] {
  const room = maxPayload - VP8_DESCRIPTOR;
  const n = Math.max(1, Math.ceil(frameBytes / room));
  const base = Math.floor(frameBytes / n);
  const sizes: number[] = [];
  for (let i = 0; i < n; i++) sizes.push(base + (i < frameBytes % n ? 1 : 0));
  return sizes;
}

export interface SentCounters {
  packets: number;
  bytes: number;
}

/** A VP8 frame as RTP packets, written into `buffers` and handed to `send`. */
export class Vp8Source {
  readonly sent: SentCounters = { packets: 0, bytes: 0 };
  keyframesSent = 0;
  keyframeRequests = 0;
  private seq = Math.floor(Math.random() * 65536);
  private ts = Math.floor(Math.random() * 2 ** 32);
  private pictureId = Math.floor(Math.random() * 0x8000);
  private frames = 0;
  private forceKey = true;
  private readonly keyEvery: number;
  /** a frame's packets, one buffer each, shared by packets of the same length (a packet is a whole buffer: no subarray per packet) */
  private readonly keyPackets: Buffer[];
  private readonly deltaPackets: Buffer[];
  private readonly keyTotal: number;
  private readonly deltaTotal: number;
  private readonly tsStep: number;

  constructor(
    private readonly sender: MediaSender,
    private readonly shape: VideoShape,
  ) {
    const { key, delta } = frameSizes(shape);
    const buffers = new Map<number, Buffer>();
    const packets = (frameBytes: number) =>
      splitFrame(frameBytes).map((size) => {
        const len = RTP_HEADER + VP8_DESCRIPTOR + size;
        let b = buffers.get(len);
        if (!b) buffers.set(len, (b = Buffer.alloc(len, 0x5a)));
        return b;
      });
    this.keyPackets = packets(key);
    this.deltaPackets = packets(delta);
    this.keyTotal = key;
    this.deltaTotal = delta;
    this.keyEvery = Math.round(shape.keyframeInterval * shape.fps);
    this.tsStep = Math.round(VIDEO_CLOCK / shape.fps);
  }

  /** The next frame is a keyframe (the server relayed a PLI/FIR). */
  requestKeyframe(): void {
    this.keyframeRequests++;
    this.forceKey = true;
  }

  /** Sends the frames due `elapsedMs` after the start. */
  tick(elapsedMs: number): void {
    const due = Math.floor((elapsedMs * this.shape.fps) / 1000) + 1;
    while (this.frames < due) this.sendFrame();
  }

  private sendFrame(): void {
    const key = this.forceKey || (this.keyEvery > 0 && this.frames % this.keyEvery === 0);
    this.forceKey = false;
    const packets = key ? this.keyPackets : this.deltaPackets;
    const total = key ? this.keyTotal : this.deltaTotal;
    const { track, ssrc, payloadType } = this.sender;
    const sendTime = nowMs();
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i]!;
      writeRtpHeader(p, i === packets.length - 1, payloadType, this.seq, this.ts, ssrc);
      writeVp8Descriptor(p, RTP_HEADER, i === 0, this.pictureId);
      let off = RTP_HEADER + VP8_DESCRIPTOR;
      if (i === 0) {
        const header = key ? VP8_TAG + VP8_KEY_HEADER : VP8_TAG;
        off += writeVp8FrameHeader(
          p,
          off,
          key,
          Math.min(0x7ffff, (total - header) >> 1),
          this.shape.width ?? 640,
          this.shape.height ?? 360,
        );
      }
      p.writeDoubleBE(sendTime, off);
      this.seq = (this.seq + 1) & 0xffff;
      try {
        track.sendMessageBinary(p);
      } catch {
        // closed: counted as sent anyway (it left the generator)
      }
      this.sent.packets++;
      this.sent.bytes += p.length;
    }
    if (key) this.keyframesSent++;
    this.frames++;
    this.ts = (this.ts + this.tsStep) >>> 0;
    this.pictureId = (this.pictureId + 1) & 0x7fff;
  }
}

/** Opus at 20 ms per packet: TOC byte (CELT fullband 20 ms, stereo, one frame), then the send time. */
export class OpusSource {
  readonly sent: SentCounters = { packets: 0, bytes: 0 };
  private seq = Math.floor(Math.random() * 65536);
  private ts = Math.floor(Math.random() * 2 ** 32);
  private readonly packet = Buffer.alloc(RTP_HEADER + OPUS_PAYLOAD, 0x5a);

  constructor(private readonly sender: MediaSender) {}

  tick(elapsedMs: number): void {
    const due = Math.floor(elapsedMs / OPUS_PACKET_MS) + 1;
    while (this.sent.packets < due) this.sendOne();
  }

  private sendOne(): void {
    const p = this.packet;
    const { track, ssrc, payloadType } = this.sender;
    writeRtpHeader(p, false, payloadType, this.seq, this.ts, ssrc);
    p[RTP_HEADER] = OPUS_TOC_20MS_STEREO;
    p.writeDoubleBE(nowMs(), RTP_HEADER + OPUS_TOC);
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + (AUDIO_CLOCK * OPUS_PACKET_MS) / 1000) >>> 0;
    try {
      track.sendMessageBinary(p);
    } catch {
      // closed
    }
    this.sent.packets++;
    this.sent.bytes += p.length;
  }
}

/**
 * Simulcast layers of a top stream of `top.bitrate` (smallest first, as in `a=ssrc-group:SIM`):
 * Chromium's ladder for a 1280×720 camera scaled so the top layer is the single-layer
 * stream's bitrate — ¼ size at 15 %, ½ size at 50 %, full size at 100 % (1 Mbit/s: 150 /
 * 500 / 1000 kbit/s), all at the same frame rate. Fewer layers drop the smallest.
 */
export const LAYER_LADDER = [
  { share: 0.15, width: 320, height: 180 },
  { share: 0.5, width: 640, height: 360 },
  { share: 1, width: 1280, height: 720 },
] as const;

export function layerShapes(top: VideoShape, layers: number): VideoShape[] {
  if (!Number.isInteger(layers) || layers < 1 || layers > LAYER_LADDER.length) throw new RangeError(`layers: 1 to ${LAYER_LADDER.length}`);
  return LAYER_LADDER.slice(LAYER_LADDER.length - layers).map((l) => ({
    ...top,
    bitrate: Math.round(top.bitrate * l.share),
    width: l.width,
    height: l.height,
  }));
}

/**
 * A simulcast publisher's video: one Vp8Source per layer, each on its own SSRC
 * (`senders[i]`, all on the same send track), each with its own sequence numbers,
 * timestamps and picture ids like an encoder's independent streams, frames of all layers
 * sent at the same ticks. A keyframe request (PLI/FIR) names an SSRC and keys that layer
 * only; periodic keyframes (`keyframeInterval`) key every layer at the same frame.
 */
export class SimulcastVp8Source {
  readonly layers: Vp8Source[];

  constructor(
    readonly senders: readonly MediaSender[],
    shapes: readonly VideoShape[],
  ) {
    if (senders.length !== shapes.length) throw new RangeError('one sender per layer');
    this.layers = senders.map((s, i) => new Vp8Source(s, shapes[i]!));
  }

  /** A PLI/FIR for `ssrc`: that layer's next frame is a keyframe; false when the SSRC is not one of ours. */
  requestKeyframe(ssrc: number): boolean {
    const i = this.senders.findIndex((s) => s.ssrc === ssrc);
    if (i < 0) return false;
    this.layers[i]!.requestKeyframe();
    return true;
  }

  tick(elapsedMs: number): void {
    for (const l of this.layers) l.tick(elapsedMs);
  }

  /** all layers together */
  get sent(): SentCounters {
    let packets = 0;
    let bytes = 0;
    for (const l of this.layers) {
      packets += l.sent.packets;
      bytes += l.sent.bytes;
    }
    return { packets, bytes };
  }

  get keyframesSent(): number {
    return this.layers.reduce((a, l) => a + l.keyframesSent, 0);
  }

  get keyframeRequests(): number {
    return this.layers.reduce((a, l) => a + l.keyframeRequests, 0);
  }
}
