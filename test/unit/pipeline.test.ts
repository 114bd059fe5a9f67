/**
 * The per-track pipeline with exact packets in and out: UpTrack and DownTrack over a fake
 * engine track, and their stages. No engine, no network.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newSenderInfo, ntpMiddle, RtpHeader, readSenderReport, writeReceiverReport, writeSenderReport } from 'weever-rtp';
import type { PacketSink, TrackSender } from '../../src/bus/bus.js';
import { RtcpChain, RtpChain, type RtpStage } from '../../src/media/chain.js';
import { DownTrack, DownTrackState } from '../../src/media/down-track.js';
import { Downlink } from '../../src/media/downlink.js';
import type { Track } from '../../src/media/engine.js';
import { KeyframeThrottle } from '../../src/media/keyframes.js';
import { KeyframeRequestReader } from '../../src/media/stages/keyframe-requests.js';
import { ReceiveStats } from '../../src/media/stages/receive-stats.js';
import { UpTrack } from '../../src/media/up-track.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// V=2 PT=100 seq=0x0102 ts=0x00000a0b ssrc=0x11223344, payload de ad be ef
const IN = ' 80 64 0102 00000a0b 11223344 deadbeef';
// the same after a DownTrack with ssrc 0xcafebabe, PT 96: first packet keeps seq/ts
const OUT = '80 60 0102 00000a0b cafebabe deadbeef';
// padding only: P bit, 4 bytes of padding, the last byte says 4
const PADDING = 'a0 64 0103 00000a0b 11223344 00000004';
// PLI (PSFB FMT 1) from sender 0x01020304 for media 0xcafebabe
const PLI = '81 ce 0002 01020304 cafebabe';
// PLI for another SSRC
const PLI_OTHER = '81 ce 0002 01020304 0badf00d';
// FIR (PSFB FMT 4), FCI: ssrc 0xcafebabe, seq 1
const FIR = '84 ce 0004 01020304 00000000 cafebabe 01000000';

/** A stand-in for an engine track: records what is sent, lets the test open it and deliver RTCP. */
class FakeTrack {
  open = false;
  sent: Buffer[] = [];
  keyframeRequests = 0;
  bitrates: number[] = [];
  closed = false;
  onMessageCb: ((b: Buffer) => void) | undefined;
  onOpenCb: (() => void) | undefined;
  isOpen() {
    return this.open;
  }
  sendMessageBinary(b: Buffer) {
    this.sent.push(Buffer.from(b));
    return true;
  }
  onMessage(cb: (b: Buffer) => void) {
    this.onMessageCb = cb;
  }
  onOpen(cb: () => void) {
    this.onOpenCb = cb;
  }
  requestKeyframe() {
    this.keyframeRequests++;
    return true;
  }
  requestBitrate(bps: number) {
    this.bitrates.push(bps);
  }
  close() {
    this.closed = true;
  }
  /** the engine opens the track */
  opens() {
    this.open = true;
    this.onOpenCb?.();
  }
}

const asTrack = (t: FakeTrack) => t as unknown as Track;

/** A DownTrack on a fake track, bound to one subject whose sink the test drives. */
function downTrack() {
  const fake = new FakeTrack();
  let rtcp = 0;
  const down = new DownTrack('1', 'video', asTrack(fake), () => rtcp++);
  const requests: string[] = [];
  const sinks: PacketSink[] = [];
  const bindTo = (trackId: string, ssrc = 0xcafebabe, continueNumbering = false) => {
    down.bind({
      pub: 'a+1',
      info: { kind: 'video', trackId },
      subject: `rtc.r.a+1.video.${trackId}`,
      ssrc,
      payloadType: 96,
      keyframes: new KeyframeThrottle(() => requests.push(trackId), 0),
      subscribe: (sink) => {
        sinks.push(sink);
        return () => sinks.splice(sinks.indexOf(sink), 1);
      },
      continueNumbering,
    });
  };
  /** a publisher packet through the bus to every sink, as the sender does: header read once */
  const publish = (packetHex: string) => {
    const p = hex(packetHex);
    const h = new RtpHeader();
    assert.equal(h.read(p), true);
    for (const s of [...sinks]) s.onPacket(p, h);
  };
  return { fake, down, requests, sinks, bindTo, publish, rtcpCount: () => rtcp };
}

