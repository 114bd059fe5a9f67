/**
 * One soak cohort in its own process (forked by bench/soak.ts): a room of publishers
 * (VP8 + Opus from the load tool's sources) and subscribers, media for `lifetimeMs`, then
 * everyone leaves the same way:
 * - `delete`: HTTP DELETE of the session's Location (no STOP), then the PeerConnection closes;
 * - `stop`: STOP on the control channel, then the PeerConnection closes;
 * - `vanish`: the PeerConnection closes, nothing said (no STOP, no DELETE);
 * - `kill`: nothing: the parent kills this process with SIGKILL once it reported.
 * Reports over IPC: `{type: 'up', ...}` when connected, `{type: 'done', ...}` before leaving.
 */
import nodeDataChannel from 'node-datachannel';
import { control as controlMessage, parseServerMessage, paths, SDP_CONTENT_TYPE, trackId } from 'weever-protocol';
import { addSendTrack, forwardRtp, gathered } from '../src/peer.js';
import { OpusSource, Vp8Source } from '../src/source.js';
import { asDtlsClient, retryConnect } from '../src/weever-target.js';

export type LeaveMode = 'delete' | 'stop' | 'vanish' | 'kill';
export interface CohortConfig {
  url: string;
  room: string;
  publishers: number;
  subscribers: number;
  mode: LeaveMode;
  lifetimeMs: number;
  videoBitrate: number;
  fps: number;
}
export interface CohortUp {
  type: 'up';
  publishers: number;
  subscribers: number;
  failures: string[];
}
export interface CohortDone {
  type: 'done';
  /** subscribers that received RTP from every publisher of the cohort */
  receivingAll: number;
  packets: number;
}

type PC = nodeDataChannel.PeerConnection;
interface Conn {
  pc: PC;
  dc: nodeDataChannel.DataChannel;
  location: string;
  tracks: nodeDataChannel.Track[];
  ssrcs: Set<number>;
  packets: number;
}

const OPEN_MS = 15_000;

async function post(url: string, sdp: string): Promise<{ answer: string; location: string }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': SDP_CONTENT_TYPE },
    body: sdp,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`${r.status} ${text.trim()}`);
  return { answer: text, location: r.headers.get('location') ?? '' };
}

function opened(pc: PC, isOpen: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      const s = pc.state();
      if (isOpen()) return resolve();
      // the wording retryConnect retries on (weever-target.ts)
      if (s === 'failed' || s === 'closed') return reject(new Error(`connection lost before ${what} opened (${s})`));
      if (Date.now() - t0 > OPEN_MS) return reject(new Error(`${what} did not open within ${OPEN_MS} ms`));
      setTimeout(check, 20);
    };
    check();
  });
}

function answerOffers(c: Conn): void {
  c.dc.onMessage((msg) => {
    try {
      const parsed = parseServerMessage(String(msg));
      if (!parsed.ok || parsed.command.cmd !== 'SDP_OFFER') return;
      c.pc.setRemoteDescription(parsed.command.sdp, 'offer');
      const a = c.pc.localDescription();
      if (a) c.dc.sendMessage(controlMessage.sdpAnswer(a.sdp));
    } catch {
      // a throw in a native callback aborts the process
    }
  });
}

