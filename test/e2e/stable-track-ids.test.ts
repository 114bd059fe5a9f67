/**
 * Track ids survive a track that ends and comes back (issue 13). A publisher numbers its
 * tracks monotonically (`video0`, then `video1` after the first video track was ended by
 * 10 s of silence), so a subscriber that joins later must subscribe to `video1`, the track
 * that has a sender, and decode it. Scenario, once for the suite: a Chromium publisher
 * (plain RTCPeerConnection written here, with a `control` channel) turns its camera off with
 * `sender.replaceTrack(null)` for 12 s (the server ends `video0`) and back on (the server
 * publishes `video1`); then a control-channel subscriber, and a WHEP player of that
 * publisher, join and must decode video.
 *
 * The page code here is plain RTCPeerConnection + fetch, not the SDK or public/demo.js:
 * the publisher needs its sender for replaceTrack and the subscriber its last offer's msids.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { serverAndBrowser, waitFor } from './harness.js';
import { playerView, stopPlayer, whepPlay } from './whep-player.js';

const ROOM = 'stable-ids';
/** the camera stays off this long: longer than the server's 10 s track silence limit */
const CAMERA_OFF_MS = 12_000;
/** how long a late joiner gets to decode its first frames */
const DECODE_WITHIN_MS = 15_000;
const MIN_FRAMES = 10;

interface LogLine {
  msg?: string;
  peer?: string;
  track?: string;
  tracks?: string[];
}

interface PageView {
  /** video frames decoded and audio packets received, summed over inbound-rtp */
  videoFrames: number;
  videoPackets?: number;
  audioPackets: number;
  /** `<stream> <track>` of each active m-line of the server's last offer (subscriber) or answer (WHEP) */
  msids: string[];
}

/** Opens a page on the server's origin (no client library loaded). */
async function blankPage(ctx: { server: { publicUrl: string }; browser: import('playwright-core').Browser }): Promise<Page> {
  const page = await ctx.browser.newPage();
  await page.goto(`${ctx.server.publicUrl}/`);
  return page;
}

/** In the page: publishes fake camera + mic as `fullId` (non-trickle, with a `control` channel) as `window.pub`. */
async function publish(page: Page, room: string, fullId: string): Promise<void> {
  await page.evaluate(
    async ({ room, fullId }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      const pc = new RTCPeerConnection();
      const dc = pc.createDataChannel('control');
      const messages: string[] = [];
      dc.onmessage = (e) => messages.push(String(e.data).slice(0, 200));
      for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((r) => {
        if (pc.iceGatheringState === 'complete') r();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      });
      const res = await fetch(`/pub/${encodeURIComponent(room)}/${encodeURIComponent(fullId)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: pc.localDescription!.sdp,
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`publish: ${res.status} ${text}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
      const location = new URL(res.headers.get('Location')!, window.location.href).href;
      (window as unknown as { pub: unknown }).pub = { pc, dc, stream, messages, location };
    },
    { room, fullId },
  );
}

/** In the page: the publisher's camera off (`replaceTrack(null)`) or on again (`replaceTrack(track)`). */
async function camera(page: Page, on: boolean): Promise<void> {
  await page.evaluate(async (on) => {
    const { pc, stream } = (window as unknown as { pub: { pc: RTCPeerConnection; stream: MediaStream } }).pub;
    const sender = pc.getTransceivers().find((t) => t.receiver.track.kind === 'video')!.sender;
    await sender.replaceTrack(on ? stream.getVideoTracks()[0]! : null);
  }, on);
}

/** In the page: a subscriber over the control channel only, answering every SDP_OFFER, as `window.sub`. */
async function subscribe(page: Page, room: string, fullId: string): Promise<void> {
  await page.evaluate(
    async ({ room, fullId }) => {
      const pc = new RTCPeerConnection();
      const dc = pc.createDataChannel('control');
      const sub = { pc, dc, messages: [] as string[], offers: [] as string[], errors: [] as string[], location: '' };
      let queue = Promise.resolve();
      dc.onmessage = (e) => {
        const msg = String(e.data);
        sub.messages.push(msg.startsWith('SDP_OFFER ') ? 'SDP_OFFER' : msg);
        if (!msg.startsWith('SDP_OFFER ')) return;
        const sdp = msg.slice('SDP_OFFER '.length);
        queue = queue
          .then(async () => {
            await pc.setRemoteDescription({ type: 'offer', sdp });
            sub.offers.push(sdp);
            await pc.setLocalDescription(await pc.createAnswer());
            dc.send(`SDP_ANSWER ${pc.localDescription!.sdp}`);
          })
          .catch((err) => {
            sub.errors.push(String(err));
          });
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((r) => {
        if (pc.iceGatheringState === 'complete') r();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      });
      const res = await fetch(`/sub/${encodeURIComponent(room)}/${encodeURIComponent(fullId)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: pc.localDescription!.sdp,
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${text}`);
      sub.location = new URL(res.headers.get('Location')!, window.location.href).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
      (window as unknown as { sub: unknown }).sub = sub;
    },
    { room, fullId },
  );
}

/** What the page's subscriber receives: inbound-rtp sums and the msids of the server's last offer. */
async function subscriberView(page: Page): Promise<PageView & { messages: string[]; errors: string[] }> {
  return page.evaluate(async () => {
    const { pc, messages, errors } = (window as unknown as { sub: { pc: RTCPeerConnection; messages: string[]; errors: string[] } }).sub;
    let videoFrames = 0;
    let videoPackets = 0;
    let audioPackets = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        videoFrames += s.framesDecoded ?? 0;
        videoPackets += s.packetsReceived ?? 0;
      } else audioPackets += s.packetsReceived ?? 0;
    });
    const msids: string[] = [];
    for (const section of (pc.remoteDescription?.sdp ?? '').split('\nm=').slice(1)) {
      const msid = /^a=msid:(\S+ \S+)/m.exec(section)?.[1];
      if (msid && !/^a=inactive/m.test(section)) msids.push(msid);
    }
    return { videoFrames, videoPackets, audioPackets, msids, messages: [...messages], errors: [...errors] };
  });
}

