/**
 * Issue 14, sender reports (lip sync) at the RTP/RTCP level: a libdatachannel publisher
 * (the load tool's client) sends RTP and SRs with NTP↔RTP pairs we choose; a libdatachannel
 * receiver gets the SFU's translated SRs. Each must carry the publisher's NTP time
 * unchanged, the receiver's SSRC, and the RTP timestamp moved by exactly the rewrite's
 * offset (receiver's ts − publisher's ts of the same packet, told apart by a number in the
 * payload). The control-channel subscriber sees the first source unshifted (offset 0); a
 * WHEP player whose publisher reconnects plays on in the same m-lines with continued
 * timestamps, so there the offset is not 0. (Chromium does not expose its own SR mapping on
 * the sender side; the remote-outbound-rtp check with Chromium is in loss.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { type PublisherConnection, WeeverTarget } from 'weever-load';
import { isRtcp, newSenderInfo, readSenderReport, type SenderInfo, writeSenderReport } from 'weever-rtp';
import { rtpPacket } from '../helpers/rtp.js';
import { suiteServer, waitFor } from './harness.js';

type Kind = 'audio' | 'video';
const KINDS: Kind[] = ['audio', 'video'];
const CLOCK: Record<Kind, number> = { audio: 48_000, video: 90_000 };
const TICKS: Record<Kind, number> = { audio: 960, video: 1800 }; // per 20 ms

/** A one-packet VP8 key frame (descriptor, frame tag, start code, 640×360) or an Opus packet, ending with `gen` (uint8) and `index` (uint32). */
function payload(kind: Kind, gen: number, index: number): Buffer {
  const b =
    kind === 'video'
      ? Buffer.from([
          0x90,
          0x80,
          0x80 | ((index >> 8) & 0x7f),
          index & 0xff,
          0x10,
          0x02,
          0x00,
          0x9d,
          0x01,
          0x2a,
          0x80,
          0x02,
          0x68,
          0x01,
          ...Buffer.alloc(40),
        ])
      : Buffer.from([0xfc, ...Buffer.alloc(40)]);
  const out = Buffer.alloc(b.length + 5);
  b.copy(out);
  out[b.length] = gen;
  out.writeUInt32BE(index, b.length + 1);
  return out;
}

/** What one publisher (generation `gen`) sent: RTP ts per packet index, and its SRs by NTP time. */
interface Sent {
  gen: number;
  ssrc: Record<Kind, number>;
  ts: Record<Kind, number[]>;
  sr: Record<Kind, Map<string, number>>;
  stop(): void;
}

/** Sends RTP every 20 ms on both tracks of `pub`, from timestamp bases `tsBase`, and an SR per kind every 200 ms. */
function sendMedia(pub: PublisherConnection, gen: number, tsBase: Record<Kind, number>): Sent {
  const senders = { audio: pub.audio!, video: pub.video! };
  const sent: Sent = {
    gen,
    ssrc: { audio: senders.audio.ssrc, video: senders.video.ssrc },
    ts: { audio: [], video: [] },
    sr: { audio: new Map(), video: new Map() },
    stop: () => clearInterval(timer),
  };
  const ts = { ...tsBase };
  const seq: Record<Kind, number> = { audio: 100, video: 65_000 }; // video wraps
  const info = newSenderInfo();
  const srBuf = Buffer.alloc(28);
  let index = 0;
  const timer = setInterval(() => {
    try {
      for (const kind of KINDS) {
        const s = senders[kind];
        ts[kind] = (ts[kind] + TICKS[kind]) >>> 0;
        sent.ts[kind][index] = ts[kind];
        s.track.sendMessageBinary(
          rtpPacket({ marker: true, pt: s.payloadType, seq: seq[kind]++, ts: ts[kind], ssrc: s.ssrc, payload: payload(kind, gen, index) }),
        );
        if (index % 10 === 5) {
          // an arbitrary NTP time, and an RTP ts that is not the last packet's
          const ntpSec = 3_900_000_000 + gen * 100_000 + index;
          const ntpFrac = (Math.random() * 0xffffffff) >>> 0;
          Object.assign(info, {
            ssrc: s.ssrc,
            ntpSec,
            ntpFrac,
            rtpTs: (ts[kind] + 123 * (index % 7)) >>> 0,
            packets: index,
            octets: index * 50,
          });
          writeSenderReport(srBuf, 0, info);
          sent.sr[kind].set(`${ntpSec}.${ntpFrac}`, info.rtpTs);
          s.track.sendMessageBinary(srBuf);
        }
      }
      index++;
    } catch {
      // a track closed at the end
    }
  }, 20);
  return sent;
}

