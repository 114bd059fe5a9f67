import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { hasKeyframeRequest, isRtcp, RtpHeader, randomSsrc } from 'weever-rtp';
import { RtpRewriter } from '../../src/media/stages/rewriter.js';
import { type RtpFields, rtpFields, rtpPacket } from '../helpers/rtp.js';

/** Feeds a packet through the rewriter and returns the rewritten header fields. */
function pass(rw: RtpRewriter, f: RtpFields) {
  const p = rtpPacket(f);
  const h = new RtpHeader();
  assert.equal(h.read(p), true);
  if (!rw.onRtp(p, h)) return undefined;
  return rtpFields(p);
}

const OUT_SSRC = 0xcafebabe;
const OUT_PT = 96;
const STEP = 3000;

describe('RtpRewriter', () => {
  it('rewrites ssrc and payload type in place and keeps payload, seq and ts of the first source', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    const p = rtpPacket({ pt: 120, seq: 1000, ts: 50000, ssrc: 0x11111111 });
    const payload = Buffer.from(p.subarray(12));
    const h = new RtpHeader();
    assert.equal(h.read(p), true);
    assert.equal(rw.onRtp(p, h), true);
    assert.deepEqual(rtpFields(p), { marker: false, pt: OUT_PT, seq: 1000, ts: 50000, ssrc: OUT_SSRC });
    assert.equal(p[0], 0x80);
    assert.deepEqual(p.subarray(12), payload);
    assert.equal(rw.ssrc, OUT_SSRC);
    assert.equal(rw.payloadType, OUT_PT);
  });

  it('preserves the marker bit', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    assert.deepEqual(pass(rw, { marker: true, pt: 127, seq: 1, ts: 1, ssrc: 5 }), {
      marker: true,
      pt: OUT_PT,
      seq: 1,
      ts: 1,
      ssrc: OUT_SSRC,
    });
    assert.deepEqual(pass(rw, { marker: false, pt: 127, seq: 2, ts: 1, ssrc: 5 }), {
      marker: false,
      pt: OUT_PT,
      seq: 2,
      ts: 1,
      ssrc: OUT_SSRC,
    });
  });

  it('continues seq and ts across a change of source ssrc', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    pass(rw, { seq: 100, ts: 9000, ssrc: 0xaaaa });
    pass(rw, { seq: 101, ts: 12000, ssrc: 0xaaaa });
    // the publisher restarts: a new ssrc with unrelated seq/ts
    assert.deepEqual(pass(rw, { seq: 40000, ts: 777777, ssrc: 0xbbbb }), {
      marker: false,
      pt: OUT_PT,
      seq: 102,
      ts: 15000,
      ssrc: OUT_SSRC,
    });
    assert.deepEqual(pass(rw, { seq: 40001, ts: 777777, ssrc: 0xbbbb }), {
      marker: false,
      pt: OUT_PT,
      seq: 103,
      ts: 15000,
      ssrc: OUT_SSRC,
    });
    assert.deepEqual(pass(rw, { seq: 40002, ts: 780777, ssrc: 0xbbbb }), {
      marker: false,
      pt: OUT_PT,
      seq: 104,
      ts: 18000,
      ssrc: OUT_SSRC,
    });
  });

  it('handles a source change where the new seq and ts are below the old ones (offset wraps)', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, 960);
    pass(rw, { seq: 60000, ts: 0xfffff000, ssrc: 1 });
    assert.deepEqual(pass(rw, { seq: 5, ts: 10, ssrc: 2 }), {
      marker: false,
      pt: OUT_PT,
      seq: 60001,
      ts: 0xfffff000 + 960,
      ssrc: OUT_SSRC,
    });
    // ts passes 2^32 and wraps to 0
    assert.deepEqual(pass(rw, { seq: 6, ts: 10 + 4096, ssrc: 2 }), { marker: false, pt: OUT_PT, seq: 60002, ts: 960, ssrc: OUT_SSRC });
  });

  it('wraps the sequence number from 65535 to 0', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    assert.equal(pass(rw, { seq: 65534, ts: 1, ssrc: 7 })?.seq, 65534);
    assert.equal(pass(rw, { seq: 65535, ts: 1, ssrc: 7 })?.seq, 65535);
    assert.equal(pass(rw, { seq: 0, ts: 2, ssrc: 7 })?.seq, 0);
    assert.equal(pass(rw, { seq: 1, ts: 2, ssrc: 7 })?.seq, 1);
  });

  it('continues across a source change right after a seq wrap of the output', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    pass(rw, { seq: 65535, ts: 100, ssrc: 7 });
    assert.deepEqual(pass(rw, { seq: 1234, ts: 5, ssrc: 8 }), { marker: false, pt: OUT_PT, seq: 0, ts: 3100, ssrc: OUT_SSRC });
  });

  it('does not let a late (reordered) packet move the base used at the next source change', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    pass(rw, { seq: 10, ts: 3000, ssrc: 1 });
    pass(rw, { seq: 12, ts: 9000, ssrc: 1 });
    // the late packet is still forwarded with its own (rewritten) seq/ts
    assert.deepEqual(pass(rw, { seq: 11, ts: 6000, ssrc: 1 }), { marker: false, pt: OUT_PT, seq: 11, ts: 6000, ssrc: OUT_SSRC });
    // continuity is from the newest packet (12 / 9000), not the late one
    assert.deepEqual(pass(rw, { seq: 500, ts: 1, ssrc: 2 }), { marker: false, pt: OUT_PT, seq: 13, ts: 12000, ssrc: OUT_SSRC });
  });

  it('treats a packet just across the wrap as newer when choosing the base', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    pass(rw, { seq: 65535, ts: 3000, ssrc: 1 });
    pass(rw, { seq: 0, ts: 6000, ssrc: 1 });
    pass(rw, { seq: 65534, ts: 0, ssrc: 1 }); // late
    assert.deepEqual(pass(rw, { seq: 9, ts: 9, ssrc: 2 }), { marker: false, pt: OUT_PT, seq: 1, ts: 9000, ssrc: OUT_SSRC });
  });

  it('RtpHeader.read refuses non-RTP input and leaves the buffer untouched', () => {
    const h = new RtpHeader();
    const short = Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0]); // 11 bytes
    const shortCopy = Buffer.from(short);
    assert.equal(h.read(short), false);
    assert.deepEqual(short, shortCopy);
    const v1 = rtpPacket({ seq: 1, ts: 1, ssrc: 1 });
    v1[0] = 0x40; // version 1
    assert.equal(h.read(v1), false);
    assert.equal(h.read(Buffer.alloc(0)), false);
    assert.equal(h.read(Buffer.alloc(20)), false);
    assert.equal(h.read(rtpPacket({ seq: 7, ts: 8, ssrc: 9 })), true);
    assert.deepEqual({ seq: h.seq, ts: h.ts, ssrc: h.ssrc }, { seq: 7, ts: 8, ssrc: 9 });
  });

  it('RtpHeader.read tells padding-only packets from packets with payload', () => {
    const h = new RtpHeader();
    const withPadding = (payload: number, pad: number, b0 = 0xa0) => {
      const p = Buffer.alloc(12 + payload + pad);
      p[0] = b0;
      p[1] = 96;
      if (pad > 0) p[p.length - 1] = pad;
      return p;
    };
    assert.equal(h.read(withPadding(0, 200)), true);
    assert.equal(h.paddingOnly, true);
    assert.equal(h.read(withPadding(10, 20)), true);
    assert.equal(h.paddingOnly, false, 'payload plus padding');
    assert.equal(h.read(withPadding(10, 0, 0x80)), true);
    assert.equal(h.paddingOnly, false, 'no padding bit');
    // extension header (X bit) of one 32-bit word, then only padding
    const ext = Buffer.alloc(12 + 8 + 4);
    ext[0] = 0xb0;
    ext[1] = 96;
    ext.writeUInt16BE(0xbede, 12);
    ext.writeUInt16BE(1, 14);
    ext[ext.length - 1] = 4;
    assert.equal(h.read(ext), true);
    assert.equal(h.paddingOnly, true, 'extension then padding only');
  });

  it('drops a straggler of the previous source after a switch, keeping continuity', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    pass(rw, { seq: 100, ts: 9000, ssrc: 0xa });
    pass(rw, { seq: 101, ts: 12000, ssrc: 0xa });
    assert.deepEqual(pass(rw, { seq: 5000, ts: 700000, ssrc: 0xb }), { marker: false, pt: OUT_PT, seq: 102, ts: 15000, ssrc: OUT_SSRC });
    assert.equal(pass(rw, { seq: 101, ts: 12000, ssrc: 0xa }), undefined, 'stale packet of the old source is dropped');
    assert.deepEqual(pass(rw, { seq: 5001, ts: 700000, ssrc: 0xb }), { marker: false, pt: OUT_PT, seq: 103, ts: 15000, ssrc: OUT_SSRC });
  });

  it('a source that comes back after a while (A → B → A) is a source again, continuing the stream', () => {
    const rw = new RtpRewriter(OUT_SSRC, OUT_PT, STEP);
    pass(rw, { seq: 100, ts: 9000, ssrc: 0xa });
    for (let i = 0; i < 60; i++) pass(rw, { seq: 5000 + i, ts: 700000, ssrc: 0xb });
    // out: A=100, B=101..160
    assert.deepEqual(pass(rw, { seq: 200, ts: 20000, ssrc: 0xa }), { marker: false, pt: OUT_PT, seq: 161, ts: 15000, ssrc: OUT_SSRC });
  });

  it('several rewriters share one buffer: each works from the original header, not the previous one', () => {
    const rws = [1, 2, 3].map((i) => new RtpRewriter(0x1000 + i, 96, STEP));
    const out: number[][] = [[], [], []];
    const h = new RtpHeader();
    const send = (seq: number, ts: number, active: number[]) => {
      const p = rtpPacket({ seq, ts, ssrc: 0x77 });
      h.read(p);
      for (const i of active) {
        assert.equal(rws[i]!.onRtp(p, h), true);
        out[i]!.push(rtpFields(p).ts);
      }
    };
    send(10, 90000, [0, 1, 2]);
    send(11, 90000, [0, 1, 2]);
    send(12, 90000, [1, 2]); // the first subscriber left
    send(13, 93000, [1, 2]);
    assert.deepEqual(out[1], [90000, 90000, 90000, 93000]);
    assert.deepEqual(out[2], [90000, 90000, 90000, 93000]);
  });
});

