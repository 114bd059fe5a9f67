import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import sdpTransform from 'sdp-transform';
import { newReportBlock, readReportBlock, writePli } from 'weever-rtp';
import { newVp8Info, parseVp8, RTP_HEADER } from '../../src/media.js';
import { addSimulcastVideoTrack, simulcastOffer, watchLayerKeyframeRequests } from '../../src/peer.js';
import { TrackStats, writeReceiverReportOf } from '../../src/recorder.js';
import { frameSizes, layerShapes, SimulcastVp8Source, splitFrame } from '../../src/source.js';
import type { MediaSender } from '../../src/target.js';

const SSRCS = [0x1111_0001, 0x2222_0002, 0x3333_0003];

/** Three senders on one fake track (as addSimulcastVideoTrack gives): what is sent, and the track's onMessage callback. */
function layeredSenders(): { senders: MediaSender[]; sent: Buffer[]; deliver: (b: Buffer) => void } {
  const sent: Buffer[] = [];
  let onMessage: ((b: Buffer) => void) | undefined;
  const track = {
    sendMessageBinary: (b: Buffer) => sent.push(Buffer.from(b)),
    onMessage: (cb: (b: Buffer) => void) => {
      onMessage = cb;
    },
  } as unknown as MediaSender['track'];
  const senders = SSRCS.map((ssrc) => ({ track, ssrc, payloadType: 96 }));
  return { senders, sent, deliver: (b) => onMessage!(b) };
}

/** Per SSRC, the frames sent: [key?, width, height, packets, pictureId]. */
function framesBySsrc(sent: Buffer[]): Map<number, { key: boolean; width: number; height: number; packets: number; pictureId: number }[]> {
  const out = new Map<number, { key: boolean; width: number; height: number; packets: number; pictureId: number }[]>();
  for (const p of sent) {
    const ssrc = p.readUInt32BE(8);
    const v = parseVp8(p, RTP_HEADER, newVp8Info());
    assert.ok(v, 'well-formed VP8 payload');
    const frames = out.get(ssrc) ?? [];
    out.set(ssrc, frames);
    if (v.start) frames.push({ key: v.key, width: v.width, height: v.height, packets: 1, pictureId: v.pictureId });
    else {
      const f = frames.at(-1)!;
      f.packets++;
      assert.equal(v.pictureId, f.pictureId, 'one picture id per frame');
    }
  }
  return out;
}

describe('simulcast load publisher (3 VP8 layers on 3 SSRCs)', () => {
  it('layers: Chromium ladder scaled to the top bitrate, smallest first', () => {
    const shapes = layerShapes({ bitrate: 1_000_000, fps: 30, keyframeInterval: 2 }, 3);
    assert.deepEqual(
      shapes.map((s) => [s.bitrate, s.width, s.height, s.fps, s.keyframeInterval]),
      [
        [150_000, 320, 180, 30, 2],
        [500_000, 640, 360, 30, 2],
        [1_000_000, 1280, 720, 30, 2],
      ],
    );
    assert.deepEqual(
      layerShapes({ bitrate: 2_000_000, fps: 15, keyframeInterval: 0 }, 2).map((s) => s.bitrate),
      [1_000_000, 2_000_000],
    );
    assert.throws(() => layerShapes({ bitrate: 1e6, fps: 30, keyframeInterval: 0 }, 4));
  });

  it('each SSRC is its own stream: keyframe first with its size, contiguous sequence numbers, 15-bit picture ids, frame sizes of its bitrate', () => {
    const { senders, sent } = layeredSenders();
    const shapes = layerShapes({ bitrate: 1_000_000, fps: 30, keyframeInterval: 0 }, 3);
    const v = new SimulcastVp8Source(senders, shapes);
    v.tick(0);
    v.tick(34);
    const frames = framesBySsrc(sent);
    assert.deepEqual([...frames.keys()], SSRCS);
    for (const [i, ssrc] of SSRCS.entries()) {
      const f = frames.get(ssrc)!;
      const { key, delta } = frameSizes(shapes[i]!);
      assert.deepEqual(
        f.map((x) => [x.key, x.width, x.height, x.packets]),
        [
          [true, shapes[i]!.width, shapes[i]!.height, splitFrame(key).length],
          [false, 0, 0, splitFrame(delta).length],
        ],
      );
      assert.equal(f[1]!.pictureId, (f[0]!.pictureId + 1) & 0x7fff);
      const packets = sent.filter((p) => p.readUInt32BE(8) === ssrc);
      for (const p of packets) assert.equal(p[RTP_HEADER + 2]! & 0x80, 0x80, 'M bit: 15-bit picture id');
      const seqs = packets.map((p) => p.readUInt16BE(2));
      for (let k = 1; k < seqs.length; k++) assert.equal(seqs[k], (seqs[k - 1]! + 1) & 0xffff);
      // marker on each frame's last packet only
      assert.equal(packets.filter((p) => p[1]! & 0x80).length, 2);
    }
    assert.equal(v.sent.packets, sent.length);
    assert.equal(v.keyframesSent, 3);
  });

  it('a PLI naming one layer SSRC keys that layer only; other SSRCs and other RTCP are ignored', () => {
    const { senders, sent, deliver } = layeredSenders();
    const v = new SimulcastVp8Source(senders, layerShapes({ bitrate: 1_000_000, fps: 30, keyframeInterval: 0 }, 3));
    const asked: number[] = [];
    watchLayerKeyframeRequests(senders, (ssrc) => {
      asked.push(ssrc);
      v.requestKeyframe(ssrc);
    });
    v.tick(0); // keyframes on every layer
    v.tick(34); // deltas
    const pli = Buffer.alloc(12);
    writePli(pli, 0, 0xabcd, SSRCS[1]!);
    deliver(pli);
    writePli(pli, 0, 0xabcd, 0x9999_9999); // not ours
    deliver(pli);
    v.tick(67);
    assert.deepEqual(asked, [SSRCS[1]]);
    assert.equal(v.requestKeyframe(0x9999_9999), false);
    const frames = framesBySsrc(sent);
    assert.deepEqual(
      SSRCS.map((s) => frames.get(s)!.map((f) => f.key)),
      [
        [true, false, false],
        [true, false, true],
        [true, false, false],
      ],
    );
    assert.equal(frames.get(SSRCS[1]!)![2]!.width, 640);
    assert.equal(v.keyframeRequests, 1);
    assert.equal(v.keyframesSent, 4);
  });

  it('a FIR naming two layers in one compound keys both', () => {
    const { senders, deliver } = layeredSenders();
    const asked: number[] = [];
    watchLayerKeyframeRequests(senders, (ssrc) => asked.push(ssrc));
    // FIR (PSFB FMT 4): header, sender, media 0, then two FCI entries of 8 bytes
    const fir = Buffer.alloc(12 + 16);
    fir[0] = 0x84;
    fir[1] = 206;
    fir.writeUInt16BE(fir.length / 4 - 1, 2);
    fir.writeUInt32BE(0xabcd, 4);
    fir.writeUInt32BE(SSRCS[0]!, 12);
    fir.writeUInt32BE(SSRCS[2]!, 20);
    deliver(fir);
    assert.deepEqual(asked, [SSRCS[0], SSRCS[2]]);
  });
});

