/**
 * Protocol clients on node-datachannel (libdatachannel: SRTP in C++), cheap enough per
 * packet that the load side is not the bottleneck. They speak the contract exactly like
 * a browser: one POST with a complete offer, the `control` channel, answers to offers.
 */
import nodeDataChannel from 'node-datachannel';
import { isRtcp } from '../../src/media/rtp.js';

type PC = nodeDataChannel.PeerConnection;

function gathered(pc: PC): Promise<void> {
  return new Promise((resolve) => {
    if (pc.gatheringState() === 'complete') return resolve();
    const t = setInterval(() => {
      if (pc.gatheringState() === 'complete') {
        clearInterval(t);
        resolve();
      }
    }, 5);
  });
}

async function post(url: string, sdp: string): Promise<string> {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`${r.status} ${text.trim()}`);
  return text;
}

function isRtp(b: Buffer): boolean {
  return b.length >= 12 && !isRtcp(b);
}

/** Where a synthetic packet carries its send time (`performance.now()`, float64). */
const SEND_TIME_OFFSET = 16;

export class SyntheticPublisher {
  sent = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly packet: Buffer;
  private seq = Math.floor(Math.random() * 65535);
  private ts = Math.floor(Math.random() * 2 ** 31);
  private startedAt = 0;

  private constructor(
    private readonly pc: PC,
    // Held so the GC does not collect the channel: node-datachannel closes it when it does.
    readonly control: nodeDataChannel.DataChannel,
    private readonly track: nodeDataChannel.Track,
    readonly fullId: string,
    private readonly ssrc: number,
    private readonly packetsPerSecond: number,
    packetSize: number,
  ) {
    this.packet = Buffer.alloc(packetSize, 0x5a);
  }

  /** Publishes one VP8 video track of `packetsPerSecond` packets of `packetSize` bytes. */
  static async connect(base: string, room: string, fullId: string, packetsPerSecond = 300, packetSize = 1100): Promise<SyntheticPublisher> {
    const pc = new nodeDataChannel.PeerConnection(fullId, { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' });
    const control = pc.createDataChannel('control');
    const ssrc = (Math.random() * 0xfffffffe + 1) >>> 0;
    const video = new nodeDataChannel.Video('v', 'SendOnly');
    video.addVP8Codec(96);
    video.addSSRC(ssrc, 'bench', fullId, 'video0');
    const track = pc.addTrack(video);
    pc.setLocalDescription();
    await gathered(pc);
    const answer = await post(`${base}/pub/${room}/${fullId}`, pc.localDescription()!.sdp);
    pc.setRemoteDescription(answer, 'answer');
    const p = new SyntheticPublisher(pc, control, track, fullId, ssrc, packetsPerSecond, packetSize);
    await new Promise<void>((resolve) => {
      if (track.isOpen()) resolve();
      else track.onOpen(() => resolve());
    });
    p.start();
    return p;
  }

  private start(): void {
    this.startedAt = performance.now();
    // Paced by elapsed time, not by timer ticks, so timer jitter does not change the rate.
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.startedAt) / 1000) * this.packetsPerSecond);
      while (this.sent < due) this.sendOne();
    }, 5);
  }

  private sendOne(): void {
    const p = this.packet;
    const inFrame = this.sent % 10; // 10 packets per frame
    if (inFrame === 0) this.ts = (this.ts + 3000) >>> 0;
    p[0] = 0x80;
    p[1] = (inFrame === 9 ? 0x80 : 0) | 96;
    p.writeUInt16BE(this.seq, 2);
    p.writeUInt32BE(this.ts, 4);
    p.writeUInt32BE(this.ssrc, 8);
    p[12] = inFrame === 0 ? 0x10 : 0x00; // VP8 payload descriptor: S bit on the first packet
    // send time, for one-way delay at the subscribers (same process, same clock)
    if (p.length >= SEND_TIME_OFFSET + 8) p.writeDoubleBE(performance.now(), SEND_TIME_OFFSET);
    this.seq = (this.seq + 1) & 0xffff;
    try {
      this.track.sendMessageBinary(p);
    } catch {
      // closed
    }
    this.sent++;
  }

  close(): void {
    clearInterval(this.timer);
    try {
      this.pc.close();
    } catch {
      // closed
    }
  }
}