describe('DownTrack', () => {
  it('forwards only once answered AND open, then rewrites exactly and asks for a keyframe', () => {
    const { fake, down, requests, bindTo, publish } = downTrack();
    bindTo('video0');
    assert.equal(down.state, DownTrackState.Offered);
    publish(IN);
    assert.equal(fake.sent.length, 0, 'nothing before the answer');
    down.enable();
    assert.equal(down.state, DownTrackState.Opening);
    publish(IN);
    assert.equal(fake.sent.length, 0, 'nothing before the track is open');
    fake.opens();
    assert.equal(down.state, DownTrackState.Forwarding);
    assert.deepEqual(requests, ['video0'], 'a new viewer asks for a keyframe at once');
    publish(IN);
    assert.deepEqual(fake.sent, [hex(OUT)]);
    assert.equal(down.packets, 1);
    assert.equal(down.bytes, 16);
  });

  it('the round trip from the subscriber’s receiver report (LSR/DLSR of our SR) reaches the downlink estimator', () => {
    const { fake, down, bindTo, publish } = downTrack();
    const downlink = new Downlink(
      () => [down],
      () => undefined,
    );
    down.downlink = downlink;
    bindTo('video0');
    down.enable();
    fake.opens();
    publish(IN);
    // the publisher's SR, about the source we rewrite, goes out translated (our SSRC)
    const sr = Buffer.alloc(28);
    writeSenderReport(sr, 0, { ...newSenderInfo(), ssrc: 0x11223344, ntpSec: 0x12345678, ntpFrac: 0x9abc0000, rtpTs: 0xa0b });
    publish(sr.toString('hex'));
    const out = newSenderInfo();
    assert.ok(readSenderReport(fake.sent.at(-1)!, out), 'our SR went out');
    assert.equal(out.ssrc, 0xcafebabe);
    // the subscriber answers 5 ms later with no delay of its own
    const until = performance.now() + 5;
    while (performance.now() < until) {
      // wait
    }
    const rr = Buffer.alloc(32);
    writeReceiverReport(rr, 0, 0x01020304, {
      ssrc: 0xcafebabe,
      fraction: 0,
      lost: 0,
      extHighestSeq: 0x0102,
      jitter: 0,
      lsr: ntpMiddle(out.ntpSec, out.ntpFrac),
      dlsr: 0,
    });
    assert.equal(downlink.estimator.rttMs, 0);
    fake.onMessageCb!(rr);
    assert.ok(downlink.estimator.rttMs >= 5 && downlink.estimator.rttMs < 100, `estimator RTT ${downlink.estimator.rttMs} ms`);
  });

  it('reads PLI and FIR for its SSRC from the subscriber as keyframe requests; other SSRCs are ignored', () => {
    const { fake, down, requests, bindTo, rtcpCount } = downTrack();
    fake.onMessageCb!(hex(PLI));
    assert.equal(rtcpCount(), 0, 'RTCP on an idle m-line says nothing about liveness');
    bindTo('video0');
    fake.onMessageCb!(hex(PLI));
    fake.onMessageCb!(hex(PLI_OTHER));
    fake.onMessageCb!(hex(FIR));
    assert.deepEqual(requests, ['video0', 'video0']);
    assert.equal(rtcpCount(), 3);
    down.unbind();
    assert.equal(down.state, DownTrackState.Idle);
  });

  it('after unbind nothing is forwarded and the subscription is gone', () => {
    const { fake, down, sinks, bindTo, publish } = downTrack();
    bindTo('video0');
    down.enable();
    fake.opens();
    down.unbind();
    assert.equal(sinks.length, 0);
    publish(IN);
    assert.equal(fake.sent.length, 0);
  });

  it('a WHEP m-line continues the RTP numbering of its previous track', () => {
    const { fake, down, bindTo, publish } = downTrack();
    fake.open = true;
    bindTo('video0');
    down.enable();
    publish(IN);
    down.unbind();
    bindTo('video1', 0xcafebabe, true);
    down.enable();
    // the new source starts at seq 0x9000, ts 0x00100000, SSRC 0x55667788
    publish('80 64 9000 00100000 55667788 deadbeef');
    assert.deepEqual(fake.sent, [hex(OUT), hex('80 60 0103 000015c3 cafebabe deadbeef')], 'seq +1, ts + one 30 fps frame (3000)');
  });

  it('close closes every engine handle of the m-line', () => {
    const { fake, down } = downTrack();
    const second = new FakeTrack();
    down.handles.push(asTrack(second));
    down.close();
    assert.equal(fake.closed && second.closed, true);
  });
});