// --- RTCP builders -------------------------------------------------------------

function pli(sender: number, media: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x80 | 1; // V=2, FMT=1
  b[1] = 206;
  b.writeUInt16BE(2, 2);
  b.writeUInt32BE(sender, 4);
  b.writeUInt32BE(media, 8);
  return b;
}

function fir(sender: number, entries: number[]): Buffer {
  const b = Buffer.alloc(12 + entries.length * 8);
  b[0] = 0x80 | 4; // V=2, FMT=4
  b[1] = 206;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(sender, 4);
  b.writeUInt32BE(0, 8); // media ssrc unused for FIR
  entries.forEach((ssrc, i) => {
    b.writeUInt32BE(ssrc, 12 + i * 8);
    b[16 + i * 8] = i + 1; // command seq nr
  });
  return b;
}

/** Receiver report with one report block. */
function rr(sender: number, source: number): Buffer {
  const b = Buffer.alloc(32);
  b[0] = 0x80 | 1; // one report block
  b[1] = 201;
  b.writeUInt16BE(7, 2);
  b.writeUInt32BE(sender, 4);
  b.writeUInt32BE(source, 8);
  return b;
}

/** Generic NACK (RTPFB 205, FMT 1) for `media`. */
function nack(sender: number, media: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x80 | 1;
  b[1] = 205;
  b.writeUInt16BE(3, 2);
  b.writeUInt32BE(sender, 4);
  b.writeUInt32BE(media, 8);
  b.writeUInt16BE(42, 12);
  return b;
}