describe('simulcast offer', () => {
  it('inserts a=ssrc-group:SIM (smallest first) before the video section’s first a=ssrc line, audio untouched', () => {
    const sdp = [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:0',
      'a=sendonly',
      'a=ssrc:1 cname:load',
      'a=ssrc:1 msid:p p-v0',
      'a=ssrc:2 cname:load',
      'a=ssrc:2 msid:p p-v0',
      'a=ssrc:3 cname:load',
      'a=ssrc:3 msid:p p-v0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:1',
      'a=ssrc:4 cname:load',
      '',
    ].join('\r\n');
    const out = simulcastOffer(sdp, [1, 2, 3]);
    assert.equal(out, sdp.replace('a=sendonly\r\na=ssrc:1 cname', 'a=sendonly\r\na=ssrc-group:SIM 1 2 3\r\na=ssrc:1 cname'));
    assert.throws(() => simulcastOffer('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ssrc:4 cname:x\r\n', [1, 2]));
  });

  const pcs: nodeDataChannel.PeerConnection[] = [];
  after(() => {
    for (const pc of pcs) pc.close();
    nodeDataChannel.cleanup();
  });

  it('the engine’s offer for addSimulcastVideoTrack lists every layer SSRC with cname and msid; with the SIM group it parses as SSRC simulcast', () => {
    const pc = new nodeDataChannel.PeerConnection('sim-test', { iceServers: [], disableAutoNegotiation: true });
    pcs.push(pc);
    const senders = addSimulcastVideoTrack(pc, { cname: 'load', msid: 'pub0', trackId: 'video-0' }, 3);
    assert.equal(new Set(senders.map((s) => s.ssrc)).size, 3);
    assert.ok(senders.every((s) => s.track === senders[0]!.track && s.payloadType === 96));
    pc.setLocalDescription();
    const offer = simulcastOffer(
      pc.localDescription()!.sdp,
      senders.map((s) => s.ssrc),
    );
    const video = sdpTransform.parse(offer).media.find((m) => m.type === 'video')!;
    assert.deepEqual(video.ssrcGroups, [{ semantics: 'SIM', ssrcs: senders.map((s) => s.ssrc).join(' ') }]);
    for (const s of senders) {
      const attrs = (video.ssrcs ?? []).filter((x) => x.id === s.ssrc);
      assert.ok(attrs.some((x) => x.attribute === 'cname' && x.value === 'load'));
      assert.ok(attrs.some((x) => x.attribute === 'msid' && x.value === 'pub0 video-0'));
    }
  });
});

describe('load subscriber receiver reports', () => {
  it('fraction lost since the previous report, cumulative lost, extended highest sequence number (RFC 3550 §6.4.1)', () => {
    const t = new TrackStats('video', 0x4242_4242);
    // 65530 … 65535, 0 … 3 with 65533 and 1 missing: 10 expected, 8 received
    for (const seq of [65530, 65531, 65532, 65534, 65535, 0, 2, 3]) t.seq.add(seq);
    const out = Buffer.alloc(32);
    assert.equal(writeReceiverReportOf(t, out, 0x5555), 32);
    const b = newReportBlock();
    assert.ok(readReportBlock(out, 0x4242_4242, b));
    assert.equal(out.readUInt32BE(4), 0x5555);
    assert.deepEqual([b.fraction, b.lost, b.extHighestSeq, b.lsr, b.dlsr], [Math.floor((2 * 256) / 10), 2, 0x1_0003, 0, 0]);
    // next interval: 4 … 13 all received: fraction 0, cumulative stays 2
    for (let seq = 4; seq <= 13; seq++) t.seq.add(seq);
    writeReceiverReportOf(t, out, 0x5555);
    assert.ok(readReportBlock(out, 0x4242_4242, b));
    assert.deepEqual([b.fraction, b.lost, b.extHighestSeq], [0, 2, 0x1_000d]);
  });
});
