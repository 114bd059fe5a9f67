/**
 * Loss recovery and reports, with exact packets in and out: the NACK generator (publisher
 * leg), the NACK responder (subscriber leg), reception statistics for receiver reports,
 * sender-report translation, and the RTCP builders and readers they use.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  forEachNack,
  newReportBlock,
  newSenderInfo,
  RtpHeader,
  readReportBlock,
  readSenderReport,
  writeNack,
  writePli,
  writeReceiverReport,
  writeRemb,
  writeSenderReport,
} from 'weever-rtp';
import { NackGenerator } from '../../src/media/stages/nack-generator.js';
import { NackResponder } from '../../src/media/stages/nack-responder.js';
import { Reception } from '../../src/media/stages/reception.js';
import { RtpRewriter } from '../../src/media/stages/rewriter.js';
import { RtxUnwrapper } from '../../src/media/stages/rtx.js';
import { SenderReports } from '../../src/media/stages/sender-reports.js';
import { rtpPacket } from '../helpers/rtp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SSRC = 0x11223344;

/** A clock the test moves. */
function clock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function feed(stage: { onRtp(p: Buffer, h: RtpHeader): boolean }, seq: number, ts = seq * 3000, ssrc = SSRC) {
  const p = rtpPacket({ seq, ts, ssrc });
  const h = new RtpHeader();
  assert.equal(h.read(p), true);
  stage.onRtp(p, h);
  return p;
}

describe('RTCP builders and readers', () => {
  it('writeNack packs runs of 17 into PID + bitmask FCIs; forEachNack reads them back', () => {
    const b = Buffer.alloc(64);
    const seqs = Uint16Array.from([100, 101, 103, 116, 117, 200]);
    const len = writeNack(b, 0, 0xaaaaaaaa, SSRC, seqs, seqs.length);
    // 100 with bits for 101 (bit 0), 103 (bit 2), 116 (bit 15); then 117 alone; then 200
    assert.deepEqual(b.subarray(0, len), hex('81 cd 0005 aaaaaaaa 11223344  0064 8005  0075 0000  00c8 0000'));
    const got: number[] = [];
    forEachNack(b.subarray(0, len), SSRC, (s) => got.push(s));
    assert.deepEqual(got, [100, 101, 103, 116, 117, 200]);
    forEachNack(b.subarray(0, len), 0x99, () => assert.fail('another SSRC'));
  });

  it('a NACK across the 16-bit wrap', () => {
    const b = Buffer.alloc(32);
    const len = writeNack(b, 0, 1, SSRC, Uint16Array.from([65535, 0, 1]), 3);
    assert.deepEqual(b.subarray(0, len), hex('81 cd 0003 00000001 11223344 ffff 0003'));
  });

  it('PLI, REMB, RR and SR have the RFC layouts', () => {
    const b = Buffer.alloc(64);
    assert.deepEqual(b.subarray(0, writePli(b, 0, 1, SSRC)), hex('81 ce 0002 00000001 11223344'));
    // 2 500 000 bps = 156250 (0x2625a) × 2^4
    assert.deepEqual(b.subarray(0, writeRemb(b, 0, 1, 2_500_000, SSRC)), hex('8f ce 0005 00000001 00000000 52454d42 01 12 625a 11223344'));
    const block = { ssrc: SSRC, fraction: 12, lost: 3, extHighestSeq: 0x1_0005, jitter: 90, lsr: 0x12345678, dlsr: 0x8000 };
    const rr = b.subarray(0, writeReceiverReport(b, 0, 7, block));
    assert.deepEqual(rr, hex('81 c9 0007 00000007 11223344 0c 000003 00010005 0000005a 12345678 00008000'));
    const back = newReportBlock();
    assert.equal(readReportBlock(rr, SSRC, back), true);
    assert.deepEqual(back, block);
    assert.equal(readReportBlock(rr, 0x99, back), false);
    const sr = { ssrc: SSRC, ntpSec: 0xe0000001, ntpFrac: 0x80000000, rtpTs: 3000, packets: 10, octets: 1000 };
    const srPacket = Buffer.from(b.subarray(0, writeSenderReport(b, 0, sr)));
    assert.deepEqual(srPacket, hex('80 c8 0006 11223344 e0000001 80000000 00000bb8 0000000a 000003e8'));
    const info = newSenderInfo();
    assert.equal(readSenderReport(Buffer.concat([srPacket, hex('81 ca 0001 11223344')]), info), true);
    assert.deepEqual(info, sr);
  });

  it('readers stop at a sub-packet whose length runs past the end', () => {
    const bad = hex('81 cd 00ff aaaaaaaa 11223344 0064 0000');
    forEachNack(bad, SSRC, () => assert.fail('read past the end'));
    assert.equal(readSenderReport(hex('80 c8 0006 11223344'), newSenderInfo()), false);
  });
});

