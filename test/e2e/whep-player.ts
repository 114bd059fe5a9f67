/**
 * A pure WHEP player in Chromium, written here and not taken from our SDK: a plain
 * RTCPeerConnection with recvonly transceivers and no data channel, signalled with
 * nothing but HTTP (POST offer, PATCH trickle-ice-sdpfrag, DELETE). Also the GStreamer
 * WHIP publisher process, and small HTTP/metrics helpers for the WHIP/WHEP tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Page } from 'playwright-core';
import { SDP_CONTENT_TYPE, TRICKLE_ICE_CONTENT_TYPE } from 'weever-protocol';
import { ROOT, type ServerProcess, waitFor } from './harness.js';

export interface PlayOptions {
  kinds?: ('audio' | 'video')[];
  /** which video codecs the player offers (codec preferences); default all Chromium has */
  video?: 'all' | 'vp8-only' | 'h264-only';
  /** POST the offer at once and send candidates by PATCH (else wait for gathering: non-trickle) */
  trickle?: boolean;
  token?: string;
}

export interface Played {
  status: number;
  text: string;
  location?: string;
  etag?: string;
  retryAfter?: string;
  /** POST sent → response received, in ms (measured in the page) */
  postMs?: number;
}

export interface PlayerView {
  videoFrames: number;
  audioPackets: number;
  /** mimeType of the video codec being received, e.g. video/H264 */
  videoCodec?: string;
  /** width of the last decoded video frame (a simulcast publisher: the layer received) */
  videoWidth: number;
  /** `<stream> <track>` of every m-line of the answer, in order */
  msids: string[];
  directions: string[];
  iceState: string;
  /** status of each PATCH the player sent */
  patches: number[];
}

/** Starts a WHEP player in `page` (window.player); resolves with the POST's outcome. */
export async function whepPlay(page: Page, url: string, opts: PlayOptions = {}): Promise<Played> {
  // the protocol's media types, passed in: the page runs none of our modules
  const types = { sdp: SDP_CONTENT_TYPE, trickle: TRICKLE_ICE_CONTENT_TYPE };
  return page.evaluate(
    async ({ url, opts, types }) => {
      const pc = new RTCPeerConnection();
      const patches: number[] = [];
      const pending: RTCIceCandidate[] = [];
      let location: string | undefined;
      let etag: string | undefined;
      const sendCandidates = async () => {
        if (!location || pending.length === 0) return;
        const local = pc.localDescription!.sdp;
        const ufrag = /a=ice-ufrag:(\S+)/.exec(local)![1];
        const pwd = /a=ice-pwd:(\S+)/.exec(local)![1];
        const cands = pending.splice(0);
        // RFC 8840 fragment: credentials, then per m-line its mid and candidates.
        let frag = `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\n`;
        for (const c of cands) frag += `m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:${c.sdpMid}\r\na=${c.candidate}\r\n`;
        const r = await fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': types.trickle, 'If-Match': etag! },
          body: frag,
        });
        patches.push(r.status);
      };
      pc.onicecandidate = (e) => {
        if (!e.candidate?.candidate) return;
        pending.push(e.candidate);
        void sendCandidates();
      };
      for (const kind of opts.kinds ?? ['audio', 'video']) {
        const t = pc.addTransceiver(kind, { direction: 'recvonly' });
        if (kind === 'video' && opts.video && opts.video !== 'all') {
          const want = opts.video === 'vp8-only' ? 'video/VP8' : 'video/H264';
          const codecs = RTCRtpReceiver.getCapabilities('video')!.codecs.filter((c) => c.mimeType === want || c.mimeType === 'video/rtx');
          t.setCodecPreferences(codecs);
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      if (!opts.trickle) {
        await new Promise<void>((resolve) => {
          if (pc.iceGatheringState === 'complete') resolve();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        });
        pending.length = 0; // all in the offer
      }
      const headers: Record<string, string> = { 'Content-Type': types.sdp };
      if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
      const t0 = performance.now();
      const r = await fetch(url, { method: 'POST', headers, body: pc.localDescription!.sdp });
      const text = await r.text();
      const postMs = Math.round(performance.now() - t0);
      if (r.status !== 201) {
        pc.close();
        return { status: r.status, text, retryAfter: r.headers.get('Retry-After') ?? undefined };
      }
      location = new URL(r.headers.get('Location')!, url).href;
      etag = r.headers.get('ETag') ?? undefined;
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
      (window as unknown as { player: unknown }).player = { pc, location, etag, patches };
      await sendCandidates();
      return { status: r.status, text, location, etag, postMs };
    },
    { url, opts, types },
  );
}

