import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isH264Keyframe, newSenderInfo, RtpHeader, readSenderReport, type SenderInfo, Vp8Descriptor } from 'weever-rtp';
import { RtpChain } from '../../src/media/chain.js';
import { type LayerCodec, LayerSelector } from '../../src/media/stages/layer-selector.js';
import { Renumbering } from '../../src/media/stages/renumbering.js';
import { RtpRewriter } from '../../src/media/stages/rewriter.js';
import { SenderReports } from '../../src/media/stages/sender-reports.js';
import { rtpPacket, vp8Payload } from '../helpers/rtp.js';

const OUT_SSRC = 0xcafebabe;
const OUT_PT = 96;
const STEP = 3000;

/** One packet of a layer, with the values it was built from. */
interface Pkt {
  buf: Buffer;
  layer: number;
  seq: number;
  at: number;
}

interface FrameOptions {
  key?: boolean;
  /** temporal layer; the layer's packets carry TID and TL0PICIDX only when the layer is temporal */
  tid?: number;
  y?: boolean;
  packets?: number;
  /** receivedAt of the frame's packets (ms) */
  at?: number;
}

/** One simulcast layer of a publisher: frame after frame, its own numbering. */
class Layer {
  constructor(
    readonly layer: number,
    readonly ssrc: number,
    public seq: number,
    public ts: number,
    public pic: number,
    /** TL0PICIDX of the last TL0 frame; undefined: no L/T fields */
    public tl0: number | undefined,
    readonly bits: 7 | 15 = 15,
  ) {}

  /** The next frame's packets (the first with S set, the last with the marker). */
  frame({ key = false, tid = 0, y = false, packets = 1, at = 0 }: FrameOptions = {}): Pkt[] {
    if (this.tl0 !== undefined && tid === 0) this.tl0 = (this.tl0 + 1) & 0xff;
    const out: Pkt[] = [];
    for (let i = 0; i < packets; i++) {
      const payload = vp8Payload({
        s: i === 0,
        key: key && i === 0,
        pictureId: this.pic,
        pictureIdBits: this.bits,
        tl0: this.tl0,
        tid: this.tl0 === undefined ? undefined : tid,
        y,
      });
      const buf = rtpPacket({ seq: this.seq, ts: this.ts, ssrc: this.ssrc, marker: i === packets - 1, payload });
      out.push({ buf, layer: this.layer, seq: this.seq, at });
      this.seq = (this.seq + 1) & 0xffff;
    }
    this.ts = (this.ts + STEP) >>> 0;
    this.pic = (this.pic + 1) & (this.bits === 15 ? 0x7fff : 0x7f);
    return out;
  }
}

/** What a subscriber received: header fields and the VP8 fields as rewritten. */
interface Out {
  seq: number;
  ts: number;
  ssrc: number;
  pic: number;
  tl0: number;
  /** descriptor bytes (unchanged width) */
  size: number;
}

function readOut(p: Buffer): Out {
  const h = new RtpHeader();
  h.read(p);
  const d = h.vp8(p);
  return { seq: h.seq, ts: h.ts, ssrc: h.ssrc, pic: d.pictureId, tl0: d.tl0PicIdx, size: d.size };
}

/** A DownTrack's view: selector then rewriter. */
class Sub {
  readonly rewriter = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
  readonly requested: number[] = [];
  readonly switched: number[] = [];
  readonly selector: LayerSelector;
  readonly chain: RtpChain;

  constructor(spatial: number, temporal = 3, codec: LayerCodec = 'vp8') {
    this.selector = new LayerSelector(this.rewriter, {
      codec,
      requestKeyframe: (s) => this.requested.push(s),
      onSwitched: (s) => this.switched.push(s),
    });
    this.chain = new RtpChain([this.selector, this.rewriter]);
    this.selector.setTarget(spatial, temporal);
  }

  onRtp(p: Buffer, h: RtpHeader): Out | null {
    return this.chain.onRtp(p, h) ? readOut(p) : null;
  }
}

const header = new RtpHeader();

/** Delivers each packet (its layer set, as the DownTrack's layer subscription does) to the subscribers in order. */
function deliver(pkts: Pkt[], ...subs: Sub[]): (Out | null)[][] {
  return pkts.map((k) => {
    assert.equal(header.read(k.buf), true);
    header.layer = k.layer;
    header.receivedAt = k.at;
    return subs.map((s) => s.onRtp(k.buf, header));
  });
}

/** One subscriber: its output per packet (null: dropped). */
function run(sub: Sub, pkts: Pkt[]): (Out | null)[] {
  return deliver(pkts, sub).map((r) => r[0]!);
}

