/**
 * RTP header extensions (RFC 8285) from a publisher to subscribers, with exact packets in
 * and out: reading the elements once (weever-rtp), the per-subscriber id remap and drop
 * (HeaderExtensionMapper) on one shared buffer, the DownTrack chain, and what carries a
 * track's extension ids (SDP, room events, the Redis media value).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mediaValue, parseMediaHash, parseRoomEvent, type TrackInfo } from 'weever-protocol';
import { ExtensionForm, RtpHeader, readExtensions, withExtensions } from 'weever-rtp';
import { DownTrack } from '../../src/media/down-track.js';
import type { Track } from '../../src/media/engine.js';
import {
  acceptedExtensions,
  EXT_ABS_SEND_TIME,
  EXT_AUDIO_LEVEL,
  EXT_TRANSPORT_CC,
  EXT_VIDEO_ORIENTATION,
  extensionsByMid,
  forwardedExtensions,
  type HeaderExtension,
  subscriberExtensions,
} from '../../src/media/sdp.js';
import { HeaderExtensionMapper } from '../../src/media/stages/header-extensions.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const show = (b: Buffer) => b.toString('hex');

const MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
// V=2 X=1 PT=96 seq=0x0102 ts=0x00000a0b ssrc=0x11223344
const HDR = '90 60 0102 00000a0b 11223344';
const PAYLOAD = 'deadbeef';

// The publisher (not Chromium's ids): video-orientation 7, mid 9, abs-send-time 2.
const PUB: Record<string, number> = { [EXT_VIDEO_ORIENTATION]: 7, [MID]: 9, [EXT_ABS_SEND_TIME]: 2 };
// One-byte form: [7: CVO 0x01 = 90°] [9: mid "0"] [2: abs-send-time aabbcc]
const ONE_BYTE = `${HDR} bede 0002 7001 9030 22aabbcc ${PAYLOAD}`;
// Two-byte form, the same elements, one byte of padding at the end
const TWO_BYTE = `${HDR} 1000 0003 070101 090130 0203aabbcc 00 ${PAYLOAD}`;

/** Our offer's ids (sdp.ts): video-orientation 13, abs-send-time 2 — Chromium's. */
const OURS: HeaderExtension[] = subscriberExtensions('video');

function run(mapper: HeaderExtensionMapper, p: Buffer, h: RtpHeader): Buffer {
  assert.equal(mapper.onRtp(p, h), true);
  return p;
}

function packet(s: string): { p: Buffer; h: RtpHeader } {
  const p = hex(s);
  const h = new RtpHeader();
  assert.equal(h.read(p), true);
  return { p, h };
}

describe('RtpHeader.ext: the elements read once', () => {
  it('reads one-byte elements, skipping padding and stopping at id 15', () => {
    const { h } = packet(`${HDR} bede 0003 7001 0000 22aabbcc f1ff0000 ${PAYLOAD}`);
    assert.equal(h.ext.form, ExtensionForm.OneByte);
    assert.equal(h.ext.count, 2);
    assert.deepEqual([...h.ext.ids.subarray(0, 2)], [7, 2]);
    assert.deepEqual([...h.ext.offsets.subarray(0, 2)], [17, 21]);
    assert.deepEqual([...h.ext.lengths.subarray(0, 2)], [1, 3]);
  });

  it('reads two-byte elements, zero-length ones too', () => {
    const { h } = packet(`${HDR} 1000 0002 0700 00 0203aabbcc ${PAYLOAD}`);
    assert.equal(h.ext.form, ExtensionForm.TwoByte);
    assert.deepEqual([...h.ext.ids.subarray(0, h.ext.count)], [7, 2]);
    assert.deepEqual([...h.ext.lengths.subarray(0, h.ext.count)], [0, 3]);
  });

  it('a packet without extension, another profile, or elements past the block', () => {
    assert.equal(packet(`80 60 0102 00000a0b 11223344 ${PAYLOAD}`).h.ext.form, ExtensionForm.None);
    assert.equal(packet(`${HDR} abcd 0001 11223344 ${PAYLOAD}`).h.ext.form, ExtensionForm.Unreadable);
    assert.equal(packet(`${HDR} bede 0001 73aabbcc ${PAYLOAD}`).h.ext.form, ExtensionForm.Unreadable);
    assert.equal(packet(`${HDR} bede 0009 7001`).h.ext.form, ExtensionForm.Unreadable);
  });

  it('withExtensions / readExtensions (the clients’ helpers) agree', () => {
    const p = withExtensions(
      hex('80 60 0102 00000a0b 11223344'),
      [
        { id: 7, data: hex('01') },
        { id: 2, data: hex('aabbcc') },
      ],
      hex(PAYLOAD),
    );
    assert.equal(show(p), show(hex(`${HDR} bede 0002 7001 22aabbcc 0000 ${PAYLOAD}`)));
    const got = readExtensions(p);
    assert.equal(show(got.get(7)!), '01');
    assert.equal(show(got.get(2)!), 'aabbcc');
  });
});