/** What a receiver saw: per publisher generation and kind, the rewrite's timestamp offset; its SSRCs; the SRs. */
class Received {
  readonly offset = new Map<string, number>();
  offsetChanges = 0;
  readonly ssrc: Record<Kind, number> = { audio: 0, video: 0 };
  readonly srs: Record<Kind, SenderInfo[]> = { audio: [], video: [] };
  constructor(private readonly sent: Sent[]) {}

  rtp(kind: Kind, p: Buffer): void {
    const gen = p[p.length - 5]!;
    const i = p.readUInt32BE(p.length - 4);
    const pubTs = this.sent.find((s) => s.gen === gen)?.ts[kind][i];
    if (pubTs === undefined) return;
    const o = (p.readUInt32BE(4) - pubTs) >>> 0;
    const key = `${gen}.${kind}`;
    if (this.offset.has(key) && this.offset.get(key) !== o) this.offsetChanges++;
    this.offset.set(key, o);
    this.ssrc[kind] = p.readUInt32BE(8);
  }

  rtcp(kind: Kind, p: Buffer): void {
    const info = newSenderInfo();
    if (readSenderReport(p, info)) this.srs[kind].push(info);
  }

  /** SRs of generation `gen` received, per kind (the smaller count). */
  count(gen: number): number {
    return Math.min(
      ...KINDS.map((k) => this.srs[k].filter((r) => this.sent.find((s) => s.gen === gen)?.sr[k].has(`${r.ntpSec}.${r.ntpFrac}`)).length),
    );
  }

  /** Asserts every SR received: an NTP time a publisher sent, our SSRC, RTP within 1 ms of publisher's + offset. Returns the offsets used. */
  check(t: TestContext, what: string): Record<string, number> {
    assert.equal(this.offsetChanges, 0, `${what}: one timestamp offset per publisher and kind`);
    const used: Record<string, number> = {};
    for (const kind of KINDS) {
      let worstMs = 0;
      for (const r of this.srs[kind]) {
        const key = `${r.ntpSec}.${r.ntpFrac}`;
        const from = this.sent.find((s) => s.sr[kind].has(key));
        assert.ok(from, `${what} ${kind} SR ${key}: an NTP time a publisher sent`);
        assert.equal(r.ssrc, this.ssrc[kind], `${what} ${kind} SR about the receiver's SSRC`);
        const offset = this.offset.get(`${from.gen}.${kind}`);
        assert.ok(offset !== undefined, `${what} ${kind}: RTP of publisher ${from.gen} arrived before its SR`);
        used[`${from.gen}.${kind}`] = offset;
        const expected = (from.sr[kind].get(key)! + offset) >>> 0;
        const ms = (((r.rtpTs - expected) | 0) / CLOCK[kind]) * 1000; // signed 32-bit difference
        worstMs = Math.max(worstMs, Math.abs(ms));
        assert.ok(Math.abs(ms) <= 1, `${what} ${kind}: SR rtp ${r.rtpTs}, expected ${expected} (${ms.toFixed(3)} ms off)`);
      }
      const line = `${what} ${kind}: ${this.srs[kind].length} SRs checked, SSRC ${this.ssrc[kind]}, ts offsets ${JSON.stringify(
        Object.fromEntries([...this.offset].filter(([k]) => k.endsWith(kind))),
      )}, worst mapping error ${worstMs.toFixed(3)} ms`;
      console.error(line);
      t.diagnostic(line);
    }
    return used;
  }
}