/** Output fields [seq, ts, pic, tl0] of each packet; null for a dropped one. */
function fields(outs: (Out | null)[]): ([number, number, number, number] | null)[] {
  return outs.map((o) => {
    if (!o) return null;
    assert.equal(o.ssrc, OUT_SSRC);
    return [o.seq, o.ts, o.pic, o.tl0];
  });
}

describe('Vp8Descriptor', () => {
  it('reads every field of the descriptor and where the picture id and TL0PICIDX are', () => {
    const p = rtpPacket({
      seq: 1,
      ts: 1,
      ssrc: 1,
      payload: vp8Payload({ pid: 0, n: true, pictureId: 0x1234, tl0: 0xab, tid: 2, y: true, keyIdx: 5, key: true }),
    });
    const h = new RtpHeader();
    h.read(p);
    const d = h.vp8(p);
    assert.equal(d.valid, true);
    assert.deepEqual(
      [d.x, d.n, d.s, d.pid, d.i, d.l, d.t, d.k, d.pictureId, d.pictureIdBits, d.pictureIdAt, d.tl0PicIdx, d.tl0PicIdxAt],
      [true, true, true, 0, true, true, true, true, 0x1234, 15, 14, 0xab, 16],
    );
    assert.deepEqual([d.tid, d.y, d.keyIdx, d.size, d.startOfFrame, d.keyframe], [2, true, 5, 6, true, true]);
  });

  it('7-bit picture id, no TL0PICIDX, no TID: the packet is TL0', () => {
    const p = rtpPacket({ seq: 1, ts: 1, ssrc: 1, payload: vp8Payload({ pictureId: 0x55, pictureIdBits: 7 }) });
    const h = new RtpHeader();
    h.read(p);
    const d = h.vp8(p);
    assert.deepEqual(
      [d.pictureId, d.pictureIdBits, d.pictureIdAt, d.tl0PicIdx, d.tid, d.y, d.keyIdx, d.size],
      [0x55, 7, 14, -1, 0, false, -1, 3],
    );
    assert.equal(d.keyframe, false, 'P bit set: inter frame');
    assert.equal(d.startOfFrame, true);
  });

  it('keyframe only at the start of partition 0; no X byte; empty and truncated payloads are not valid', () => {
    const d = new Vp8Descriptor();
    const key = (payload: Buffer) => {
      const p = rtpPacket({ seq: 1, ts: 1, ssrc: 1, payload });
      d.read(p, 12, p.length);
      return [d.valid, d.startOfFrame, d.keyframe];
    };
    assert.deepEqual(key(vp8Payload({ key: true })), [true, true, true]);
    assert.equal(d.size, 1);
    assert.deepEqual(key(vp8Payload({ key: true, s: false, pictureId: 1 })), [true, false, false]);
    assert.deepEqual(key(vp8Payload({ key: true, pid: 1, pictureId: 1 })), [true, false, false]);
    assert.deepEqual(key(Buffer.from([0x90, 0x80])), [false, false, false], 'I set, picture id missing');
    assert.deepEqual(key(Buffer.from([0x90, 0x80, 0x81])), [false, false, false], 'M set, second byte missing');
    assert.deepEqual(key(Buffer.from([0x10])), [true, true, false], 'no payload header: not a keyframe');
    assert.deepEqual(key(Buffer.alloc(0)), [false, false, false]);
  });

  it('RtpHeader.vp8 is read once per packet: later rewrites do not change it, the next read() does; padding is not payload', () => {
    const p = rtpPacket({ seq: 1, ts: 1, ssrc: 1, payload: vp8Payload({ pictureId: 300, tl0: 7, tid: 1 }) });
    const h = new RtpHeader();
    h.read(p);
    const d = h.vp8(p);
    d.writePictureId(p, 301);
    d.writeTl0PicIdx(p, 8);
    assert.equal(h.vp8(p).pictureId, 300);
    assert.equal(h.vp8(p).tl0PicIdx, 7);
    h.read(p);
    assert.deepEqual([h.vp8(p).pictureId, h.vp8(p).tl0PicIdx], [301, 8]);
    // a padding-only packet: no descriptor
    const pad = Buffer.alloc(12 + 8);
    pad[0] = 0xa0;
    pad[1] = 96;
    pad[pad.length - 1] = 8;
    h.read(pad);
    assert.equal(h.vp8(pad).valid, false);
  });

  it('writes picture ids in the field width, wrapping', () => {
    const p = rtpPacket({ seq: 1, ts: 1, ssrc: 1, payload: vp8Payload({ pictureId: 3, pictureIdBits: 7 }) });
    const d = new Vp8Descriptor();
    d.read(p, 12, p.length);
    d.writePictureId(p, 130);
    assert.equal(p[14], 2);
    const q = rtpPacket({ seq: 1, ts: 1, ssrc: 1, payload: vp8Payload({ pictureId: 3 }) });
    d.read(q, 12, q.length);
    d.writePictureId(q, 0x8001);
    assert.deepEqual([q[14], q[15]], [0x80, 0x01]);
  });
});