async function publishOnce(cfg: CohortConfig, id: string, sources: { tick(ms: number): void }[]): Promise<Conn> {
  const pc = new nodeDataChannel.PeerConnection(id, { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' });
  const dc = pc.createDataChannel('control');
  const c: Conn = { pc, dc, location: '', tracks: [], ssrcs: new Set(), packets: 0 };
  answerOffers(c);
  const video = addSendTrack(pc, 'video', { cname: 'soak', msid: id, trackId: trackId('video', 0) });
  const audio = addSendTrack(pc, 'audio', { cname: 'soak', msid: id, trackId: trackId('audio', 0) });
  try {
    pc.setLocalDescription();
    await gathered(pc, OPEN_MS);
    const r = await post(`${cfg.url}${paths.connect('pub', cfg.room, id)}`, asDtlsClient(pc.localDescription()!.sdp));
    c.location = r.location;
    pc.setRemoteDescription(r.answer, 'answer');
    await opened(pc, () => video.track.isOpen() && audio.track.isOpen(), `publisher ${id} tracks`);
  } catch (err) {
    pc.close();
    throw err;
  }
  const v = new Vp8Source(video, { bitrate: cfg.videoBitrate, fps: cfg.fps, keyframeInterval: 2 });
  video.track.onMessage(() => {}); // RTCP: not needed (keyframes every 2 s)
  sources.push(v, new OpusSource(audio));
  return c;
}

async function subscribeOnce(cfg: CohortConfig, id: string): Promise<Conn> {
  const pc = new nodeDataChannel.PeerConnection(id, { iceServers: [], forceMediaTransport: true, bindAddress: '127.0.0.1' });
  const dc = pc.createDataChannel('control');
  const c: Conn = { pc, dc, location: '', tracks: [], ssrcs: new Set(), packets: 0 };
  answerOffers(c);
  const listener = {
    rtp: (_k: string, p: Buffer) => {
      c.packets++;
      c.ssrcs.add(p.readUInt32BE(8));
    },
  };
  pc.onTrack((t) => {
    c.tracks.push(t);
    forwardRtp(t, t.type() === 'audio' ? 'audio' : 'video', listener);
  });
  try {
    await gathered(pc, OPEN_MS);
    const r = await post(`${cfg.url}${paths.connect('sub', cfg.room, id)}`, asDtlsClient(pc.localDescription()!.sdp));
    c.location = r.location;
    pc.setRemoteDescription(r.answer, 'answer');
    await opened(pc, () => dc.isOpen(), `subscriber ${id} control channel`);
  } catch (err) {
    pc.close();
    throw err;
  }
  return c;
}

async function leave(cfg: CohortConfig, c: Conn): Promise<void> {
  try {
    if (cfg.mode === 'delete' && c.location) {
      await fetch(new URL(c.location, cfg.url), { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    }
    if (cfg.mode === 'stop' && c.dc.isOpen()) c.dc.sendMessage(controlMessage.stop());
    c.pc.close();
  } catch {
    // closed already
  }
}

async function main(cfg: CohortConfig): Promise<void> {
  const failures: string[] = [];
  const sources: { tick(ms: number): void }[] = [];
  const pubs: Conn[] = [];
  const subs: Conn[] = [];
  await Promise.all(
    Array.from({ length: cfg.publishers }, (_, i) =>
      retryConnect(`p${i}+soak`, (id) => publishOnce(cfg, id, sources))
        .then((c) => void pubs.push(c))
        .catch((e) => void failures.push(`pub ${i}: ${(e as Error).message}`)),
    ),
  );
  const t0 = performance.now();
  const timer = setInterval(() => {
    const el = performance.now() - t0;
    for (const s of sources) s.tick(el);
  }, 5);
  await Promise.all(
    Array.from({ length: cfg.subscribers }, (_, i) =>
      retryConnect(`s${i}+soak`, (id) => subscribeOnce(cfg, id))
        .then((c) => void subs.push(c))
        .catch((e) => void failures.push(`sub ${i}: ${(e as Error).message}`)),
    ),
  );
  process.send?.({ type: 'up', publishers: pubs.length, subscribers: subs.length, failures } satisfies CohortUp);
  await new Promise((r) => setTimeout(r, cfg.lifetimeMs));
  // audio + video of each publisher
  const want = pubs.length * 2;
  const done: CohortDone = {
    type: 'done',
    receivingAll: subs.filter((s) => s.ssrcs.size >= want).length,
    packets: subs.reduce((a, s) => a + s.packets, 0),
  };
  process.send?.(done);
  if (cfg.mode === 'kill') {
    await new Promise((r) => setTimeout(r, 60_000)); // the parent's SIGKILL comes first
    process.exit(3);
  }
  clearInterval(timer);
  await Promise.all([...pubs, ...subs].map((c) => leave(cfg, c)));
  // let the closes reach the wire before the process (and its engine) goes
  await new Promise((r) => setTimeout(r, 300));
  process.exit(0);
}

process.on('disconnect', () => process.exit(0));
const cfg = JSON.parse(process.argv[2] ?? '{}') as CohortConfig;
main(cfg).catch((err) => {
  process.stderr.write(`soak cohort: ${String(err)}\n`);
  process.exit(1);
});