describe('NackGenerator (publisher leg)', () => {
  function generator(giveUpMs = 1000) {
    const c = clock();
    const sent: number[][] = [];
    let gaveUp = 0;
    const g = new NackGenerator({ send: (seqs, n) => sent.push([...seqs.subarray(0, n)]), giveUp: () => gaveUp++, giveUpMs, now: c.now });
    return { g, c, sent, gaveUp: () => gaveUp };
  }

  it('NACKs a gap at once, retries after the RTT, and a late packet fills it', () => {
    const { g, c, sent } = generator();
    g.retryMs = 50;
    feed(g, 10);
    feed(g, 11);
    feed(g, 14); // 12 and 13 lost
    assert.deepEqual(sent, [[12, 13]]);
    assert.equal(g.missing, 2);
    c.t += 20;
    g.tick();
    assert.deepEqual(sent.length, 1, 'not again within the RTT');
    feed(g, 12); // the retransmission of 12
    assert.equal(g.recovered, 1);
    c.t += 40;
    g.tick();
    assert.deepEqual(sent, [[12, 13], [13]]);
    assert.equal(g.requested, 3);
  });

  it('tells its owner when packets go missing (the retry timer runs only then), not on in-order or late packets', () => {
    const c = clock();
    let told = 0;
    const g = new NackGenerator({ send: () => {}, giveUp: () => {}, now: c.now, onMissing: () => told++ });
    feed(g, 10);
    feed(g, 11);
    feed(g, 12);
    assert.equal(told, 0, 'no gap, no timer');
    feed(g, 14); // 13 lost
    assert.equal(told, 1);
    assert.equal(g.missing, 1);
    feed(g, 13); // its retransmission
    feed(g, 15);
    assert.equal(told, 1, 'a late packet and in-order ones: nothing new missing');
    assert.equal(g.missing, 0);
  });

  it('gives up after giveUpMs and asks for a keyframe instead', () => {
    const { g, c, sent, gaveUp } = generator(1000);
    g.retryMs = 400;
    feed(g, 1);
    feed(g, 3);
    c.t += 400;
    g.tick();
    c.t += 400;
    g.tick();
    assert.deepEqual(sent, [[2], [2], [2]]);
    c.t += 201;
    g.tick();
    assert.equal(gaveUp(), 1);
    assert.equal(g.missing, 0);
    assert.equal(g.gaveUp, 1);
  });

  it('works across the sequence-number wrap', () => {
    const { g, sent } = generator();
    feed(g, 65534);
    feed(g, 1); // 65535 and 0 lost
    assert.deepEqual(sent, [[65535, 0]]);
    feed(g, 0);
    feed(g, 65535);
    assert.equal(g.missing, 0);
    assert.equal(g.recovered, 2);
  });

  it('a huge jump is not NACKed packet by packet: a keyframe is asked for', () => {
    const { g, sent, gaveUp } = generator();
    feed(g, 100);
    feed(g, 1000);
    assert.deepEqual(sent, []);
    assert.equal(gaveUp(), 1);
  });

  it('a gap after more than a second without packets (a path outage) asks for a keyframe at once, no NACKs', () => {
    const { g, c, sent, gaveUp } = generator();
    feed(g, 100);
    c.t += 1001;
    feed(g, 101); // silence, but nothing lost: nothing to do
    assert.equal(gaveUp(), 0);
    c.t += 3000;
    feed(g, 250); // 3 s of packets missing (148 of them, under the huge-jump limit)
    assert.deepEqual(sent, []);
    assert.equal(gaveUp(), 1);
    assert.equal(g.missing, 0);
    c.t += 20;
    feed(g, 252); // ordinary loss right after: NACKed as usual
    assert.deepEqual(sent, [[251]]);
  });

  it('a new SSRC starts over', () => {
    const { g, sent } = generator();
    feed(g, 100);
    feed(g, 102);
    feed(g, 5000, 0, 0x55);
    feed(g, 5001, 0, 0x55);
    assert.deepEqual(sent, [[101]]);
    assert.equal(g.missing, 0);
  });
});

