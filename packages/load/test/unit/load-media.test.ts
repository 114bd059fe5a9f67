import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  newVp8Info,
  OPUS_TOC_20MS_STEREO,
  parseOpusToc,
  parseVp8,
  RTP_HEADER,
  rtpPayloadOffset,
  VP8_DESCRIPTOR,
  writeRtpHeader,
  writeVp8Descriptor,
  writeVp8FrameHeader,
} from '../../src/media.js';
import { frameSizes, OpusSource, splitFrame, Vp8Source } from '../../src/source.js';
import type { MediaSender } from '../../src/target.js';

/** A MediaSender whose track records what is sent (a copy per packet, as the engine makes). */
function recordingSender(payloadType: number): { sender: MediaSender; sent: Buffer[] } {
  const sent: Buffer[] = [];
  const track = { sendMessageBinary: (b: Buffer) => sent.push(Buffer.from(b)) };
  return { sender: { track: track as unknown as MediaSender['track'], ssrc: 0x1234_5678, payloadType }, sent };
}

describe('VP8 payload descriptor and frame header (RFC 7741, RFC 6386)', () => {
  it('writes X, S, I and a 15-bit PictureID, and parses them back', () => {
    const p = Buffer.alloc(40);
    writeVp8Descriptor(p, RTP_HEADER, true, 0x1234);
    assert.deepEqual([...p.subarray(RTP_HEADER, RTP_HEADER + 4)], [0x90, 0x80, 0x80 | 0x12, 0x34]);
    writeVp8FrameHeader(p, RTP_HEADER + VP8_DESCRIPTOR, false, 100, 0, 0);
    const v = parseVp8(p, RTP_HEADER, newVp8Info())!;
    assert.equal(v.start, true);
    assert.equal(v.key, false);
    assert.equal(v.pictureId, 0x1234);
    assert.equal(v.dataOffset, RTP_HEADER + 4 + 3);
  });

  it('a key frame has the key-frame bit clear, show_frame, the start code and the dimensions', () => {
    const p = Buffer.alloc(40);
    writeVp8Descriptor(p, 0, true, 7);
    const n = writeVp8FrameHeader(p, 4, true, 1000, 640, 360);
    assert.equal(n, 10);
    const tag = p[4]! | (p[5]! << 8) | (p[6]! << 16);
    assert.equal(tag & 1, 0, 'key frame: P bit 0');
    assert.equal((tag >> 4) & 1, 1, 'show_frame');
    assert.equal(tag >> 5, 1000, 'first partition size');
    assert.deepEqual([...p.subarray(7, 10)], [0x9d, 0x01, 0x2a]);
    const v = parseVp8(p, 0, newVp8Info())!;
    assert.deepEqual([v.key, v.width, v.height, v.dataOffset], [true, 640, 360, 14]);
  });

  it('a continuation packet (S=0) has no frame header; a 7-bit PictureID and TL0PICIDX/KEYIDX are skipped', () => {
    const p = Buffer.from([0x80, 0x80 | 0x40 | 0x10, 0x05, 0xaa, 0xbb, 1, 2, 3]);
    const v = parseVp8(p, 0, newVp8Info())!;
    assert.equal(v.start, false);
    assert.equal(v.pictureId, 5);
    assert.equal(v.dataOffset, 5);
  });

  it('rejects a truncated descriptor or a key frame without its start code', () => {
    assert.equal(parseVp8(Buffer.from([0x90, 0x80]), 0, newVp8Info()), null);
    const bad = Buffer.alloc(20);
    writeVp8Descriptor(bad, 0, true, 1);
    writeVp8FrameHeader(bad, 4, true, 10, 16, 16);
    bad[7] = 0x00; // breaks 9d 01 2a
    assert.equal(parseVp8(bad, 0, newVp8Info()), null);
  });

  it('finds the payload after CSRCs and a header extension', () => {
    const p = Buffer.alloc(40);
    writeRtpHeader(p, false, 96, 1, 2, 3);
    p[0] = 0x80 | 0x10 | 0x01; // X, one CSRC
    p.writeUInt16BE(1, 12 + 4 + 2); // extension of 1 word after the CSRC
    assert.equal(rtpPayloadOffset(p), 12 + 4 + 4 + 4);
    assert.equal(rtpPayloadOffset(Buffer.alloc(8)), -1);
  });
});