/** What the player in `page` receives right now. */
export async function playerView(page: Page): Promise<PlayerView> {
  return page.evaluate(async () => {
    const { pc, patches } = (window as unknown as { player: { pc: RTCPeerConnection; patches: number[] } }).player;
    const stats = await pc.getStats();
    let videoFrames = 0;
    let audioPackets = 0;
    let videoCodec: string | undefined;
    let videoWidth = 0;
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        videoFrames += s.framesDecoded ?? 0;
        if (s.frameWidth) videoWidth = s.frameWidth;
        if (s.codecId && (s.framesDecoded ?? 0) > 0) videoCodec = stats.get(s.codecId)?.mimeType;
      } else audioPackets += s.packetsReceived ?? 0;
    });
    const sections = (pc.remoteDescription?.sdp ?? '').split('\nm=').slice(1);
    return {
      videoFrames,
      audioPackets,
      videoCodec,
      videoWidth,
      msids: sections.map((sec) => /^a=msid:(\S+ \S+)/m.exec(sec)?.[1] ?? ''),
      directions: sections.map((sec) => /^a=(sendonly|recvonly|sendrecv|inactive)/m.exec(sec)?.[1] ?? ''),
      iceState: pc.iceConnectionState,
      patches: [...patches],
    };
  });
}

/** Waits until the player has decoded at least `minFrames` more video frames than `from`. */
export async function framesIncrease(page: Page, from: number, minFrames = 10, what = 'player video decoding'): Promise<PlayerView> {
  return waitFor(
    what,
    async () => {
      const v = await playerView(page);
      return v.videoFrames >= from + minFrames ? v : undefined;
    },
    20_000,
  );
}

/** DELETE of the player's session, then its connection is closed. */
export async function stopPlayer(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const { pc, location } = (window as unknown as { player: { pc: RTCPeerConnection; location: string } }).player;
    const r = await fetch(location, { method: 'DELETE' });
    pc.close();
    return r.status;
  });
}

export const WHIP_CLIENT = join(ROOT, 'test', 'clients', 'whip_client.py');

export interface WhipProcess {
  proc: ChildProcess;
  events: Record<string, unknown>[];
  /** SIGTERM: the client sends DELETE and exits */
  stop(): Promise<number | null>;
}

/** Starts the GStreamer webrtcbin WHIP publisher; resolves once its POST got an answer. */
export async function startWhipClient(url: string, args: string[] = []): Promise<WhipProcess> {
  // Debian's python3 (python3-gst-1.0 lives there), not whatever python3 is first on PATH.
  const proc = spawn('/usr/bin/python3', [WHIP_CLIENT, '--url', url, '--duration', '120', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'text', line });
    }
  });
  const client: WhipProcess = {
    proc,
    events,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const [code] = (await once(proc, 'exit')) as [number | null];
      return code;
    },
  };
  await waitFor(
    'WHIP client POST answered',
    () => {
      if (proc.exitCode !== null) throw new Error(`WHIP client exited ${proc.exitCode}: ${JSON.stringify(events)} ${stderr.join('')}`);
      return events.find((e) => e.event === 'created' || e.event === 'refused' || e.event === 'error');
    },
    20_000,
  );
  const bad = events.find((e) => e.event === 'refused' || e.event === 'error');
  if (bad) {
    await client.stop();
    throw new Error(`WHIP client failed: ${JSON.stringify(bad)}`);
  }
  return client;
}

/** `sfu_pod_peer_count` samples of `room` that are not zero. */
export async function liveGauges(server: ServerProcess, room: string): Promise<string[]> {
  const text = await (await fetch(`${server.privateUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('sfu_pod_peer_count{') && l.includes(`room="${room}"`))
    .filter((l) => Number(l.slice(l.lastIndexOf(' ') + 1)) !== 0);
}