const OURS = 0x12345678;
const OTHER = 0x0badf00d;

describe('hasKeyframeRequest', () => {
  it('is true for a PLI for our ssrc', () => {
    assert.equal(hasKeyframeRequest(pli(1, OURS), OURS), true);
  });

  it('is false for a PLI for another ssrc', () => {
    assert.equal(hasKeyframeRequest(pli(1, OTHER), OURS), false);
    // our ssrc as the sender of the PLI does not count
    assert.equal(hasKeyframeRequest(pli(OURS, OTHER), OURS), false);
  });

  it('is true for a FIR whose FCI names our ssrc, in any entry', () => {
    assert.equal(hasKeyframeRequest(fir(1, [OURS]), OURS), true);
    assert.equal(hasKeyframeRequest(fir(1, [OTHER, OURS]), OURS), true);
  });

  it('is false for a FIR for other ssrcs only', () => {
    assert.equal(hasKeyframeRequest(fir(1, [OTHER]), OURS), false);
    assert.equal(hasKeyframeRequest(fir(OURS, [OTHER, 7]), OURS), false);
  });

  it('finds a PLI after other packets in a compound packet', () => {
    assert.equal(hasKeyframeRequest(Buffer.concat([rr(1, OURS), pli(1, OURS)]), OURS), true);
    assert.equal(hasKeyframeRequest(Buffer.concat([rr(1, OURS), nack(1, OURS), fir(1, [OURS])]), OURS), true);
  });

  it('is false for a compound packet without a keyframe request for us', () => {
    assert.equal(hasKeyframeRequest(Buffer.concat([rr(1, OURS), nack(1, OURS), pli(1, OTHER)]), OURS), false);
  });

  it('is false for feedback that is not PSFB PLI/FIR', () => {
    // NACK has FMT 1 like PLI but packet type 205
    assert.equal(hasKeyframeRequest(nack(1, OURS), OURS), false);
    const remb = pli(1, OURS);
    remb[0] = 0x80 | 15; // PSFB FMT 15 (application layer feedback)
    assert.equal(hasKeyframeRequest(remb, OURS), false);
  });

  it('is false for a truncated packet', () => {
    const p = pli(1, OURS);
    assert.equal(hasKeyframeRequest(p.subarray(0, 11), OURS), false);
    // length field claims more than the buffer holds
    const long = Buffer.from(p);
    long.writeUInt16BE(3, 2);
    assert.equal(hasKeyframeRequest(long, OURS), false);
    // a FIR cut inside its FCI
    assert.equal(hasKeyframeRequest(fir(1, [OURS]).subarray(0, 16), OURS), false);
    // an RR whose length overruns the buffer hides the PLI behind it
    const badRr = rr(1, OURS);
    badRr.writeUInt16BE(100, 2);
    assert.equal(hasKeyframeRequest(Buffer.concat([badRr, pli(1, OURS)]), OURS), false);
  });

  it('is false for an empty buffer', () => {
    assert.equal(hasKeyframeRequest(Buffer.alloc(0), OURS), false);
  });

  it('compares ssrcs above 2^31 correctly', () => {
    const high = 0xfedcba98;
    assert.equal(hasKeyframeRequest(pli(1, high), high), true);
    assert.equal(hasKeyframeRequest(fir(1, [high]), high), true);
  });
});