describe('HeaderExtensionMapper', () => {
  it('one-byte: remaps 7 → 13, keeps 2, drops mid; the rest of the block is padding', () => {
    const { p, h } = packet(ONE_BYTE);
    run(new HeaderExtensionMapper(PUB, OURS), p, h);
    assert.equal(show(p), show(hex(`${HDR} bede 0002 d001 22aabbcc 0000 ${PAYLOAD}`)));
  });

  it('two-byte: the same in the two-byte form', () => {
    const { p, h } = packet(TWO_BYTE);
    run(new HeaderExtensionMapper(PUB, OURS), p, h);
    assert.equal(show(p), show(hex(`${HDR} 1000 0003 0d0101 0203aabbcc 00000000 ${PAYLOAD}`)));
  });

  it('one buffer, three subscribers in turn: each starts from the original elements', () => {
    const { p, h } = packet(ONE_BYTE);
    // a remapping subscriber, one with the publisher's ids (drops mid only), one that keeps everything
    const remap = new HeaderExtensionMapper(PUB, OURS);
    const sameIds = new HeaderExtensionMapper(PUB, [
      { id: 7, uri: EXT_VIDEO_ORIENTATION },
      { id: 2, uri: EXT_ABS_SEND_TIME },
    ]);
    const all = new HeaderExtensionMapper(PUB, [
      { id: 7, uri: EXT_VIDEO_ORIENTATION },
      { id: 9, uri: MID },
      { id: 2, uri: EXT_ABS_SEND_TIME },
    ]);
    assert.equal(show(run(remap, p, h)), show(hex(`${HDR} bede 0002 d001 22aabbcc 0000 ${PAYLOAD}`)));
    assert.equal(show(run(sameIds, p, h)), show(hex(`${HDR} bede 0002 7001 22aabbcc 0000 ${PAYLOAD}`)));
    assert.equal(show(run(all, p, h)), show(hex(ONE_BYTE)));
    assert.equal(show(run(remap, p, h)), show(hex(`${HDR} bede 0002 d001 22aabbcc 0000 ${PAYLOAD}`)));
    assert.equal(show(run(all, p, h)), show(hex(ONE_BYTE)));
  });

  it('unchanged for a subscriber with the publisher’s ids: no copy is made', () => {
    const { p, h } = packet(`${HDR} bede 0002 d001 22aabbcc 0000 ${PAYLOAD}`);
    run(new HeaderExtensionMapper({ [EXT_VIDEO_ORIENTATION]: 13, [EXT_ABS_SEND_TIME]: 2 }, OURS), p, h);
    assert.equal(show(p), show(hex(`${HDR} bede 0002 d001 22aabbcc 0000 ${PAYLOAD}`)));
    assert.equal(h.ext.saved, false);
  });

  it('padding bytes between elements are not elements', () => {
    const { p, h } = packet(`${HDR} bede 0003 7001 0000 22aabbcc 00000000 ${PAYLOAD}`);
    run(new HeaderExtensionMapper(PUB, OURS), p, h);
    assert.equal(show(p), show(hex(`${HDR} bede 0003 d001 22aabbcc 000000000000 ${PAYLOAD}`)));
  });

  it('no extension: the packet is untouched', () => {
    const { p, h } = packet(`80 60 0102 00000a0b 11223344 ${PAYLOAD}`);
    run(new HeaderExtensionMapper(PUB, OURS), p, h);
    assert.equal(show(p), show(hex(`80 60 0102 00000a0b 11223344 ${PAYLOAD}`)));
  });

  it('RTP padding (a padding-only probe with an extension): only the elements change', () => {
    const { p, h } = packet('b0 60 0103 00000a0b 11223344 bede 0001 7001 0000 00000004');
    assert.equal(h.paddingOnly, true);
    run(new HeaderExtensionMapper(PUB, OURS), p, h);
    assert.equal(show(p), show(hex('b0 60 0103 00000a0b 11223344 bede 0001 d001 0000 00000004')));
  });

  it('a publisher map unknown (an older instance): every element is dropped', () => {
    const { p, h } = packet(ONE_BYTE);
    run(new HeaderExtensionMapper(undefined, OURS), p, h);
    assert.equal(show(p), show(hex(`${HDR} bede 0002 0000 00000000 0000 ${PAYLOAD}`)));
  });

  it('an id the one-byte form cannot carry (> 14) is dropped there, kept in the two-byte form', () => {
    const sub = [
      { id: 20, uri: EXT_VIDEO_ORIENTATION },
      { id: 2, uri: EXT_ABS_SEND_TIME },
    ];
    const one = packet(ONE_BYTE);
    run(new HeaderExtensionMapper(PUB, sub), one.p, one.h);
    assert.equal(show(one.p), show(hex(`${HDR} bede 0002 22aabbcc 00000000 ${PAYLOAD}`)));
    const two = packet(TWO_BYTE);
    run(new HeaderExtensionMapper(PUB, sub), two.p, two.h);
    assert.equal(show(two.p), show(hex(`${HDR} 1000 0003 140101 0203aabbcc 00000000 ${PAYLOAD}`)));
  });

  it('an unreadable block is hidden behind profile 0', () => {
    const { p, h } = packet(`${HDR} bede 0001 73aabbcc ${PAYLOAD}`);
    run(new HeaderExtensionMapper(PUB, OURS), p, h);
    assert.equal(show(p), show(hex(`${HDR} 0000 0001 73aabbcc ${PAYLOAD}`)));
  });

  it('configure: the answer narrows what goes out', () => {
    const { p, h } = packet(ONE_BYTE);
    const m = new HeaderExtensionMapper(PUB, OURS);
    m.configure(PUB, [{ id: 13, uri: EXT_VIDEO_ORIENTATION }]);
    run(m, p, h);
    assert.equal(show(p), show(hex(`${HDR} bede 0002 d001 00000000 0000 ${PAYLOAD}`)));
  });
});