describe('NackResponder (subscriber leg)', () => {
  function responder() {
    const c = clock();
    const out: Buffer[] = [];
    const r = new NackResponder((p) => out.push(Buffer.from(p)), c.now);
    r.reset(0xcafebabe);
    return { r, c, out };
  }
  const nack = (...seqs: number[]) => {
    const b = Buffer.alloc(64);
    return b.subarray(0, writeNack(b, 0, 1, 0xcafebabe, Uint16Array.from(seqs), seqs.length));
  };

  it('resends exactly what was sent, once per round trip', () => {
    const { r, c, out } = responder();
    const sent = [feed(r, 7, 0, 0xcafebabe), feed(r, 8, 0, 0xcafebabe), feed(r, 9, 0, 0xcafebabe)];
    c.t += 30;
    r.onRtcp(nack(8));
    assert.deepEqual(out, [sent[1]]);
    r.onRtcp(nack(8)); // again within the RTT (unknown: 20 ms): refused
    assert.equal(out.length, 1);
    assert.equal(r.throttled, 1);
    c.t += 25;
    r.rttMs = 10;
    r.onRtcp(nack(8, 9));
    assert.deepEqual(out, [sent[1], sent[1], sent[2]]);
    assert.equal(r.resent, 3);
  });

  it('what fell out of the history, or was never sent, is missed; history wraps by slot', () => {
    const { r, c, out } = responder();
    for (let s = 0; s < 300; s++) feed(r, s, 0, 0xcafebabe);
    c.t += 100;
    r.onRtcp(nack(10)); // slot 10 now holds 266
    r.onRtcp(nack(5000));
    assert.equal(out.length, 0);
    assert.equal(r.missed, 2);
    r.onRtcp(nack(266));
    assert.equal(out[0]!.readUInt16BE(2), 266);
  });

  it('NACKs for another SSRC are not ours', () => {
    const { r, c, out } = responder();
    feed(r, 1, 0, 0xcafebabe);
    c.t += 100;
    const b = Buffer.alloc(16);
    r.onRtcp(b.subarray(0, writeNack(b, 0, 1, 0x99, Uint16Array.from([1]), 1)));
    assert.equal(out.length, 0);
  });

  it('bounds the bytes resent per second', () => {
    const { r, c, out } = responder();
    // 100 packets of 1200 bytes: 120 kB in the first second, so the next second allows max(64 kB, 60 kB)
    for (let s = 0; s < 100; s++) r.onRtp(rtpPacket({ seq: s, ts: 0, ssrc: 0xcafebabe, payload: 1188 }), new RtpHeader());
    c.t += 1001;
    const all = Array.from({ length: 100 }, (_, i) => i);
    r.onRtcp(nack(...all));
    assert.equal(out.length, Math.floor((64 * 1024) / 1200));
    assert.equal(r.throttled, 100 - out.length);
  });
});

describe('Reception (receiver reports to the publisher)', () => {
  it('counts loss in the interval and in all, the extended sequence number and jitter', () => {
    const c = clock(0);
    const r = new Reception(90000, c.now);
    const block = newReportBlock();
    assert.equal(r.fill(block), false, 'nothing received');
    // one packet per 10 ms with matching timestamps: no jitter
    for (const seq of [65530, 65531, 65533, 65534, 0, 1]) {
      const ts = ((seq < 100 ? seq + 65536 : seq) - 65530) * 900;
      c.t = (ts / 90000) * 1000;
      feed(r, seq, ts);
    }
    assert.equal(r.fill(block), true);
    assert.deepEqual(
      { ...block },
      { ssrc: SSRC, fraction: Math.floor((2 * 256) / 8), lost: 2, extHighestSeq: 0x10001, jitter: 0, lsr: 0, dlsr: 0 },
    );
    feed(r, 2, 8 * 900);
    r.onSenderReport(0x00010002);
    c.t += 500;
    r.fill(block);
    assert.equal(block.fraction, 0, 'nothing lost since the last report');
    assert.equal(block.lost, 2);
    assert.equal(block.lsr, 0x00010002);
    assert.equal(block.dlsr, 0x8000, 'half a second in 1/65536 s');
  });
});

