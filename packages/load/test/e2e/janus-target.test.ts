/**
 * The load tool's Janus target against a real Janus (Debian's `janus`, started by
 * bench/lib/janus-server.ts): one publisher sends synthetic VP8 and Opus RTP through
 * Janus' videoroom to two subscribers; both receive both kinds, with our payloads, and
 * Janus' keyframe request reaches the publisher. Then everything leaves the room.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { waitFor } from '#server-harness';
import { type JanusServer, startJanus } from '../../bench/lib/janus-server.js';
import { JanusSession, JanusTarget, janusRoomId } from '../../src/janus-target.js';
import type { Kind, MediaSender } from '../../src/target.js';

const VIDEO_PACKETS = 300;
const AUDIO_PACKETS = 150;
/** Offset of our marker (packet index) in the payload, after the VP8 descriptor and header. */
const MARK_AT = 24;
const MARK = 0x5eed;

/** RTP header + VP8 payload (RFC 7741): descriptor S=1 on a frame's first packet, then a keyframe header (RFC 6386 §9.1). */
function vp8Packet(s: MediaSender, seq: number, index: number): Buffer {
  const p = Buffer.alloc(1100, 0x5a);
  const first = index % 3 === 0; // 3 packets per frame
  const ts = Math.floor(index / 3) * 3000;
  p[0] = 0x80;
  p[1] = (index % 3 === 2 ? 0x80 : 0) | s.payloadType; // marker on the frame's last packet
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  p.writeUInt32BE(s.ssrc, 8);
  p[12] = first ? 0x10 : 0x00;
  if (first) {
    // frame tag: keyframe (bit 0 = 0), version 0, shown; start code; 320x240
    p.set([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00], 13);
  }
  p.writeUInt16BE(MARK, MARK_AT);
  p.writeUInt16BE(index, MARK_AT + 2);
  return p;
}

/** RTP header + an Opus payload: TOC 0xfc (CELT fullband 20 ms, one frame) and bytes. */
function opusPacket(s: MediaSender, seq: number, index: number): Buffer {
  const p = Buffer.alloc(12 + 80, 0x33);
  p[0] = 0x80;
  p[1] = s.payloadType;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((index * 960) >>> 0, 4);
  p.writeUInt32BE(s.ssrc, 8);
  p[12] = 0xfc;
  p.writeUInt16BE(MARK, MARK_AT);
  p.writeUInt16BE(index, MARK_AT + 2);
  return p;
}

class Received {
  readonly indices = { audio: new Set<number>(), video: new Set<number>() };
  foreign = 0;

  onRtp = (kind: Kind, p: Buffer): void => {
    // Janus rewrites the header (SSRC, sequence numbers), never our payload
    const payload = 12 + 4 * (p[0]! & 0x0f) + (p[0]! & 0x10 ? 4 + 4 * p.readUInt16BE(12 + 4 * (p[0]! & 0x0f) + 2) : 0);
    const at = payload + MARK_AT - 12;
    if (p.length >= at + 4 && p.readUInt16BE(at) === MARK) this.indices[kind].add(p.readUInt16BE(at + 2));
    else this.foreign++;
  };
}

describe('Janus target (videoroom over the HTTP API)', () => {
  let janus: JanusServer;
  let target: JanusTarget;
  before(async () => {
    janus = await startJanus();
    target = new JanusTarget({ url: janus.url });
  });
  after(async () => {
    await target?.close();
    await janus?.stop();
    nodeDataChannel.cleanup(); // the clients' native threads would keep the process alive
  });

  it('subscribing to a room without publishers fails with a clear error', async () => {
    await assert.rejects(target.subscribe('empty-room', 'nobody'), /room empty-room has no publisher yet/);
  });

  it('one publisher to two subscribers: both receive video and audio, the publisher gets a keyframe request', async () => {
    const room = 'janus-e2e';
    const pub = await target.publish(room, 'alice', { audio: true, video: true });
    assert.ok(pub.video && pub.audio, 'publisher has both senders');
    let keyframeRequests = 0;
    pub.onKeyframeRequest(() => keyframeRequests++);

    const subs = await Promise.all(['bob', 'carol'].map((id) => target.subscribe(room, id)));
    const received = subs.map((s) => {
      const r = new Received();
      s.onRtp(r.onRtp);
      return r;
    });
    // Janus asks the publisher for a keyframe when a subscriber's PeerConnection is up
    await waitFor('a PLI/FIR from Janus at the publisher', () => keyframeRequests > 0, 10_000, 20);

    const video = pub.video;
    const audio = pub.audio;
    const vSeq = 1000;
    const aSeq = 5000;
    for (let i = 0; i < VIDEO_PACKETS; i++) {
      video.track.sendMessageBinary(vp8Packet(video, vSeq + i, i));
      if (i % 2 === 0) audio.track.sendMessageBinary(opusPacket(audio, aSeq + i / 2, i / 2));
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 10)); // ~1000 pkt/s, in bursts of 10
    }
    await waitFor(
      'both subscribers to receive ≥ 95% of each kind',
      () => received.every((r) => r.indices.video.size >= VIDEO_PACKETS * 0.95 && r.indices.audio.size >= AUDIO_PACKETS * 0.95),
      10_000,
      50,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; received ${JSON.stringify(received.map((r) => ({ video: r.indices.video.size, audio: r.indices.audio.size })))}`,
      );
    });
    for (const r of received) {
      assert.equal(r.foreign, 0, 'every RTP packet delivered carries our payload');
      assert.ok([...r.indices.video].every((i) => i < VIDEO_PACKETS));
      assert.ok([...r.indices.audio].every((i) => i < AUDIO_PACKETS));
    }

    await Promise.all(subs.map((s) => s.close()));
    await pub.close();
    // detach made everyone leave: the room lists no participant
    const session = await JanusSession.create(janus.url);
    try {
      const admin = await session.attach();
      await waitFor(
        'the room to be empty',
        async () => {
          const { data } = await session.message(admin, { request: 'listparticipants', room: janusRoomId(room) });
          return (data.participants as unknown[]).length === 0;
        },
        5_000,
      );
    } finally {
      await session.destroy();
    }
  });
});
