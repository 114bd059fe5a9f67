/**
 * RTP header extensions reach subscribers under the ids of THEIR negotiation (issue 14,
 * item 6). A node-datachannel publisher sends real VP8 (GStreamer's vp8enc, 320×240) with
 * a video-orientation element saying 90° and its mid, and Opus-shaped audio with an audio
 * level, under ids of its own (7, 9, 5 — not Chromium's). Then:
 * - a node-datachannel control-channel subscriber checks, at the RTP level, that the
 *   elements arrive under the ids of the SDP it answered (and nothing it did not negotiate);
 * - a Chromium subscriber (SDK, control channel) and a Chromium WHEP player show the video
 *   upright: their <video> is 240×320, the encoded frames being 320×240.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import type { Browser } from 'playwright-core';
import sdpTransform from 'sdp-transform';
import { control as controlMessage, parseServerMessage } from 'weever-protocol';
import { randomSsrc, readExtensions, rtpPayloadOffset, withExtensions } from 'weever-rtp';
import { launchBrowser, openPage, serverAndBrowser, subscribeFrom, waitFor } from './harness.js';
import { type Cluster, startCluster } from './services.js';
import { whepPlay } from './whep-player.js';

const CVO = 'urn:3gpp:video-orientation';
const AUDIO_LEVEL = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
const MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
/** the publisher's ids: none is Chromium's (13 and 1), so every subscriber needs a remap */
const PUB_IDS = { cvo: 7, mid: 9, audioLevel: 5 };
/** CVO byte: C=0 F=0 R=1 → 90° */
const CVO_90 = 0x01;
/** audio level byte: V=1, 30 dBov */
const LEVEL = 0x80 | 30;
const OPUS_SILENCE = Buffer.from([0xf8, 0xff, 0xfe]);

type PC = nodeDataChannel.PeerConnection;

async function gathered(pc: PC): Promise<void> {
  await waitFor('ICE gathering', () => pc.gatheringState() === 'complete', 10_000, 10);
}

async function post(url: string, sdp: string): Promise<string> {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`POST ${url}: ${r.status} ${text}`);
  return text;
}

/** The extension ids of each m-line of `sdp`, by mid: URI → id. */
function idsByMid(sdp: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const m of sdpTransform.parse(sdp).media) {
    out.set(String(m.mid), new Map((m.ext ?? []).map((e) => [e.uri, Number(e.value)])));
  }
  return out;
}

/** A publisher with a video (VP8 from GStreamer, CVO 90°) and an audio track, both carrying extensions. */
class ExtPublisher {
  readonly pc: PC;
  private readonly tracks: nodeDataChannel.Track[] = [];
  private gst: ChildProcess | undefined;
  private udp: Socket | undefined;
  private audioTimer: NodeJS.Timeout | undefined;
  videoSent = 0;