describe('DownTrack: the extension stage in the chain', () => {
  class FakeTrack {
    sent: Buffer[] = [];
    sendMessageBinary(b: Buffer): boolean {
      this.sent.push(Buffer.from(b));
      return true;
    }
    onMessage(): void {}
    onOpen(): void {}
    isOpen(): boolean {
      return true;
    }
    close(): void {}
  }

  it('two subscribers of one track: the SSRC/PT rewrite and each one’s ids', () => {
    const info: TrackInfo = {
      kind: 'video',
      trackId: 'video0',
      ext: forwardedExtensions([
        { id: 7, uri: EXT_VIDEO_ORIENTATION },
        { id: 2, uri: EXT_ABS_SEND_TIME },
      ])!,
    };
    const tracks = [new FakeTrack(), new FakeTrack()];
    const downs = tracks.map((t) => new DownTrack('1', 'video', t as unknown as Track, () => {}));
    const exts: HeaderExtension[][] = [OURS, [{ id: 7, uri: EXT_VIDEO_ORIENTATION }]];
    downs.forEach((d, i) => {
      d.bind({ pub: 'p+1', info, subject: 's', ssrc: 0xcafebabe, payloadType: 96, subscribe: () => () => {}, extensions: exts[i]! });
      d.enable();
    });
    const { p, h } = packet(ONE_BYTE);
    for (const d of downs) d.onPacket(p, h);
    assert.equal(show(tracks[0]!.sent[0]!), show(hex(`90 60 0102 00000a0b cafebabe bede 0002 d001 22aabbcc 0000 ${PAYLOAD}`)));
    assert.equal(show(tracks[1]!.sent[0]!), show(hex(`90 60 0102 00000a0b cafebabe bede 0002 7001 00000000 0000 ${PAYLOAD}`)));
  });
});