describe('SenderReports (towards a subscriber)', () => {
  it('translates the publisher SR to our SSRC and rewritten timestamp, and measures the RTT from the RR', () => {
    const c = clock();
    const out: Buffer[] = [];
    const rewriter = new RtpRewriter(0xcafebabe, 96, 3000);
    const counts = { packets: 0, bytes: 0 };
    const s = new SenderReports(0xcafebabe, rewriter, counts, (p) => out.push(Buffer.from(p)), c.now);
    const b = Buffer.alloc(28);
    const sr = { ssrc: SSRC, ntpSec: 0xe0000001, ntpFrac: 0x40000000, rtpTs: 90000, packets: 5, octets: 500 };
    writeSenderReport(b, 0, sr);
    s.onSourceReport(b);
    assert.equal(out.length, 0, 'nothing before the rewriter knows the source');
    // the stream was rewritten: a previous source left the offset at +3000 for this one
    rewriter.onRtp(rtpPacket({ seq: 1, ts: 1000, ssrc: 0x77 }), header(rtpPacket({ seq: 1, ts: 1000, ssrc: 0x77 })));
    const first = rtpPacket({ seq: 50, ts: 90000, ssrc: SSRC });
    rewriter.onRtp(first, header(rtpPacket({ seq: 50, ts: 90000, ssrc: SSRC })));
    counts.packets = 2;
    counts.bytes = 32;
    s.onSourceReport(b);
    // rtp ts: 90000 + (1000 + 3000 - 90000) = 4000
    assert.deepEqual(out, [hex('80 c8 0006 cafebabe e0000001 40000000 00000fa0 00000002 00000020')]);
    writeSenderReport(b, 0, { ...sr, ssrc: 0x99 });
    s.onSourceReport(b);
    assert.equal(out.length, 1, 'an SR of another source is not ours to send');
    // the subscriber answers 30 ms later, having held the SR for 10 ms (655 / 65536 s)
    c.t += 30;
    const rb = Buffer.alloc(32);
    writeReceiverReport(rb, 0, 5, { ssrc: 0xcafebabe, fraction: 0, lost: 0, extHighestSeq: 2, jitter: 0, lsr: 0x00014000, dlsr: 655 });
    s.onRtcp(rb);
    assert.ok(Math.abs(s.rttMs - 20) < 0.1, `rtt ${s.rttMs}`);
  });

  it("answers the subscriber's XR RRTR at once with a DLRR block (its own round trip)", () => {
    const out: Buffer[] = [];
    const s = new SenderReports(0xcafebabe, new RtpRewriter(0xcafebabe, 96, 3000), { packets: 0, bytes: 0 }, (p) =>
      out.push(Buffer.from(p)),
    );
    // a compound as Chromium sends it: RR (no block), then XR from its SSRC 1 with an RRTR of NTP e0000001.40000000
    const rr = hex('81 c9 0001 00000001');
    const xr = hex('80 cf 0004 00000001  04 00 0002 e0000001 40000000');
    s.onRtcp(Buffer.concat([rr, xr]));
    // DLRR from our SSRC about receiver 1: LRR = middle 32 bits 00014000, delay 0
    assert.deepEqual(out, [hex('80 cf 0005 cafebabe  05 00 0003 00000001 00014000 00000000')]);
    assert.equal(s.dlrrSent, 1);
    // other XR blocks (e.g. DLRR, VoIP metrics) and plain RRs are not answered
    s.onRtcp(hex('80 cf 0005 00000001  05 00 0003 00000002 00014000 00000000'));
    s.onRtcp(rr);
    assert.equal(out.length, 1);
  });
});

function header(p: Buffer): RtpHeader {
  const h = new RtpHeader();
  h.read(p);
  return h;
}

describe('RtxUnwrapper (RTX from publishers, RFC 4588)', () => {
  const unwrap = (packet: string, primary = SSRC) => {
    const p = hex(packet);
    const h = new RtpHeader();
    assert.equal(h.read(p), true);
    const u = new RtxUnwrapper(97, 96);
    const out = u.unwrap(p, h, primary);
    return { out: out && Buffer.from(out), h, u };
  };

  it('puts back the original sequence number, payload type and SSRC, and drops the OSN', () => {
    // RTX: PT 97, seq 0x5000, SSRC 0x22222222, payload OSN 0x0103 then the original payload
    const { out, h, u } = unwrap('80 61 5000 00000a0b 22222222 0103 deadbeef');
    assert.deepEqual(out, hex('80 60 0103 00000a0b 11223344 deadbeef'));
    assert.deepEqual([h.seq, h.ssrc, h.payloadType, h.rtcp], [0x0103, SSRC, 96, false], 'the header is read again');
    assert.equal(u.unwrapped, 1);
  });

  it('keeps the marker bit, CSRCs and the header extension', () => {
    // M bit, X bit, one-byte extension (0xBEDE, 1 word: id 3, len 1, value 0x5a + padding)
    const { out } = unwrap('90 e1 5000 00000a0b 22222222 bede0001 305a0000 0104 cafe');
    assert.deepEqual(out, hex('90 e0 0104 00000a0b 11223344 bede0001 305a0000 cafe'));
  });

  it('drops padding-only RTX (bandwidth probes) and RTX before the primary stream is known', () => {
    assert.equal(unwrap('a0 61 5001 00000a0b 22222222 00000004').out, undefined);
    const { out, u } = unwrap('80 61 5000 00000a0b 22222222 0103 deadbeef', 0);
    assert.equal(out, undefined);
    assert.equal(u.dropped, 1);
  });
});