describe('Opus TOC (RFC 6716 §3.1)', () => {
  it('config 31 is CELT fullband 20 ms; the load tool sends stereo, one frame per packet', () => {
    assert.deepEqual(parseOpusToc(OPUS_TOC_20MS_STEREO), { config: 31, stereo: true, code: 0, frameMicros: 20_000 });
  });
  it('reads SILK and hybrid durations and the frame count code', () => {
    assert.equal(parseOpusToc((1 << 3) | 3).frameMicros, 20_000); // SILK NB 20 ms, code 3
    assert.equal(parseOpusToc((1 << 3) | 3).code, 3);
    assert.equal(parseOpusToc(3 << 3).frameMicros, 60_000);
    assert.equal(parseOpusToc(12 << 3).frameMicros, 10_000); // hybrid SWB 10 ms
    assert.equal(parseOpusToc(16 << 3).frameMicros, 2_500);
  });
});

describe('media sources', () => {
  it('frame sizes keep the bitrate over a keyframe interval; frames split evenly under the MTU', () => {
    const { key, delta } = frameSizes({ bitrate: 1_000_000, fps: 30, keyframeInterval: 2 });
    assert.ok(Math.abs((key + 59 * delta) * 8 - 2_000_000) < 1000, `${key} + 59 × ${delta}`);
    assert.deepEqual(splitFrame(2500, 1004), [834, 833, 833]);
    assert.equal(
      splitFrame(12_000).reduce((a, b) => a + b, 0),
      12_000,
    );
  });

  it('Vp8Source sends well-formed frames: S on the first packet, marker on the last, one timestamp and PictureID per frame, a keyframe first and on request', () => {
    const { sender, sent } = recordingSender(96);
    const v = new Vp8Source(sender, { bitrate: 1_000_000, fps: 30, keyframeInterval: 0 });
    v.tick(0); // frame 0: a keyframe
    v.tick(34); // frame 1
    v.requestKeyframe();
    v.tick(67); // frame 2: requested keyframe
    const frames = new Map<number, Buffer[]>();
    for (const p of sent) {
      assert.equal(p[1]! & 0x7f, 96);
      assert.equal(p.readUInt32BE(8), 0x1234_5678);
      const ts = p.readUInt32BE(4);
      frames.set(ts, [...(frames.get(ts) ?? []), p]);
    }
    assert.equal(frames.size, 3);
    const kinds = [...frames.values()].map((packets) => {
      const infos = packets.map((p) => ({ ...parseVp8(p, RTP_HEADER, newVp8Info())! }));
      assert.equal(infos[0]!.start, true);
      assert.ok(infos.slice(1).every((i) => !i.start));
      assert.ok(infos.every((i) => i.pictureId === infos[0]!.pictureId));
      assert.deepEqual(
        packets.map((p) => p[1]! >> 7),
        packets.map((_, i) => (i === packets.length - 1 ? 1 : 0)),
      );
      // send time after the headers of every packet
      for (const [i, p] of packets.entries()) assert.ok(Math.abs(p.readDoubleBE(infos[i]!.dataOffset) - Date.now()) < 5000);
      return infos[0]!.key;
    });
    assert.deepEqual(kinds, [true, false, true]);
    const seqs = sent.map((p) => p.readUInt16BE(2));
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff);
    assert.equal(v.keyframesSent, 2);
    assert.equal(v.keyframeRequests, 1);
  });

  it('OpusSource sends one packet per 20 ms with a valid TOC and 960-sample timestamp steps', () => {
    const { sender, sent } = recordingSender(111);
    const a = new OpusSource(sender);
    a.tick(99); // packets at 0, 20, 40, 60, 80 ms
    assert.equal(sent.length, 5);
    for (const [i, p] of sent.entries()) {
      assert.equal(p[RTP_HEADER], OPUS_TOC_20MS_STEREO);
      assert.equal((p.readUInt32BE(4) - sent[0]!.readUInt32BE(4)) >>> 0, 960 * i);
    }
  });
});