/** A WHEP player on libdatachannel: recvonly VP8 and Opus, every packet of its tracks to `to`. */
async function whepPlayer(url: string, to: Received): Promise<nodeDataChannel.PeerConnection> {
  const pc = new nodeDataChannel.PeerConnection('whep-player', { iceServers: [], bindAddress: '127.0.0.1' });
  const video = new nodeDataChannel.Video('0', 'RecvOnly');
  video.addVP8Codec(96);
  const audio = new nodeDataChannel.Audio('1', 'RecvOnly');
  audio.addOpusCodec(111);
  const tracks = [pc.addTrack(video), pc.addTrack(audio)];
  tracks.forEach((track, i) => {
    const kind: Kind = i === 0 ? 'video' : 'audio';
    track.onMessage((b: Buffer) => {
      try {
        if (isRtcp(b)) to.rtcp(kind, b);
        else to.rtp(kind, b);
      } catch {
        // a throw inside a native callback would abort the process
      }
    });
  });
  (pc as unknown as { tracksHeld: unknown }).tracksHeld = tracks; // kept from the GC
  pc.setLocalDescription();
  await waitFor('ICE gathering', () => pc.gatheringState() === 'complete', 10_000, 5);
  const offer = pc.localDescription()!.sdp.replace(/a=setup:actpass/g, 'a=setup:active');
  // 409 until the publisher's media flows
  const answer = await waitFor(
    'the WHEP answer',
    async () => {
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
      const text = await r.text();
      if (r.status === 409) return undefined;
      assert.equal(r.status, 201, text);
      return text;
    },
    10_000,
    200,
  );
  pc.setRemoteDescription(answer, 'answer');
  return pc;
}

describe('sender reports: the publisher’s NTP↔RTP mapping reaches subscribers, translated', () => {
  const ctx = suiteServer();
  after(() => nodeDataChannel.cleanup()); // the clients' native threads would keep the process alive

  it('control-channel subscriber: NTP identical, RTP = publisher’s + offset (within 1 ms), our SSRC, audio and video', async (t) => {
    const target = new WeeverTarget({ url: ctx.server.publicUrl });
    const room = 'sender-reports';
    const pub = await target.publish(room, 'srpub', { audio: true, video: true });
    const sent = sendMedia(pub, 1, { audio: 0x7fff_0000, video: 0xffff_0000 - 45_000 }); // video ts wraps
    const sub = await target.subscribe(room, 'srsub');
    t.after(async () => {
      sent.stop();
      await sub.close();
      await pub.close();
    });
    const rec = new Received([sent]);
    sub.onRtp((kind, p) => rec.rtp(kind, p));
    sub.onRtcp((kind, p) => rec.rtcp(kind, p));
    await waitFor('5 translated sender reports per kind', () => rec.count(1) >= 5, 15_000);
    rec.check(t, 'subscriber');
  });

  it('WHEP player across a publisher reconnect: the continued timestamps (offset ≠ 0) apply to the SRs too', async (t) => {
    const target = new WeeverTarget({ url: ctx.server.publicUrl });
    const room = 'sender-reports-whep';
    const pub1 = await target.publish(room, 'srpub', { audio: true, video: true });
    const sent1 = sendMedia(pub1, 1, { audio: 1000, video: 5000 });
    const sent: Sent[] = [sent1];
    const rec = new Received(sent);
    const player = await whepPlayer(`${ctx.server.publicUrl}/whep/${room}/srpub`, rec);
    let pub2: PublisherConnection | undefined;
    t.after(async () => {
      for (const s of sent) s.stop();
      player.close();
      await pub1.close();
      await pub2?.close();
    });
    await waitFor('sender reports of the first publisher', () => rec.count(1) >= 3, 15_000);
    sent1.stop();
    await pub1.close();
    // the same user again, with timestamps far from the first connection's
    pub2 = await target.publish(room, 'srpub', { audio: true, video: true });
    const sent2 = sendMedia(pub2, 2, { audio: 0x9000_0000, video: 0xfff0_0000 });
    sent.push(sent2);
    await waitFor('5 translated sender reports of the reconnected publisher', () => rec.count(2) >= 5, 20_000);
    const used = rec.check(t, 'WHEP player');
    for (const kind of KINDS) {
      assert.ok(used[`2.${kind}`] !== undefined, `${kind}: SRs of the reconnected publisher were checked`);
      assert.notEqual(used[`2.${kind}`], 0, `${kind}: the reconnected publisher's timestamps are shifted`);
    }
  });
});