describe('what carries the ids', () => {
  it('the subscriber table: one id per URI over the bundle, transport-cc declared but never forwarded', () => {
    const audio = subscriberExtensions('audio');
    const video = subscriberExtensions('video');
    const byUri = new Map<string, number>();
    for (const e of [...audio, ...video]) {
      assert.equal(byUri.get(e.uri) ?? e.id, e.id, e.uri);
      byUri.set(e.uri, e.id);
    }
    assert.equal(new Set(byUri.values()).size, byUri.size);
    assert.deepEqual(
      audio.map((e) => e.uri),
      [EXT_AUDIO_LEVEL, EXT_ABS_SEND_TIME, EXT_TRANSPORT_CC],
    );
    assert.equal(byUri.get(EXT_VIDEO_ORIENTATION), 13);
    assert.equal(forwardedExtensions([{ id: 3, uri: EXT_TRANSPORT_CC }]), undefined);
    assert.deepEqual(
      forwardedExtensions([
        { id: 4, uri: MID },
        { id: 1, uri: EXT_AUDIO_LEVEL },
      ]),
      { [EXT_AUDIO_LEVEL]: 1 },
    );
  });

  it('a player’s m-line: its ids for what we forward', () => {
    assert.deepEqual(
      acceptedExtensions('video', [
        { id: 4, uri: MID },
        { id: 9, uri: EXT_VIDEO_ORIENTATION },
        { id: 1, uri: EXT_AUDIO_LEVEL },
      ]),
      [{ id: 9, uri: EXT_VIDEO_ORIENTATION }],
    );
  });

  it('a subscriber’s answer, by mid', () => {
    const sdp = [
      'v=0',
      'o=- 1 2 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:2',
      'a=extmap:13 urn:3gpp:video-orientation',
      'a=extmap:2/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
      '',
    ].join('\r\n');
    assert.deepEqual(extensionsByMid(sdp).get('2'), [
      { id: 13, uri: EXT_VIDEO_ORIENTATION },
      { id: 2, uri: EXT_ABS_SEND_TIME },
    ]);
  });

  it('room events carry TrackInfo.ext; a malformed one is left out, an old event still parses', () => {
    const ev = parseRoomEvent(
      JSON.stringify({
        type: 'pub-join',
        pub: 'a+1',
        tracks: [
          { kind: 'video', trackId: 'video0', ext: { [EXT_VIDEO_ORIENTATION]: 7, bad: 300 } },
          { kind: 'audio', trackId: 'audio0', ext: 'nope' },
          { kind: 'audio', trackId: 'audio1' },
        ],
      }),
    );
    assert.deepEqual(ev, {
      type: 'pub-join',
      pub: 'a+1',
      tracks: [
        { kind: 'video', trackId: 'video0', ext: { [EXT_VIDEO_ORIENTATION]: 7 } },
        { kind: 'audio', trackId: 'audio0' },
        { kind: 'audio', trackId: 'audio1' },
      ],
    });
  });

  it('the Redis media value: a third part, read back; older values still parse', () => {
    const tracks: TrackInfo[] = [
      { kind: 'video', trackId: 'video0', ext: { [EXT_VIDEO_ORIENTATION]: 13, [EXT_ABS_SEND_TIME]: 2 } },
      { kind: 'video', trackId: 'video1', codec: 'H264', ext: { [EXT_ABS_SEND_TIME]: 2 } },
    ];
    const value = mediaValue(tracks, 'video');
    assert.equal(
      value,
      '2;video0//13=urn%3A3gpp%3Avideo-orientation+2=http%3A%2F%2Fwww.webrtc.org%2Fexperiments%2Frtp-hdrext%2Fabs-send-time,video1/H264/2=http%3A%2F%2Fwww.webrtc.org%2Fexperiments%2Frtp-hdrext%2Fabs-send-time',
    );
    assert.deepEqual(parseMediaHash({ 'a+1#video': value }).get('a+1'), tracks);
    assert.deepEqual(parseMediaHash({ 'a+1#video': '2;video0,video1/H264' }).get('a+1'), [
      { kind: 'video', trackId: 'video0' },
      { kind: 'video', trackId: 'video1', codec: 'H264' },
    ]);
  });
});
