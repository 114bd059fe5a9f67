import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader } from 'weever-rtp';
import { RtpRewriter } from '../../src/media/stages/rewriter.js';
import { ViewGate } from '../../src/media/stages/view-gate.js';
import { rtpPacket, vp8Payload } from '../helpers/rtp.js';

const h = new RtpHeader();
const SSRC = 0x1234;
const OUT_SSRC = 0xabcd;

/** Gate then rewriter, as in a DownTrack: [seq, ts, ssrc] of what goes out. */
function through(gate: ViewGate, rw: RtpRewriter, pkts: Buffer[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const p of pkts) {
    assert.ok(h.read(p));
    if (!gate.onRtp(p, h) || !rw.onRtp(p, h)) continue;
    out.push([p.readUInt16BE(2), p.readUInt32BE(4), p.readUInt32BE(8)]);
  }
  return out;
}

const vp8 = (seq: number, key = false, s = true, ssrc = SSRC) =>
  rtpPacket({ pt: 96, seq, ts: seq * 3000, ssrc, payload: vp8Payload({ s, key }) });
const h264 = (seq: number, idr: boolean) =>
  rtpPacket({ pt: 102, seq, ts: seq * 3000, ssrc: SSRC, payload: Buffer.from([idr ? 0x65 : 0x41, 0x88, 0x84, 0x00]) });

describe('ViewGate (adaptive stream for a one-stream video)', () => {
  it('shown: everything goes through unchanged in number and time', () => {
    const rw = new RtpRewriter(OUT_SSRC, 96, 3000);
    const gate = new ViewGate(rw, 'vp8', () => assert.fail('no keyframe is asked for'));
    assert.deepEqual(through(gate, rw, [vp8(10, true), vp8(11), vp8(12)]), [
      [10, 30000, OUT_SSRC],
      [11, 33000, OUT_SSRC],
      [12, 36000, OUT_SSRC],
    ]);
    assert.equal(gate.dropped, 0);
  });

  it('hidden: nothing; shown again: from the first packet of a keyframe, asked for meanwhile; numbers follow on, the clock is the source’s', () => {
    const rw = new RtpRewriter(OUT_SSRC, 96, 3000);
    let asked = 0;
    const gate = new ViewGate(rw, 'vp8', () => asked++);
    through(gate, rw, [vp8(10, true), vp8(11)]);
    gate.setHidden(true);
    assert.ok(gate.hidden);
    assert.deepEqual(through(gate, rw, [vp8(12), vp8(13, true), vp8(14)]), []);
    assert.equal(asked, 0, 'nothing is asked for while hidden');
    gate.setHidden(false);
    assert.equal(asked, 1, 'shown: a keyframe is asked for at once');
    assert.ok(gate.hidden, 'still closed until the keyframe');
    // a delta frame, the middle of a keyframe (S=0), then a keyframe's first packet
    assert.deepEqual(through(gate, rw, [vp8(15), vp8(16, true, false), vp8(17, true), vp8(18)]), [
      [12, 51000, OUT_SSRC],
      [13, 54000, OUT_SSRC],
    ]);
    assert.equal(asked, 3, 'asked again for each packet dropped while waiting');
    assert.equal(gate.dropped, 5);
    assert.ok(!gate.hidden);
  });

  it('hidden again while waiting for the keyframe: closed, and nothing asked for', () => {
    const rw = new RtpRewriter(OUT_SSRC, 96, 3000);
    let asked = 0;
    const gate = new ViewGate(rw, 'vp8', () => asked++);
    through(gate, rw, [vp8(1, true)]);
    gate.setHidden(true);
    gate.setHidden(false);
    gate.setHidden(true);
    assert.deepEqual(through(gate, rw, [vp8(2), vp8(3, true)]), []);
    assert.equal(asked, 1);
  });

  it('the source changed while hidden (publisher renegotiated): one timestamp step on from the last packet sent', () => {
    const rw = new RtpRewriter(OUT_SSRC, 96, 3000);
    const gate = new ViewGate(rw, 'vp8', () => {});
    through(gate, rw, [vp8(100, true), vp8(101)]);
    gate.setHidden(true);
    gate.setHidden(false);
    assert.deepEqual(through(gate, rw, [vp8(7, true, true, 0x9999), vp8(8, false, true, 0x9999)]), [
      [102, 306000, OUT_SSRC],
      [103, 309000, OUT_SSRC],
    ]);
  });

  it('H.264: waits for an IDR', () => {
    const rw = new RtpRewriter(OUT_SSRC, 102, 3000);
    const gate = new ViewGate(rw, 'h264', () => {});
    through(gate, rw, [h264(1, true)]);
    gate.setHidden(true);
    gate.setHidden(false);
    assert.deepEqual(
      through(gate, rw, [h264(2, false), h264(3, true), h264(4, false)]).map(([seq]) => seq),
      [2, 3],
    );
  });
});