export class CountingSubscriber {
  packets = 0;
  bytes = 0;
  /** packets whose sequence number this SSRC already delivered among its last 1024 */
  duplicates = 0;
  /** one-way delays in ms of synthetic packets, when `recordDelays` is set */
  readonly delays: number[] = [];
  recordDelays = false;
  private readonly recent = new Map<number, { seen: Uint8Array; order: Uint16Array; n: number }>();
  offers = 0;
  joins: string[] = [];
  errors: string[] = [];
  private readonly tracks: nodeDataChannel.Track[] = [];

  private constructor(
    private readonly pc: PC,
    private readonly dc: nodeDataChannel.DataChannel,
    readonly fullId: string,
  ) {}

  static async connect(base: string, room: string, fullId: string): Promise<CountingSubscriber> {
    try {
      return await CountingSubscriber.connectOnce(base, room, fullId);
    } catch (err) {
      // libdatachannel (client side) about once in a hundred connections refuses the answer
      // with "Got a remote candidate without ICE transport"; the server's session is then
      // dropped by its connect timeout. A new connection under another full id works.
      if (!String((err as Error).message).includes('without ICE transport')) throw err;
      return CountingSubscriber.connectOnce(base, room, `${fullId}-2`);
    }
  }

  private static async connectOnce(base: string, room: string, fullId: string): Promise<CountingSubscriber> {
    // forceMediaTransport: tracks only arrive later, by renegotiation, on a data-channel-only connection
    const pc = new nodeDataChannel.PeerConnection(fullId, { iceServers: [], bindAddress: '127.0.0.1', forceMediaTransport: true });
    const dc = pc.createDataChannel('control');
    const sub = new CountingSubscriber(pc, dc, fullId);
    pc.onTrack((track) => {
      sub.tracks.push(track);
      track.onMessage((b) => {
        if (isRtp(b)) {
          sub.packets++;
          sub.bytes += b.length;
          sub.checkDuplicate(b.readUInt32BE(8), b.readUInt16BE(2));
          if (sub.recordDelays && b.length >= SEND_TIME_OFFSET + 8 && b[0] === 0x80) {
            sub.delays.push(performance.now() - b.readDoubleBE(SEND_TIME_OFFSET));
          }
        }
      });
    });
    // A throw inside a native callback aborts the process: catch everything here.
    dc.onMessage((msg) => {
      try {
        const text = String(msg);
        if (text.startsWith('SDP_OFFER ')) {
          sub.offers++;
          pc.setRemoteDescription(text.slice('SDP_OFFER '.length), 'offer');
          const answer = pc.localDescription();
          if (answer) dc.sendMessage(`SDP_ANSWER ${answer.sdp}`);
        } else if (text.startsWith('PUB_JOIN ')) sub.joins.push(text.slice(9));
        else if (text.startsWith('ERROR ')) sub.errors.push(text.slice(6));
      } catch (err) {
        sub.errors.push(`client: ${String(err)}`);
      }
    });
    try {
      await gathered(pc);
      const answer = await post(`${base}/sub/${room}/${fullId}`, pc.localDescription()!.sdp);
      pc.setRemoteDescription(answer, 'answer');
    } catch (err) {
      pc.close();
      throw new Error(`${String((err as Error).message ?? err)} (client pc ${pc.state()}/${pc.iceState()}/${pc.gatheringState()})`);
    }
    await new Promise<void>((resolve) => {
      if (dc.isOpen()) resolve();
      else dc.onOpen(() => resolve());
    });
    return sub;
  }

  private checkDuplicate(ssrc: number, seq: number): void {
    let r = this.recent.get(ssrc);
    if (!r) {
      r = { seen: new Uint8Array(65536), order: new Uint16Array(1024), n: 0 };
      this.recent.set(ssrc, r);
    }
    if (r.seen[seq]) {
      this.duplicates++;
      return;
    }
    // a ring of the last 1024 sequence numbers: the oldest is forgotten as a new one comes
    if (r.n >= 1024) r.seen[r.order[r.n % 1024]!] = 0;
    r.order[r.n % 1024] = seq;
    r.seen[seq] = 1;
    r.n++;
  }

  close(): void {
    try {
      if (this.dc.isOpen()) this.dc.sendMessage('STOP');
      this.pc.close();
    } catch {
      // closed
    }
  }
}