describe('UpTrack', () => {
  function upTrack(rtx?: { payloadType: number; apt: number }) {
    const fake = new FakeTrack();
    const out: { packet: string; seq: number }[] = [];
    let closed = false;
    const sender: TrackSender = {
      send: (p, h) => out.push({ packet: p.toString('hex'), seq: h.seq }),
      close: () => {
        closed = true;
      },
    };
    let flowing = 0;
    let kfHandler: (() => void) | undefined;
    const up = new UpTrack({
      info: { kind: 'video', trackId: 'video0' },
      mid: '0',
      subject: 'rtc.r.a+1.video.video0',
      track: asTrack(fake),
      sender,
      localSsrc: 0x0a0b0c0d,
      payloadType: 0x64,
      ...(rtx ? { rtx } : {}),
      onFlowing: () => flowing++,
      onKeyframeRequest: (_s, h) => {
        kfHandler = h;
        return () => {
          kfHandler = undefined;
        };
      },
    });
    return { fake, up, out, flowing: () => flowing, kf: () => kfHandler, closed: () => closed };
  }

  it('passes RTP unchanged to the bus with its header, counts it, and says flowing once', () => {
    const { up, out, flowing } = upTrack();
    up.onPacket(hex(IN));
    up.onPacket(hex(IN));
    assert.deepEqual(out, [
      { packet: hex(IN).toString('hex'), seq: 0x0102 },
      { packet: hex(IN).toString('hex'), seq: 0x0102 },
    ]);
    assert.equal(up.packets, 2);
    assert.equal(up.stats.bytes, 32);
    assert.equal(flowing(), 1);
  });

  it('forwards padding-only probes without counting them; drops what is not RTP', () => {
    const { up, out, flowing } = upTrack();
    up.onPacket(hex(PADDING));
    up.onPacket(hex('40 64 0102')); // version 1, and short
    assert.equal(out.length, 1);
    assert.equal(up.packets, 0);
    assert.equal(flowing(), 0);
  });

  it('answers keyframe requests from the bus with a PLI for its source, only once the track is open', () => {
    const { fake, up, kf } = upTrack();
    fake.open = true;
    kf()!();
    assert.equal(fake.sent.length, 0, 'no source yet: nothing to name in a PLI');
    up.end();
    const t = upTrack();
    t.up.onPacket(hex(IN));
    t.kf()!();
    assert.equal(t.fake.sent.length, 0, 'the track is not open: the engine would throw');
    t.fake.open = true;
    t.up.requestBitrate(0); // any RTCP now goes out; a REMB of 0 is not added
    assert.deepEqual(t.fake.sent, [hex('81 c9 0007 0a0b0c0d 11223344 00 000000 00000102 00000000 00000000 00000000')]);
    t.up.end();
  });

  it('NACKs a gap on video at once, and forwards the SR of its source on the bus', () => {
    const { fake, up, out } = upTrack();
    fake.open = true;
    up.onPacket(hex(IN)); // seq 0x0102
    up.onPacket(hex('80 64 0105 00000a0b 11223344 deadbeef')); // 0x0103 and 0x0104 lost
    assert.deepEqual(fake.sent, [hex('81 cd 0003 0a0b0c0d 11223344 0103 0001')]);
    // an SR + SDES compound from the publisher: the SR goes on, alone, beside the RTP
    up.onPacket(hex('80 c8 0006 11223344 e0000001 80000000 00000a0b 00000002 00000008  81 ca 0001 11223344'));
    assert.equal(out.at(-1)?.packet, hex('80 c8 0006 11223344 e0000001 80000000 00000a0b 00000002 00000008').toString('hex'));
    up.onPacket(hex('80 c8 0006 99999999 e0000001 80000000 00000a0b 00000002 00000008'));
    assert.equal(out.length, 3, 'the SR of another SSRC is not this track’s');
    up.end();
  });

  it('an RTX retransmission fills the NACKed gap and reaches the bus as the original packet', () => {
    const { fake, up, out } = upTrack({ payloadType: 97, apt: 100 });
    fake.open = true;
    up.onPacket(hex(IN)); // seq 0x0102
    up.onPacket(hex('80 64 0104 00000a0b 11223344 deadbeef')); // 0x0103 lost
    assert.equal(up.nack!.missing, 1);
    up.onPacket(hex('80 61 7000 00000a0b 55555555 0103 cafebabe'));
    assert.equal(up.nack!.missing, 0);
    assert.equal(up.nack!.recovered, 1);
    assert.deepEqual(out.at(-1), { packet: hex('80 64 0103 00000a0b 11223344 cafebabe').toString('hex'), seq: 0x0103 });
    up.end();
  });

  it('drops malformed RTP and foreign payload types before any stage, counted by reason', () => {
    const { up, out } = upTrack();
    up.onPacket(hex('8f 64 0102 00000a0b 11223344 deadbeef')); // 15 CSRCs in 4 bytes
    up.onPacket(hex('90 64 0102 00000a0b 11223344 bede0009 deadbeef')); // extension of 9 words in 4 bytes
    up.onPacket(hex('a0 64 0102 00000a0b 11223344 dead00ff')); // 255 bytes of padding in 4
    up.onPacket(Buffer.concat([hex(IN), Buffer.alloc(1500)])); // over any path MTU
    up.onPacket(hex('80 6f 0102 00000a0b 11223344 deadbeef')); // PT 111: not negotiated here
    assert.equal(out.length, 0);
    assert.deepEqual(up.sanity.drops, { csrc: 1, extension: 1, padding: 1, size: 1, payloadType: 1 });
    assert.equal(up.packets, 0);
    up.end();
  });

  it('a stray packet on another SSRC changes nothing; a new SSRC takes over once the old one is silent', async () => {
    const { fake, up, out } = upTrack();
    fake.open = true;
    up.onPacket(hex(IN));
    up.onPacket(hex('80 64 7000 00000a0b 99999999 deadbeef')); // stray
    up.onPacket(hex('80 64 0103 00000a0b 11223344 deadbeef'));
    assert.deepEqual(
      out.map((o) => o.seq),
      [0x0102, 0x0103],
    );
    assert.equal(up.source.dropped, 1);
    await new Promise((r) => setTimeout(r, 350)); // the old SSRC silent for longer than the switch delay
    up.onPacket(hex('80 64 7001 00000a0b 99999999 deadbeef'));
    assert.equal(up.source.active, 0x99999999);
    assert.equal(out.at(-1)?.seq, 0x7001);
    assert.equal(up.source.switches, 1);
    up.end();
  });

  it('end stops forwarding, closes the sender and the keyframe subscription', () => {
    const { up, out, kf, closed } = upTrack();
    up.end();
    up.onPacket(hex(IN));
    assert.equal(out.length, 0);
    assert.equal(closed(), true);
    assert.equal(kf(), undefined);
  });
});