describe('isH264Keyframe', () => {
  const at = (bytes: number[]) => {
    const p = rtpPacket({ seq: 1, ts: 1, ssrc: 1, payload: Buffer.from(bytes) });
    return isH264Keyframe(p, 12, p.length);
  };
  it('IDR and SPS single NAL units, STAP-A holding SPS/IDR, the first FU-A fragment of an IDR', () => {
    assert.equal(at([0x65, 1, 2]), true, 'IDR');
    assert.equal(at([0x67, 1, 2]), true, 'SPS');
    assert.equal(at([0x41, 1, 2]), false, 'non-IDR slice');
    assert.equal(at([0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 1]), true, 'STAP-A: SPS, PPS');
    assert.equal(at([0x78, 0, 2, 0x68, 1, 0, 2, 0x41, 1]), false, 'STAP-A: PPS, slice');
    assert.equal(at([0x7c, 0x85, 1]), true, 'FU-A start of IDR');
    assert.equal(at([0x7c, 0x05, 1]), false, 'FU-A middle of IDR');
    assert.equal(at([0x7c, 0x81, 1]), false, 'FU-A start of a slice');
    assert.equal(at([]), false);
  });
});

describe('Renumbering', () => {
  it('moves later values down past each drop; late values keep the numbering they had', () => {
    const r = new Renumbering(0xffff);
    r.rebase(100, 500);
    assert.equal(r.map(100), 500);
    r.drop(101);
    assert.equal(r.map(102), 501);
    assert.equal(r.map(101), 500, 'a dropped value again (late) still maps where it was: the caller drops it');
    r.drop(104); // 103 not seen yet
    assert.equal(r.map(105), 503, '104 dropped: 105 takes its number');
    assert.equal(r.map(103), 502, 'late: numbered as before the drop of 104');
    assert.equal(r.last, 503);
  });

  it('a value older than the drops remembered is refused', () => {
    const r = new Renumbering(0xffff);
    r.rebase(0, 0);
    r.map(0);
    for (let i = 1; i <= 130; i += 2) {
      r.drop(i);
      r.map(i + 1);
    }
    assert.equal(r.map(2), -1);
    assert.equal(r.map(130), 65, 'recent enough');
  });
});

