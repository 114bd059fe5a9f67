import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader } from 'weever-rtp';
import { MuteGate } from '../../src/media/stages/mute-gate.js';
import { rtpPacket, vp8Payload } from '../helpers/rtp.js';

const h = new RtpHeader();
const SSRC = 0x1234;

/** Runs packets through the gate: the sequence numbers it let through. */
function through(gate: MuteGate, pkts: Buffer[]): number[] {
  const out: number[] = [];
  for (const p of pkts) {
    assert.ok(h.read(p));
    if (gate.onRtp(p, h)) out.push(h.seq);
  }
  return out;
}

const vp8 = (seq: number, key = false, s = true) => rtpPacket({ pt: 96, seq, ts: seq * 3000, ssrc: SSRC, payload: vp8Payload({ s, key }) });
const opus = (seq: number) => rtpPacket({ pt: 111, seq, ts: seq * 960, ssrc: SSRC, payload: 20 });
/** H.264 single NAL units: type 5 (IDR) or 1 (non-IDR slice) */
const h264 = (seq: number, idr: boolean) =>
  rtpPacket({ pt: 102, seq, ts: seq * 3000, ssrc: SSRC, payload: Buffer.from([idr ? 0x65 : 0x41, 0x88, 0x84, 0x00]) });

describe('MuteGate', () => {
  it('lets everything through until muted, nothing while muted', () => {
    let asked = 0;
    const gate = new MuteGate('vp8', () => asked++);
    assert.deepEqual(through(gate, [vp8(1, true), vp8(2), vp8(3)]), [1, 2, 3]);
    gate.setMuted(true);
    assert.ok(gate.muted);
    assert.deepEqual(through(gate, [vp8(4), vp8(5, true), vp8(6)]), []);
    assert.equal(gate.dropped, 3);
    assert.equal(asked, 0, 'no keyframe is asked for while muted');
  });

  it('video: after unmute, asks for a keyframe and starts at its first packet', () => {
    let asked = 0;
    const gate = new MuteGate('vp8', () => asked++);
    gate.setMuted(true);
    through(gate, [vp8(1), vp8(2)]);
    gate.setMuted(false);
    assert.equal(asked, 1);
    assert.ok(!gate.muted);
    // a delta frame, then the middle of a keyframe (S=0: not its first packet), then the keyframe's start
    assert.deepEqual(through(gate, [vp8(3), vp8(4, true, false), vp8(5, true), vp8(6), vp8(7)]), [5, 6, 7]);
    assert.equal(asked, 3, 'asked again for each packet dropped while waiting');
    assert.equal(gate.dropped, 4);
  });

  it('H.264: waits for an IDR', () => {
    const gate = new MuteGate('h264', () => {});
    gate.setMuted(true);
    gate.setMuted(false);
    assert.deepEqual(through(gate, [h264(1, false), h264(2, true), h264(3, false)]), [2, 3]);
  });

  it('audio: resumes at once, numbered on from the last packet before the mute', () => {
    let asked = 0;
    const gate = new MuteGate('audio', () => asked++);
    assert.deepEqual(through(gate, [opus(10), opus(11)]), [10, 11]);
    gate.setMuted(true);
    assert.deepEqual(through(gate, [opus(12), opus(13), opus(14)]), []);
    gate.setMuted(false);
    const out = [opus(15), opus(16)];
    assert.deepEqual(through(gate, out), [12, 13]);
    assert.equal(out[0]!.readUInt16BE(2), 12, 'written into the packet too');
    assert.equal(asked, 0);
  });

  it('video: the packets held back leave no gap; reordered ones from before the reopening are dropped', () => {
    const gate = new MuteGate('vp8', () => {});
    assert.deepEqual(through(gate, [vp8(1, true), vp8(2)]), [1, 2]);
    gate.setMuted(true);
    through(gate, [vp8(3), vp8(4), vp8(5), vp8(6)]);
    gate.setMuted(false);
    assert.deepEqual(through(gate, [vp8(7), vp8(8, true), vp8(9), vp8(5), vp8(10)]), [3, 4, 5]);
    // a second mute adds to the shift
    gate.setMuted(true);
    through(gate, [vp8(11), vp8(12)]);
    gate.setMuted(false);
    assert.deepEqual(through(gate, [vp8(13, true), vp8(14)]), [6, 7]);
  });

  it('renumbers across the 16-bit wrap', () => {
    const gate = new MuteGate('vp8', () => {});
    assert.deepEqual(through(gate, [vp8(65534, true)]), [65534]);
    gate.setMuted(true);
    through(gate, [vp8(65535), vp8(0), vp8(1), vp8(2)]);
    gate.setMuted(false);
    assert.deepEqual(through(gate, [vp8(3, true), vp8(4), vp8(5)]), [65535, 0, 1]);
  });

  it('unmute of a track that is not muted changes nothing (no keyframe request)', () => {
    let asked = 0;
    const gate = new MuteGate('vp8', () => asked++);
    gate.setMuted(false);
    assert.deepEqual(through(gate, [vp8(1), vp8(2)]), [1, 2]);
    assert.equal(asked, 0);
  });

  it('padding while waiting is dropped and does not open the gate', () => {
    const gate = new MuteGate('vp8', () => {});
    gate.setMuted(true);
    gate.setMuted(false);
    const pad = Buffer.alloc(12 + 200);
    rtpPacket({ pt: 96, seq: 9, ts: 0, ssrc: SSRC, payload: 0 }).copy(pad);
    pad[0] = 0xa0; // P bit
    pad[pad.length - 1] = 200;
    assert.deepEqual(through(gate, [pad, vp8(10)]), []);
    assert.deepEqual(through(gate, [vp8(11, true)]), [11]);
  });
});