describe('chains and stages', () => {
  it('RtpChain runs stages in order and stops at the first that drops', () => {
    const seen: string[] = [];
    const stage = (name: string, pass: boolean): RtpStage => ({
      onRtp: () => {
        seen.push(name);
        return pass;
      },
    });
    const chain = new RtpChain([stage('a', true), stage('b', false), stage('c', true)]);
    const h = new RtpHeader();
    assert.equal(chain.onRtp(hex(IN), h), false);
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('RtcpChain gives each packet to every reader', () => {
    const got: number[] = [];
    new RtcpChain([{ onRtcp: (p) => got.push(p.length) }, { onRtcp: (p) => got.push(p[1]!) }]).onRtcp(hex(PLI));
    assert.deepEqual(got, [12, 0xce]);
  });

  it('KeyframeRequestReader asks through its throttle', () => {
    let n = 0;
    const reader = new KeyframeRequestReader(0xcafebabe, new KeyframeThrottle(() => n++, 0));
    reader.onRtcp(hex(PLI));
    reader.onRtcp(hex(PLI_OTHER));
    assert.equal(n, 1);
  });

  it('ReceiveStats notices silence only after the stream flowed', () => {
    const s = new ReceiveStats(() => {});
    assert.equal(s.silentFor(0, 1000), false);
    assert.equal(s.silentFor(5000, 1000), false, 'never flowed: not silent');
    const h = new RtpHeader();
    const p = hex(IN);
    h.read(p);
    s.onRtp(p, h);
    assert.equal(s.silentFor(6000, 1000), false, 'moved since the last look');
    assert.equal(s.silentFor(6500, 1000), false);
    assert.equal(s.silentFor(7100, 1000), true);
  });
});