describe('LayerSelector', () => {
  /** L0 and L1 of one publisher, one frame each per tick, TL0 frames only. */
  function twoLayers() {
    return [new Layer(0, 0xa0, 1000, 10000, 100, 10), new Layer(1, 0xa1, 5000, 777000, 20000, 200)] as const;
  }

  it('switches up and down only at a keyframe of the target, continuing seq, timestamp, picture id and TL0PICIDX', () => {
    const [l0, l1] = twoLayers();
    const sub = new Sub(0);
    assert.deepEqual(sub.requested, [0], 'a keyframe of the target is asked for');
    assert.equal(sub.selector.switching, true);
    const tick = (key0 = false, key1 = false) => run(sub, [...l0.frame({ key: key0, packets: 2 }), ...l1.frame({ key: key1, packets: 2 })]);
    // k=0: nothing before the first keyframe of the target
    assert.deepEqual(fields(tick()), [null, null, null, null]);
    assert.equal(sub.selector.spatial, -1);
    // k=1: L0 keyframe: numbering starts from it as it is
    assert.deepEqual(fields(tick(true)), [[1002, 13000, 101, 12], [1003, 13000, 101, 12], null, null]);
    assert.deepEqual(sub.switched, [0]);
    assert.deepEqual(fields(tick()), [[1004, 16000, 102, 13], [1005, 16000, 102, 13], null, null]);
    sub.selector.setTarget(1, 3);
    assert.deepEqual(sub.requested, [0, 1]);
    assert.equal(sub.selector.switching, true);
    // k=3: L1 has no keyframe yet: L0 goes on, L1 dropped
    assert.deepEqual(fields(tick()), [[1006, 19000, 103, 14], [1007, 19000, 103, 14], null, null]);
    assert.equal(sub.selector.spatial, 0);
    // k=4: L1 keyframe: the switch; one frame step (no sender reports)
    assert.deepEqual(fields(tick(false, true)), [
      [1008, 22000, 104, 15],
      [1009, 22000, 104, 15],
      [1010, 25000, 105, 16],
      [1011, 25000, 105, 16],
    ]);
    assert.deepEqual(sub.switched, [0, 1]);
    assert.equal(sub.selector.switching, false);
    assert.equal(sub.selector.spatial, 1);
    // k=5: L0 is no longer forwarded
    assert.deepEqual(fields(tick()), [null, null, [1012, 28000, 106, 17], [1013, 28000, 106, 17]]);
    sub.selector.setTarget(0, 3);
    assert.deepEqual(fields(tick()), [null, null, [1014, 31000, 107, 18], [1015, 31000, 107, 18]]);
    // k=7: L0 keyframe: down
    assert.deepEqual(fields(tick(true)), [[1016, 34000, 108, 19], [1017, 34000, 108, 19], null, null]);
    assert.deepEqual(fields(tick()), [[1018, 37000, 109, 20], [1019, 37000, 109, 20], null, null]);
    assert.deepEqual(sub.requested, [0, 1, 0]);
    assert.deepEqual(sub.switched, [0, 1, 0]);
    assert.equal(sub.selector.switches, 3);
    assert.equal(sub.selector.dropped, 0, 'no packet of the forwarded layer was dropped');
  });

  it('maps timestamps across a switch through both layers’ sender reports; never at or before the last timestamp', () => {
    const [l0, l1] = twoLayers();
    const sub = new Sub(0);
    const sr = (ssrc: number, ntpSec: number, ntpFrac: number, rtpTs: number): SenderInfo => ({
      ...newSenderInfo(),
      ssrc,
      ntpSec,
      ntpFrac,
      rtpTs,
    });
    // Frame k is captured at N + k/30 s on both layers: L0 ts 10000 + 3000k, L1 ts 777000 + 3000k.
    const N = 3_900_000_000;
    sub.selector.onSenderReport(0, sr(0xa0, N + 1, 0, 10000 + 90000)); // frame 30's instant
    sub.selector.onSenderReport(1, sr(0xa1, N, 0x33333333, 777000 + 18000)); // 0.2 s: frame 6's
    const frames = (layers: Layer[], key: boolean[] = []) =>
      run(
        sub,
        layers.flatMap((l, i) => l.frame({ key: key[i] ?? false })),
      );
    assert.deepEqual(fields(frames([l0, l1], [true])), [[1000, 10000, 100, 11], null]);
    assert.deepEqual(fields(frames([l0, l1])), [[1001, 13000, 101, 12], null]);
    sub.selector.setTarget(1);
    // k=2: L1's keyframe arrives before L0's frame of the same instant: exactly L0's timeline
    assert.deepEqual(fields(frames([l1, l0], [true])), [[1002, 16000, 102, 13], null]);
    assert.deepEqual(fields(frames([l0, l1])), [null, [1003, 19000, 103, 14]]);
    sub.selector.setTarget(0);
    // k=4: L0's keyframe after L1's frame of the same instant: the mapped 22000 was sent, so 22001
    assert.deepEqual(fields(frames([l1, l0], [false, true])), [
      [1004, 22000, 104, 15],
      [1005, 22001, 105, 16],
    ]);
    assert.deepEqual(fields(frames([l1, l0])), [null, [1006, 25001, 106, 17]]);
  });

  it('waits for the keyframe of the target even when the current layer stops; repeated setTarget asks again', () => {
    const [l0, l1] = twoLayers();
    const sub = new Sub(0);
    run(sub, l0.frame({ key: true }));
    sub.selector.setTarget(1);
    sub.selector.setTarget(1);
    assert.deepEqual(sub.requested, [0, 1, 1]);
    assert.deepEqual(fields(run(sub, [...l1.frame(), ...l1.frame(), ...l1.frame({ key: true })])), [null, null, [1001, 13000, 101, 12]]);
    assert.equal(sub.selector.skipped, 2);
  });

  it('drops packets of the target layer from before its keyframe arriving late', () => {
    const [, l1] = twoLayers();
    const sub = new Sub(1);
    const before = l1.frame({ packets: 2 });
    const key = l1.frame({ key: true, packets: 2 });
    assert.deepEqual(fields(run(sub, [...key, ...before, ...l1.frame()])), [
      [5002, 777000 + 3000, 20001, 202],
      [5003, 777000 + 3000, 20001, 202],
      null,
      null,
      [5004, 777000 + 6000, 20002, 203],
    ]);
  });

  it('temporal layers: above the target dropped with contiguous seq and picture ids; up only at layer sync, down at a frame start', () => {
    const l = new Layer(0, 0xa0, 100, 0, 1000, 50);
    const sub = new Sub(0, 0);
    const f = (o: FrameOptions) => fields(run(sub, l.frame(o)));
    assert.deepEqual(f({ key: true }), [[100, 0, 1000, 51]]);
    assert.deepEqual(f({ tid: 2 }), [null]);
    assert.deepEqual(f({ tid: 1 }), [null]);
    assert.deepEqual(f({ tid: 2 }), [null]);
    assert.deepEqual(f({ tid: 0 }), [[101, 12000, 1001, 52]]);
    sub.selector.setTarget(0, 2);
    assert.deepEqual(sub.requested, [0], 'a temporal change needs no keyframe');
    assert.deepEqual(f({ tid: 2 }), [null], 'no layer sync: TL2 still dropped');
    assert.equal(sub.selector.temporal, 0);
    assert.deepEqual(f({ tid: 1, y: true }), [[102, 18000, 1002, 52]]);
    assert.equal(sub.selector.temporal, 1);
    assert.deepEqual(f({ tid: 2 }), [null], 'TL1 synced, TL2 not yet');
    assert.deepEqual(f({ tid: 0 }), [[103, 24000, 1003, 53]]);
    assert.deepEqual(f({ tid: 2, y: true }), [[104, 27000, 1004, 53]]);
    assert.equal(sub.selector.temporal, 2);
    assert.deepEqual(f({ tid: 1 }), [[105, 30000, 1005, 53]]);
    // down to TL1 in the middle of a TL2 frame: that frame goes on to its end
    const [first, second] = l.frame({ tid: 2, packets: 2 });
    assert.deepEqual(fields(run(sub, [first!])), [[106, 33000, 1006, 53]]);
    sub.selector.setTarget(0, 1);
    assert.deepEqual(fields(run(sub, [second!])), [[107, 33000, 1006, 53]]);
    assert.deepEqual(f({ tid: 0 }), [[108, 36000, 1007, 54]]);
    assert.equal(sub.selector.temporal, 1);
    assert.deepEqual(f({ tid: 2, y: true }), [null], 'above the target even with Y');
    assert.deepEqual(f({ tid: 1 }), [[109, 42000, 1008, 54]]);
    assert.equal(sub.selector.dropped, 6);
    assert.equal(sub.rewriter.lastTimestamp, 42000);
  });

  it('late packets after a temporal drop keep their own seq and picture id', () => {
    const l = new Layer(0, 0xa0, 100, 0, 10, 0);
    const sub = new Sub(0, 0);
    const [a0, a1] = l.frame({ key: true, packets: 2 }); // seq 100, 101; pic 10
    const [b] = l.frame({ tid: 2 }); // 102, pic 11
    const [c] = l.frame({ tid: 0 }); // 103, pic 12
    const [d] = l.frame({ tid: 0 }); // 104, pic 13
    const [e0, e1] = l.frame({ tid: 0, packets: 2 }); // 105, 106, pic 14
    const [f] = l.frame({ tid: 1 }); // 107, pic 15
    const [g] = l.frame({ tid: 0 }); // 108, pic 16
    const dup = Buffer.from(b!.buf);
    const out = fields(run(sub, [a0!, b!, c!, a1!, { ...b!, buf: dup }, d!, e0!, f!, g!, e1!]));
    assert.deepEqual(
      out.map((o) => o && [o[0], o[2]]),
      [
        [100, 10],
        null,
        [102, 11],
        [101, 10], // late, before the drop of 102
        null, // the dropped packet again
        [103, 12],
        [104, 13],
        null,
        [106, 14], // 106 had not arrived when 107 was dropped
        [105, 13], // late 106: numbered before the drop
      ],
    );
  });

  it('7-bit picture ids stay 7-bit and wrap at 128; 15-bit ids wrap at 32768 and continue across a switch', () => {
    const l = new Layer(0, 0xa0, 100, 0, 126, 0, 7);
    const sub = new Sub(0, 0);
    const outs = run(sub, [...l.frame({ key: true }), ...l.frame({ tid: 2 }), ...l.frame(), ...l.frame({ tid: 1 }), ...l.frame()]);
    assert.deepEqual(
      outs.map((o) => o && [o.seq, o.pic, o.size]),
      [[100, 126, 5], null, [101, 127, 5], null, [102, 0, 5]],
    );

    const a = new Layer(0, 0xa0, 100, 0, 32766, undefined);
    const b = new Layer(1, 0xb0, 900, 50, 500, undefined);
    const s2 = new Sub(0);
    const out2 = run(s2, [...a.frame({ key: true }), ...a.frame(), ...a.frame(), ...b.frame()]);
    assert.deepEqual(
      out2.map((o) => o && [o.seq, o.pic, o.tl0, o.size]),
      [[100, 32766, -1, 4], [101, 32767, -1, 4], [102, 0, -1, 4], null],
    );
    s2.selector.setTarget(1);
    assert.deepEqual(
      run(s2, [...a.frame(), ...b.frame({ key: true })]).map((o) => o && [o.seq, o.pic]),
      [
        [103, 1],
        [104, 2],
      ],
    );
    // dropping across the wrap
    const w = new Layer(0, 0xa0, 0, 0, 32767, 9);
    const s3 = new Sub(0, 0);
    const out3 = run(s3, [...w.frame({ key: true }), ...w.frame({ tid: 1 }), ...w.frame(), ...w.frame({ tid: 2 }), ...w.frame()]);
    assert.deepEqual(
      out3.map((o) => (o ? o.pic : null)),
      [32767, null, 0, null, 1],
    );
  });

  it('pause and resume: nothing while paused, then the first keyframe continues the stream (own clock, or the wall time passed)', () => {
    const [l0, l1] = twoLayers();
    const sub = new Sub(0);
    let at = 1000;
    const tick = (key0 = false, key1 = false) => {
      at += 1000 / 30;
      return fields(run(sub, [...l0.frame({ key: key0, at }), ...l1.frame({ key: key1, at })]));
    };
    assert.deepEqual(tick(true), [[1000, 10000, 100, 11], null]);
    assert.deepEqual(tick(), [[1001, 13000, 101, 12], null]);
    sub.selector.setTarget(-1, 3);
    assert.deepEqual(sub.switched, [0, -1]);
    assert.equal(sub.selector.spatial, -1);
    assert.equal(sub.selector.switching, false);
    for (let i = 0; i < 8; i++) assert.deepEqual(tick(true, true), [null, null]);
    sub.selector.setTarget(0, 3);
    assert.deepEqual(sub.requested, [0, 0]);
    assert.deepEqual(tick(), [null, null]);
    // k=11: the same layer again: its timestamps say how much time passed
    assert.deepEqual(tick(true), [[1002, 43000, 102, 13], null]);
    assert.deepEqual(tick(), [[1003, 46000, 103, 14], null]);
    // pause, and resume on L1 (no sender reports): the wall time since the last packet sent, 0.5 s
    sub.selector.setTarget(-1);
    for (let i = 0; i < 14; i++) tick();
    at -= (14 * 1000) / 30 - 500 + 1000 / 30;
    sub.selector.setTarget(1);
    assert.deepEqual(tick(false, true), [null, [1004, 46000 + 45000, 104, 15]]);
    assert.deepEqual(sub.switched, [0, -1, 0, -1, 1]);
    assert.equal(sub.selector.switches, 3);
    assert.equal(sub.selector.skipped, 2 + 8 * 2 + 2 + 2 + 14 * 2 + 1);
  });

  it('a new SSRC on the forwarded layer (publisher restart) waits for its keyframe and continues the numbering', () => {
    const a = new Layer(0, 0xa0, 100, 0, 10, 5);
    const b = new Layer(0, 0xb0, 7000, 400000, 3000, 90);
    const sub = new Sub(0);
    const outs = run(sub, [...a.frame({ key: true }), ...a.frame(), ...b.frame(), ...b.frame({ key: true }), ...a.frame(), ...b.frame()]);
    assert.deepEqual(fields(outs), [[100, 0, 10, 6], [101, 3000, 11, 7], null, [102, 6000, 12, 8], null, [103, 9000, 13, 9]]);
  });

  it('drops padding-only packets of the forwarded layer without a gap', () => {
    const l = new Layer(0, 0xa0, 100, 0, 10, undefined);
    const sub = new Sub(0);
    const pad = Buffer.alloc(12 + 100);
    pad[0] = 0xa0;
    pad[1] = 96;
    pad.writeUInt16BE(101, 2);
    pad.writeUInt32BE(0, 4);
    pad.writeUInt32BE(0xa0, 8);
    pad[pad.length - 1] = 100;
    const key = l.frame({ key: true });
    l.seq++;
    const out = run(sub, [...key, { buf: pad, layer: 0, seq: 101, at: 0 }, ...l.frame()]);
    assert.deepEqual(
      out.map((o) => o && [o.seq, o.pic]),
      [[100, 10], null, [101, 11]],
    );
  });

  it('H264: switches at an IDR (STAP-A with SPS, or FU-A start), no picture ids to rewrite', () => {
    const sub = new Sub(0, 3, 'h264');
    const h264 = (layer: number, ssrc: number, seq: number, ts: number, nal: number[]): Pkt => ({
      buf: rtpPacket({ seq, ts, ssrc, payload: Buffer.from(nal) }),
      layer,
      seq,
      at: 0,
    });
    const outs = run(sub, [
      h264(0, 0xa0, 10, 1000, [0x41, 1]), // slice: waiting
      h264(0, 0xa0, 11, 4000, [0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 1]), // STAP-A SPS+PPS
      h264(0, 0xa0, 12, 4000, [0x65, 1]),
      h264(1, 0xa1, 70, 9000, [0x7c, 0x85, 1]), // not the target yet
    ]);
    assert.deepEqual(
      outs.map((o) => o && [o.seq, o.ts]),
      [null, [11, 4000], [12, 4000], null],
    );
    sub.selector.setTarget(1);
    const outs2 = run(sub, [
      h264(1, 0xa1, 71, 12000, [0x41, 1]),
      h264(0, 0xa0, 13, 7000, [0x41, 1]),
      h264(1, 0xa1, 72, 15000, [0x7c, 0x85, 1]), // FU-A start of an IDR
      h264(1, 0xa1, 73, 15000, [0x7c, 0x45, 1]),
      h264(0, 0xa0, 14, 10000, [0x41, 1]),
    ]);
    assert.deepEqual(
      outs2.map((o) => o && [o.seq, o.ts]),
      [null, [13, 7000], [14, 10000], [15, 10000], null],
    );
  });

  it('shares one buffer: subscribers on different layers and temporal targets each get their own stream, in any order', () => {
    /** The same publisher packets, new buffers each time: two layers with L1T3, keyframes now and then. */
    function stream(): Pkt[][] {
      const l0 = new Layer(0, 0xa0, 65500, 0xfffff000, 32740, 250);
      const l1 = new Layer(1, 0xa1, 3000, 5000, 120, 10, 7);
      const tids = [0, 2, 1, 2];
      const ticks: Pkt[][] = [];
      for (let k = 0; k < 48; k++) {
        const tid = tids[k % 4]!;
        const o = { tid, y: tid > 0 && k % 8 < 4, key: k % 16 === 3, packets: 1 + (k % 3) };
        ticks.push([...l0.frame(o), ...l1.frame({ ...o, key: k % 16 === 7 })]);
      }
      return ticks;
    }
    // both on L0 (A all of it, B TL0 only: its picture ids move), then both up to L1 (B TL0–1), then A down again
    const plan = (a: Sub, b: Sub, k: number) => {
      if (k === 20) {
        a.selector.setTarget(1, 3);
        b.selector.setTarget(1, 1);
      }
      if (k === 30) a.selector.setTarget(0, 1);
    };
    const alone = (which: 0 | 1) => {
      const a = new Sub(0, 3);
      const b = new Sub(0, 0);
      const outs: (Out | null)[] = [];
      stream().forEach((pkts, k) => {
        plan(a, b, k);
        outs.push(...run(which === 0 ? a : b, pkts));
      });
      // A: L0, L1 at its keyframe (k=23), L0 again (k=35); B: L0, L1
      assert.deepEqual((which === 0 ? a : b).switched, which === 0 ? [0, 1, 0] : [0, 1]);
      return outs;
    };
    const together = (reverse: boolean) => {
      const a = new Sub(0, 3);
      const b = new Sub(0, 0);
      const outs: [(Out | null)[], (Out | null)[]] = [[], []];
      stream().forEach((pkts, k) => {
        plan(a, b, k);
        for (const r of deliver(pkts, ...(reverse ? [b, a] : [a, b]))) {
          outs[0].push(r[reverse ? 1 : 0]!);
          outs[1].push(r[reverse ? 0 : 1]!);
        }
      });
      return outs;
    };
    const a = alone(0);
    const b = alone(1);
    assert.ok(a.filter(Boolean).length > 40 && b.filter(Boolean).length > 20);
    assert.notDeepEqual(a, b);
    assert.deepEqual(together(false), [a, b]);
    assert.deepEqual(together(true), [a, b]);
    // each output is one stream: seq +1 each packet, picture ids +0/+1, timestamps never back
    for (const outs of [a, b]) {
      const got = outs.filter((o): o is Out => o !== null);
      for (let i = 1; i < got.length; i++) {
        assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff, `seq at ${i}`);
        const wide = got[i]!.size === 6 && got[i - 1]!.size === 6;
        const dp = (got[i]!.pic - got[i - 1]!.pic) & (wide ? 0x7fff : 0x7f);
        assert.ok(dp === 0 || dp === 1, `picture id step ${dp} at ${i}`);
        assert.ok(((got[i]!.ts - got[i - 1]!.ts) | 0) >= 0, `ts at ${i}`);
      }
    }
  });

  it('sender reports to the subscriber follow the layer forwarded, in the output timeline', () => {
    const [l0, l1] = twoLayers();
    const sub = new Sub(0);
    const sent: Buffer[] = [];
    const reports = new SenderReports(OUT_SSRC, sub.rewriter, { packets: 0, bytes: 0 }, (p) => sent.push(Buffer.from(p)));
    const srPacket = (ssrc: number, ntpSec: number, rtpTs: number) => {
      const p = Buffer.alloc(28);
      p[0] = 0x80;
      p[1] = 200;
      p.writeUInt16BE(6, 2);
      p.writeUInt32BE(ssrc, 4);
      p.writeUInt32BE(ntpSec, 8);
      p.writeUInt32BE(rtpTs, 16);
      return p;
    };
    const info = newSenderInfo();
    const feedSr = (layer: number, p: Buffer) => {
      readSenderReport(p, info);
      sub.selector.onSenderReport(layer, info);
      return reports.onSourceReport(p);
    };
    // both layers captured on one clock: frame k at N + k/30, L0 ts 10000 + 3000k, L1 777000 + 3000k
    const N = 3_900_000_000;
    assert.equal(feedSr(0, srPacket(0xa0, N + 1, 10000 + 90000)), false, 'nothing sent yet');
    assert.equal(feedSr(1, srPacket(0xa1, N + 1, 777000 + 90000)), false);
    run(sub, [...l0.frame({ key: true }), ...l1.frame()]);
    assert.equal(feedSr(0, srPacket(0xa0, N + 1, 10000 + 90000)), true);
    assert.equal(sent.at(-1)!.readUInt32BE(16), 100000, 'L0 forwarded from its own timestamps');
    sub.selector.setTarget(1);
    const out = run(sub, [...l1.frame({ key: true }), ...l0.frame()]);
    assert.deepEqual(
      out.map((o) => (o ? o.ts : null)),
      [13000, null],
    );
    assert.equal(feedSr(0, srPacket(0xa0, N + 2, 10000 + 180000)), false, 'the layer left is not reported');
    assert.equal(feedSr(1, srPacket(0xa1, N + 2, 777000 + 180000)), true);
    assert.equal(sent.at(-1)!.readUInt32BE(16), 190000, 'L1’s report in the output timeline: the same instant as L0’s would be');
    assert.equal(sent.at(-1)!.readUInt32BE(4), OUT_SSRC);
  });
});

