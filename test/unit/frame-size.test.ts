import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { layerSizes, mediaValue, parseMediaHash, parseRoomEvent, type TrackInfo, trackInfo } from 'weever-protocol';
import { RtpHeader, vp8KeyframeSize } from 'weever-rtp';
import { FrameSize } from '../../src/media/stages/frame-size.js';
import { rtpPacket } from '../helpers/rtp.js';

/** A VP8 RTP payload: descriptor (S, partition 0), then a key frame header of `w`×`h` (RFC 6386 §9.1) or a delta frame's tag. */
function vp8Frame(key: boolean, w = 0, h = 0, scaleBits = 0): Buffer {
  const tag = key ? [0x50, 0x02, 0x00] : [0x51, 0x02, 0x00]; // bit 0 of the tag: 0 key frame, 1 inter frame
  const dims = key ? [0x9d, 0x01, 0x2a, w & 0xff, ((w >> 8) & 0x3f) | scaleBits, h & 0xff, ((h >> 8) & 0x3f) | scaleBits] : [];
  return Buffer.from([0x10, ...tag, ...dims, 0xaa, 0xbb]);
}

describe('vp8KeyframeSize (RFC 6386 §9.1 key frame header)', () => {
  it('reads width and height, little-endian, without the 2 scaling bits', () => {
    const p = vp8Frame(true, 1280, 720, 0xc0);
    assert.equal(vp8KeyframeSize(p, 1, p.length), (1280 << 16) | 720);
    const q = vp8Frame(true, 320, 180);
    assert.deepEqual([...q.subarray(7, 11)], [0x40, 0x01, 0xb4, 0x00]);
    assert.equal(vp8KeyframeSize(q, 1, q.length), (320 << 16) | 180);
  });

  it('0 for an inter frame, a wrong start code, a short payload or a zero side', () => {
    const inter = vp8Frame(false);
    assert.equal(vp8KeyframeSize(inter, 1, inter.length), 0);
    const bad = vp8Frame(true, 320, 180);
    bad[5] = 0x00;
    assert.equal(vp8KeyframeSize(bad, 1, bad.length), 0);
    const ok = vp8Frame(true, 320, 180);
    assert.equal(vp8KeyframeSize(ok, 1, 10), 0, 'the header runs past the end');
    const zero = vp8Frame(true, 0, 180);
    assert.equal(vp8KeyframeSize(zero, 1, zero.length), 0);
  });
});

describe('FrameSize stage', () => {
  const h = new RtpHeader();
  const run = (stage: FrameSize, p: Buffer) => {
    assert.ok(h.read(p));
    return stage.onRtp(p, h);
  };
  const pkt = (seq: number, payload: Buffer) => rtpPacket({ pt: 96, seq, ts: seq * 3000, ssrc: 7, payload });

  it('takes the size from key frames only, tells each change once, and drops nothing', () => {
    let changes = 0;
    const s = new FrameSize('vp8', () => changes++);
    assert.equal(run(s, pkt(1, vp8Frame(false))), true);
    assert.equal(changes, 0);
    assert.equal(run(s, pkt(2, vp8Frame(true, 640, 360))), true);
    assert.deepEqual([s.width, s.height, changes], [640, 360, 1]);
    run(s, pkt(3, vp8Frame(true, 640, 360)));
    assert.equal(changes, 1, 'the same size again is no change');
    // a continuation packet of a key frame (S clear) is not read
    run(s, pkt(4, Buffer.from([0x00, ...vp8Frame(true, 320, 180).subarray(1)])));
    assert.equal(changes, 1);
    run(s, pkt(5, vp8Frame(true, 320, 180)));
    assert.deepEqual([s.width, s.height, changes], [320, 180, 2], 'the encoder scaled down');
  });

  it('reads nothing of H.264', () => {
    let changes = 0;
    const s = new FrameSize('h264', () => changes++);
    assert.equal(run(s, pkt(1, vp8Frame(true, 640, 360))), true);
    assert.equal(changes, 0);
  });
});

describe('layer sizes in the track info', () => {
  const sizes: [number, number][] = [
    [320, 180],
    [0, 0],
    [1280, 720],
  ];

  it('parse from JSON and from a store part; anything malformed is left out', () => {
    assert.deepEqual(layerSizes(sizes), sizes);
    assert.deepEqual(layerSizes('320x180+0x0+1280x720'), sizes);
    for (const bad of [
      '',
      'x',
      '320x',
      '320x180+',
      '99999x1',
      [[1, 2, 3]],
      [[-1, 2]],
      [[0, 0]],
      'a+b+c+d',
      [
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
      ],
    ])
      assert.equal(layerSizes(bad), undefined, JSON.stringify(bad));
    assert.equal(trackInfo('audio', 'audio0', undefined, undefined, undefined, false, sizes).sizes, undefined, 'video only');
  });

  it('round-trip through the media hash and the pub-join event', () => {
    const tracks: TrackInfo[] = [
      { kind: 'audio', trackId: 'audio0' },
      { kind: 'video', trackId: 'video0', layers: 3, sizes },
      { kind: 'video', trackId: 'video1', layers: 3, muted: true, sizes },
    ];
    const value = mediaValue(tracks, 'video');
    assert.equal(value, '2;video0///3//320x180+0x0+1280x720,video1///3/m/320x180+0x0+1280x720');
    const back = parseMediaHash({ 'alice+1#audio': mediaValue(tracks, 'audio'), 'alice+1#video': value });
    assert.deepEqual(back.get('alice+1'), tracks);
    const event = parseRoomEvent(JSON.stringify({ type: 'pub-join', pub: 'alice+1', tracks }));
    assert.deepEqual(event, { type: 'pub-join', pub: 'alice+1', tracks });
  });
});