describe('isRtcp', () => {
  it('is true for RTCP packet types 192-223', () => {
    assert.equal(isRtcp(rr(1, 2)), true);
    assert.equal(isRtcp(pli(1, 2)), true);
    assert.equal(isRtcp(nack(1, 2)), true);
    assert.equal(isRtcp(Buffer.from([0x80, 192])), true);
    assert.equal(isRtcp(Buffer.from([0x80, 223])), true);
  });

  it('is false for RTP and for too short buffers', () => {
    assert.equal(isRtcp(rtpPacket({ pt: 96, seq: 1, ts: 1, ssrc: 1 })), false);
    assert.equal(isRtcp(rtpPacket({ marker: true, pt: 111, seq: 1, ts: 1, ssrc: 1 })), false);
    assert.equal(isRtcp(Buffer.from([0x80, 191])), false);
    assert.equal(isRtcp(Buffer.from([0x80, 224])), false);
    assert.equal(isRtcp(Buffer.from([0x80])), false);
    assert.equal(isRtcp(Buffer.alloc(0)), false);
  });
});

describe('randomSsrc', () => {
  afterEach(() => mock.restoreAll());

  it('stays within 1..2^32-2 at the extremes of Math.random', () => {
    mock.method(Math, 'random', () => 0);
    assert.equal(randomSsrc(), 1);
    mock.restoreAll();
    mock.method(Math, 'random', () => 1 - 2 ** -53);
    assert.equal(randomSsrc(), 0xfffffffe);
  });

  it('returns integers never 0 and below 2^32', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const s = randomSsrc();
      assert.ok(Number.isInteger(s), `${s} is not an integer`);
      assert.ok(s > 0 && s < 2 ** 32, `${s} out of range`);
      seen.add(s);
    }
    assert.ok(seen.size > 9_900, 'ssrcs should be spread out');
  });
});