describe('RtpRewriter with a selector', () => {
  it('dropped() closes the gap only for the newest packet of the current source; switchTo never goes back in time', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    const h = new RtpHeader();
    const pass = (seq: number, ts: number, ssrc: number) => {
      const p = rtpPacket({ seq, ts, ssrc });
      h.read(p);
      return rw.onRtp(p, h) ? [p.readUInt16BE(2), p.readUInt32BE(4)] : null;
    };
    const drop = (seq: number, ts: number, ssrc: number) => {
      h.read(rtpPacket({ seq, ts, ssrc }));
      rw.dropped(h);
    };
    drop(9, 0, 1); // before the first packet: ignored
    assert.deepEqual(pass(10, 1000, 1), [10, 1000]);
    drop(11, 1000, 1);
    drop(12, 1000, 2); // another source: ignored
    assert.deepEqual(pass(12, 4000, 1), [11, 4000]);
    drop(11, 1000, 1); // late: ignored
    assert.deepEqual(pass(13, 7000, 1), [12, 7000]);
    // a switch whose mapping would go back: one tick after the last timestamp
    const p = rtpPacket({ seq: 500, ts: 100, ssrc: 2 });
    h.read(p);
    rw.switchTo(h, 5000);
    assert.equal(rw.onRtp(p, h), true);
    assert.deepEqual([p.readUInt16BE(2), p.readUInt32BE(4)], [13, 7001]);
    // the previous source does not come back through the rewriter's own switch (straggler)
    assert.equal(pass(14, 10000, 1), null);
    assert.deepEqual(pass(501, 3100, 2), [14, 10001]);
  });
});