/** Polls `view` until video frames decode; returns the last view either way (the caller asserts with the figures). */
async function decodeOrLast<V extends PageView>(view: () => Promise<V>): Promise<{ view: V; decoded: boolean; ms: number }> {
  const t0 = Date.now();
  let last = await view();
  try {
    await waitFor(
      `${MIN_FRAMES} video frames decoded`,
      async () => {
        last = await view();
        return last.videoFrames >= MIN_FRAMES;
      },
      DECODE_WITHIN_MS,
      250,
    );
    return { view: last, decoded: true, ms: Date.now() - t0 };
  } catch {
    return { view: last, decoded: false, ms: Date.now() - t0 };
  }
}

describe('stable track ids: a video track that ended and came back (issue 13)', () => {
  const ctx = serverAndBrowser(['--keyframe-interval', '3600']);
  const pubId = 'cam+stable1';
  const pages: Page[] = [];
  const logs = () => ctx.server.logs.map((l) => JSON.parse(l) as LogLine);
  const media = async () => {
    const r = await fetch(`${ctx.server.privateUrl}/debug/room/${ROOM}`);
    return JSON.stringify(((await r.json()) as { media: Record<string, unknown> }).media[pubId]);
  };

  before(async () => {
    const pub = await blankPage(ctx);
    pages.push(pub);
    await publish(pub, ROOM, pubId);
    await waitFor(
      'publisher announced audio0 + video0',
      () => logs().find((l) => l.msg === 'publishing' && l.peer === pubId && l.tracks?.includes('video0')),
      20_000,
    );
    console.error(`publisher ${pubId} live; store media ${await media()}`);

    const off = Date.now();
    await camera(pub, false);
    await waitFor(
      'video0 ended by the server (10 s silent)',
      () => logs().find((l) => l.msg === 'track silent, ended' && l.peer === pubId && l.track === 'video0'),
      CAMERA_OFF_MS + 5_000,
      250,
    );
    console.error(`video0 ended ${Date.now() - off} ms after replaceTrack(null); store media ${await media()}`);
    // the scenario itself: the camera stays off for 12 s
    await new Promise((r) => setTimeout(r, Math.max(0, off + CAMERA_OFF_MS - Date.now())));
    const on = Date.now();
    await camera(pub, true);
    await waitFor(
      'video1 published after the camera came back, and the store showing video again',
      async () =>
        logs().some((l) => l.msg === 'publishing' && l.peer === pubId && l.tracks?.includes('video1')) &&
        ((await media()) ?? '').includes('"video1"'),
      15_000,
    );
    console.error(`video1 published ${Date.now() - on} ms after replaceTrack(track); store media ${await media()}`);
  });

  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
  });

  it('a control-channel subscriber joining after the comeback subscribes to video1 and decodes it', async (t) => {
    const page = await blankPage(ctx);
    pages.push(page);
    await subscribe(page, ROOM, 'late+sub1');
    const offered = await waitFor(
      "an offer with the publisher's video",
      async () => {
        const v = await subscriberView(page);
        return v.msids.some((m) => m.startsWith(`${pubId} video`)) ? v : undefined;
      },
      15_000,
    );
    const { view, decoded, ms } = await decodeOrLast(() => subscriberView(page));
    const figures = `msids ${JSON.stringify(view.msids)}; video frames decoded ${view.videoFrames}, video packets ${view.videoPackets}, audio packets ${view.audioPackets} after ${ms} ms; messages ${JSON.stringify(view.messages)}; errors ${JSON.stringify(view.errors)}`;
    t.diagnostic(`subscriber: ${figures}`);
    console.error(`subscriber: ${figures}`);
    assert.deepEqual(offered.errors, []);
    const videoIds = view.msids.filter((m) => m.startsWith(`${pubId} video`));
    assert.ok(decoded, `no video decoded on ${videoIds.join(', ')} within ${DECODE_WITHIN_MS} ms (${figures})`);
    assert.deepEqual(videoIds, [`${pubId} video1`], 'the offer names the track that has a sender');
  });

  it('a WHEP player of the publisher joining after the comeback decodes video', async (t) => {
    const page = await blankPage(ctx);
    pages.push(page);
    const played = await whepPlay(page, `${ctx.server.publicUrl}/whep/${ROOM}/${encodeURIComponent(pubId)}`);
    assert.equal(played.status, 201, played.text);
    try {
      const { view, decoded, ms } = await decodeOrLast(() => playerView(page));
      const figures = `msids ${JSON.stringify(view.msids)}; directions ${JSON.stringify(view.directions)}; video frames decoded ${view.videoFrames}, audio packets ${view.audioPackets} after ${ms} ms; ICE ${view.iceState}`;
      t.diagnostic(`WHEP player: ${figures}`);
      console.error(`WHEP player: ${figures}`);
      assert.ok(decoded, `WHEP player decoded no video within ${DECODE_WITHIN_MS} ms (${figures})`);
    } finally {
      await stopPlayer(page).catch(() => {});
    }
  });
});