  constructor() {
    this.pc = new nodeDataChannel.PeerConnection('ext-pub', { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' });
  }

  async publish(url: string): Promise<void> {
    const vssrc = randomSsrc();
    const assrc = randomSsrc();
    const v = new nodeDataChannel.Video('0', 'SendOnly');
    v.addVP8Codec(96);
    v.parseSdpLine(`a=extmap:${PUB_IDS.cvo} ${CVO}`);
    v.parseSdpLine(`a=extmap:${PUB_IDS.mid} ${MID}`);
    v.addSSRC(vssrc, 'ext', 'ext', 'v');
    const a = new nodeDataChannel.Audio('1', 'SendOnly');
    a.addOpusCodec(111);
    a.parseSdpLine(`a=extmap:${PUB_IDS.audioLevel} ${AUDIO_LEVEL}`);
    a.parseSdpLine(`a=extmap:${PUB_IDS.mid} ${MID}`);
    a.addSSRC(assrc, 'ext', 'ext', 'a');
    const vt = this.pc.addTrack(v);
    const at = this.pc.addTrack(a);
    this.tracks.push(vt, at);
    this.pc.setLocalDescription();
    await gathered(this.pc);
    const offer = this.pc.localDescription()!.sdp;
    assert.match(offer, new RegExp(`a=extmap:${PUB_IDS.cvo} ${CVO}`), 'the publisher offers video-orientation');
    const answer = await post(url, offer.replace(/a=setup:actpass/g, 'a=setup:active'));
    assert.match(answer, new RegExp(`a=extmap:${PUB_IDS.cvo} ${CVO}`), 'the server accepts video-orientation');
    this.pc.setRemoteDescription(answer, 'answer');
    await waitFor('publisher tracks open', () => vt.isOpen() && at.isOpen());

    // Real VP8: GStreamer encodes 320×240 and packetizes; we add the extensions.
    const udp = createSocket('udp4');
    this.udp = udp;
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const port = udp.address().port;
    const header = Buffer.alloc(12);
    udp.on('message', (p) => {
      try {
        const off = rtpPayloadOffset(p);
        if (off < 0 || !vt.isOpen()) return;
        p.copy(header, 0, 0, 12);
        header[1] = (header[1]! & 0x80) | 96;
        header.writeUInt32BE(vssrc, 8);
        const out = withExtensions(
          header,
          [
            { id: PUB_IDS.cvo, data: Buffer.from([CVO_90]) },
            { id: PUB_IDS.mid, data: Buffer.from('0') },
          ],
          p.subarray(off),
        );
        vt.sendMessageBinary(out);
        this.videoSent++;
      } catch {
        // closed
      }
    });
    const pipeline = `videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=15 target-bitrate=300000 ! rtpvp8pay pt=96 mtu=1100 ! udpsink host=127.0.0.1 port=${port}`;
    this.gst = spawn(
      '/usr/bin/python3',
      [
        '-c',
        "import gi,sys; gi.require_version('Gst','1.0'); from gi.repository import Gst, GLib; Gst.init(None); p=Gst.parse_launch(sys.argv[1]); p.set_state(Gst.State.PLAYING); GLib.MainLoop().run()",
        pipeline,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );

    let seq = 0;
    let ts = 0;
    this.audioTimer = setInterval(() => {
      try {
        if (!at.isOpen()) return;
        const h = Buffer.alloc(12);
        h[0] = 0x80;
        h[1] = 111;
        h.writeUInt16BE(seq++ & 0xffff, 2);
        h.writeUInt32BE((ts += 960) >>> 0, 4);
        h.writeUInt32BE(assrc, 8);
        at.sendMessageBinary(
          withExtensions(
            h,
            [
              { id: PUB_IDS.audioLevel, data: Buffer.from([LEVEL]) },
              { id: PUB_IDS.mid, data: Buffer.from('1') },
            ],
            OPUS_SILENCE,
          ),
        );
      } catch {
        // closed
      }
    }, 20);
  }

  close(): void {
    clearInterval(this.audioTimer);
    this.gst?.kill('SIGKILL');
    this.udp?.close();
    try {
      this.pc.close();
    } catch {
      // closed
    }
  }
}

/** A control-channel subscriber in node: answers the server's offers, keeps the last answer, reads the RTP. */
class RtpSubscriber {
  readonly pc: PC;
  readonly dc: nodeDataChannel.DataChannel;
  lastAnswer = '';
  lastOffer = '';
  readonly tracks: nodeDataChannel.Track[] = [];
  /** per mid: element id → data (hex) of the last packet that had it; and every element id seen */
  readonly seen = new Map<string, { last: Map<number, string>; ids: Set<number>; packets: number }>();

  constructor() {
    this.pc = new nodeDataChannel.PeerConnection('ext-sub', { iceServers: [], forceMediaTransport: true, bindAddress: '127.0.0.1' });
    this.dc = this.pc.createDataChannel('control');
    this.dc.onMessage((msg) => {
      try {
        const parsed = parseServerMessage(String(msg));
        if (!parsed.ok || parsed.command.cmd !== 'SDP_OFFER') return;
        this.lastOffer = parsed.command.sdp;
        this.pc.setRemoteDescription(parsed.command.sdp, 'offer');
        this.lastAnswer = this.pc.localDescription()!.sdp;
        this.dc.sendMessage(controlMessage.sdpAnswer(this.lastAnswer));
      } catch {
        // never into native code
      }
    });
    this.pc.onTrack((track) => {
      this.tracks.push(track);
      const mid = track.mid();
      track.onMessage((p: Buffer) => {
        try {
          if (p.length < 12 || (p[1]! >= 192 && p[1]! <= 223)) return;
          const s = this.seen.get(mid) ?? { last: new Map(), ids: new Set(), packets: 0 };
          this.seen.set(mid, s);
          s.packets++;
          for (const [id, data] of readExtensions(p)) {
            s.ids.add(id);
            s.last.set(id, data.toString('hex'));
          }
        } catch {
          // never into native code
        }
      });
    });
  }

  async connect(url: string): Promise<void> {
    await gathered(this.pc);
    const answer = await post(url, this.pc.localDescription()!.sdp.replace(/a=setup:actpass/g, 'a=setup:active'));
    this.pc.setRemoteDescription(answer, 'answer');
  }

  close(): void {
    try {
      this.pc.close();
    } catch {
      // closed
    }
  }
}

/**
 * A connected RtpSubscriber. libdatachannel clients sometimes fail their DTLS handshake on
 * loopback (see weever-load's retryConnect): a new connection under another full id then works.
 */
async function connectSubscriber(url: string, all: RtpSubscriber[]): Promise<RtpSubscriber> {
  for (let attempt = 1; ; attempt++) {
    const sub = new RtpSubscriber();
    all.push(sub);
    try {
      await sub.connect(`${url}+${attempt}`);
      return sub;
    } catch (err) {
      sub.close();
      if (attempt === 4) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** In the page: plays the first live received video track in a <video>, returns its size and the inbound-rtp frame size. */
async function shownSize(
  page: import('playwright-core').Page,
  pcPath: 'sub' | 'player',
): Promise<{ video: string; inbound: string; framesDecoded: number } | undefined> {
  return page.evaluate(async (pcPath) => {
    const w = window as unknown as Record<string, { pc: RTCPeerConnection } | undefined> & { __v?: HTMLVideoElement };
    const pc = w[pcPath]?.pc;
    if (!pc) return undefined;
    const t = pc
      .getTransceivers()
      .find((x) => x.receiver.track?.kind === 'video' && x.receiver.track.readyState === 'live' && x.currentDirection === 'recvonly');
    if (!t) return undefined;
    if (!w.__v) {
      const v = document.createElement('video');
      v.muted = true;
      v.autoplay = true;
      v.srcObject = new MediaStream([t.receiver.track]);
      document.body.append(v);
      w.__v = v;
      void v.play().catch(() => {});
    }
    let inbound = '';
    let framesDecoded = 0;
    (await t.receiver.getStats()).forEach((s: { type: string; frameWidth?: number; frameHeight?: number; framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp') {
        inbound = `${s.frameWidth ?? 0}x${s.frameHeight ?? 0}`;
        framesDecoded = s.framesDecoded ?? 0;
      }
    });
    return { video: `${w.__v.videoWidth}x${w.__v.videoHeight}`, inbound, framesDecoded };
  }, pcPath);
}

/** Connects a publisher (retrying the loopback DTLS flake under another full id, as connectSubscriber does). */
async function startPublisher(base: string, room: string, pubs: ExtPublisher[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const pub = new ExtPublisher();
    pubs.push(pub);
    try {
      await pub.publish(`${base}/pub/${room}/extpub+${attempt}`);
      return;
    } catch (err) {
      pub.close();
      if (attempt === 4) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** The node subscriber received both kinds; every element under an id of ITS answer, CVO and audio level remapped. */
async function checkRtpLevel(sub: RtpSubscriber): Promise<void> {
  await waitFor('both kinds with extensions', () => sub.seen.size === 2 && [...sub.seen.values()].every((s) => s.packets > 50), 20_000);
  const offered = idsByMid(sub.lastOffer);
  const answered = idsByMid(sub.lastAnswer);
  const kinds = sdpTransform.parse(sub.lastAnswer).media.map((m) => [String(m.mid), m.type] as const);
  for (const [mid, type] of kinds) {
    if (type !== 'audio' && type !== 'video') continue;
    const ids = answered.get(mid)!;
    const s = sub.seen.get(mid)!;
    console.error(`mid ${mid} (${type}): offered ${JSON.stringify([...offered.get(mid)!])}; elements seen ${JSON.stringify([...s.last])}`);
    // every id in the packets is one this subscriber negotiated for that m-line
    for (const id of s.ids) assert.ok([...ids.values()].includes(id), `mid ${mid}: element id ${id} not negotiated`);
    assert.equal(ids.get(MID), undefined, 'mid is not declared to subscribers');
    if (type === 'video') {
      const cvo = ids.get(CVO);
      assert.ok(cvo !== undefined && cvo !== PUB_IDS.cvo, `video-orientation negotiated under our id (${cvo})`);
      assert.equal(s.last.get(cvo!), CVO_90.toString(16).padStart(2, '0'), 'CVO 90° under the negotiated id');
    } else {
      const level = ids.get(AUDIO_LEVEL);
      assert.ok(level !== undefined && level !== PUB_IDS.audioLevel, `audio level negotiated under our id (${level})`);
      assert.equal(s.last.get(level!), LEVEL.toString(16), 'audio level under the negotiated id');
    }
  }
  // one id per URI over the subscriber's bundle
  const byUri = new Map<string, number>();
  for (const m of offered.values()) {
    for (const [uri, id] of m) {
      assert.equal(byUri.get(uri) ?? id, id, uri);
      byUri.set(uri, id);
    }
  }
}

/** A Chromium page's received video is shown rotated: 240×320 for 320×240 frames. */
async function checkRotated(page: import('playwright-core').Page, pcPath: 'sub' | 'player', who: string): Promise<void> {
  const size = await waitFor(
    'rotated video shown',
    async () => {
      const s = await shownSize(page, pcPath);
      return s && s.framesDecoded > 10 && s.video !== '0x0' ? s : undefined;
    },
    20_000,
  );
  console.error(`${who}: <video> ${size.video}, inbound-rtp ${size.inbound}, ${size.framesDecoded} frames decoded`);
  assert.equal(size.video, '240x320');
}

// the clients' native threads would keep the process alive
after(() => nodeDataChannel.cleanup());

describe('header extensions reach subscribers under their own ids', () => {
  const ctx = serverAndBrowser();
  const room = 'hdrext';
  const pubs: ExtPublisher[] = [];
  const subs: RtpSubscriber[] = [];

  before(async () => {
    await startPublisher(ctx.server.publicUrl, room, pubs);
    await waitFor('publisher listed', async () => (await ctx.server.list('pub', room)).some((p) => p.startsWith('extpub+')), 20_000);
  });
  after(() => {
    for (const s of subs) s.close();
    for (const p of pubs) p.close();
  });

  it('RTP level: a node subscriber gets video-orientation and audio level under the ids of its SDP, no publisher mid', async () => {
    await checkRtpLevel(await connectSubscriber(`${ctx.server.publicUrl}/sub/${room}/rtpsub`, subs));
  });

  it('Chromium subscriber (control channel): the 320×240 frames with CVO 90° show as 240×320', async () => {
    const page = await openPage(ctx.browser, ctx.server);
    await subscribeFrom(page, room, 'viewer');
    await checkRotated(page, 'sub', 'Chromium subscriber');
    const remote = await page.evaluate(() => (window as unknown as { sub: { pc: RTCPeerConnection } }).sub.pc.remoteDescription!.sdp);
    assert.match(remote, /a=extmap:13 urn:3gpp:video-orientation/);
    await page.close();
  });

  it('Chromium WHEP player: the answer declares video-orientation at the player’s id; shown as 240×320', async () => {
    const page = await openPage(ctx.browser, ctx.server);
    const played = await whepPlay(page, `${ctx.server.publicUrl}/whep/${room}/extpub`);
    assert.equal(played.status, 201, played.text);
    const local = await page.evaluate(() => (window as unknown as { player: { pc: RTCPeerConnection } }).player.pc.localDescription!.sdp);
    const playerCvo = /a=extmap:(\d+) urn:3gpp:video-orientation/.exec(local)?.[1];
    assert.ok(playerCvo, 'the player offers video-orientation');
    assert.match(played.text, new RegExp(`a=extmap:${playerCvo} urn:3gpp:video-orientation`));
    assert.doesNotMatch(played.text, /a=extmap:\d+ urn:ietf:params:rtp-hdrext:sdes:mid/, 'the mid extension is not answered');
    await checkRotated(page, 'player', 'WHEP player');
    await page.close();
  });
});

describe('header extensions across instances (Redis + NATS): publisher on A, subscribers on B', () => {
  let cluster: Cluster;
  let browser: Browser;
  const room = 'hdrext-x';
  const pubs: ExtPublisher[] = [];
  const subs: RtpSubscriber[] = [];
  before(async () => {
    cluster = await startCluster(2);
    browser = await launchBrowser();
    await startPublisher(cluster.servers[0]!.publicUrl, room, pubs);
  });
  after(async () => {
    for (const s of subs) s.close();
    for (const p of pubs) p.close();
    await browser?.close();
    await cluster?.stop();
  });

  it('the ids travel in TrackInfo.ext: RTP level on B, and Chromium on B shows the video rotated', async () => {
    const b = cluster.servers[1]!;
    await checkRtpLevel(await connectSubscriber(`${b.publicUrl}/sub/${room}/rtpsub`, subs));
    const page = await openPage(browser, b);
    await subscribeFrom(page, room, 'viewer');
    await checkRotated(page, 'sub', 'Chromium subscriber on B');
    await page.close();
  });
});
