/**
 * Active speaker with real Chromium and real media (docs/protocol.md, `ACTIVE_SPEAKERS`):
 * two publishers in a room — one sends a tone from an AudioContext oscillator that starts
 * silent, the other the fake microphone muted (`track.enabled = false`: it sends silence) —
 * and a subscriber using the SDK's `activeSpeakers` event. When the tone starts, the
 * subscriber must be told within 1 s that its publisher speaks (the figure is printed);
 * the muted one is never named; when the tone stops the speaker drops out. On one
 * instance, and across two (publishers on A, subscriber on B, over NATS).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openPage, type ServerProcess, startServer, waitFor } from './harness.js';
import { type Cluster, startCluster } from './services.js';

/** How long after the tone starts the subscriber must name its publisher. */
const WITHIN_MS = 1000;

interface SpeakerEvent {
  at: number;
  speakers: { fullId: string; level: number }[];
}

/** Publishes a tone (silent until `startTone`) or the fake mic muted; returns the full id. */
async function publishAudio(page: Page, room: string, id: string, kind: 'tone' | 'muted'): Promise<string> {
  return page.evaluate(
    async ({ room, id, kind }) => {
      const w = window as unknown as {
        weever: { publish(o: object): Promise<{ fullId: string; pc: RTCPeerConnection }> };
        pub?: { fullId: string; pc: RTCPeerConnection; stop(): Promise<void> };
        tone?: GainNode;
      };
      let stream: MediaStream;
      if (kind === 'tone') {
        const ctx = new AudioContext();
        await ctx.resume();
        const osc = ctx.createOscillator();
        osc.frequency.value = 440;
        const gain = ctx.createGain();
        gain.gain.value = 0;
        const dest = ctx.createMediaStreamDestination();
        osc.connect(gain).connect(dest);
        osc.start();
        w.tone = gain;
        stream = dest.stream;
      } else {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        for (const t of stream.getAudioTracks()) t.enabled = false;
      }
      w.pub = (await w.weever.publish({ room, id, stream })) as typeof w.pub;
      return w.pub!.fullId;
    },
    { room, id, kind },
  );
}

/** The server's answer to the publisher: its audio m-line. */
async function answeredAudio(page: Page): Promise<string> {
  return page.evaluate(() => {
    const w = window as unknown as { pub: { pc: RTCPeerConnection } };
    const sdp = w.pub.pc.remoteDescription?.sdp ?? '';
    return sdp.split(/\r\n(?=m=)/).find((s) => s.startsWith('m=audio')) ?? '';
  });
}

/** Starts (gain 0.5) or stops the tone; returns the page's wall clock at that moment. */
async function setTone(page: Page, on: boolean): Promise<number> {
  return page.evaluate((on) => {
    const w = window as unknown as { tone: GainNode };
    w.tone.gain.value = on ? 0.5 : 0;
    return Date.now();
  }, on);
}

/** A subscriber with the SDK's WeeverClient, recording every `activeSpeakers` event. */
async function subscribeSdk(page: Page, room: string, id: string): Promise<void> {
  await page.evaluate(
    async ({ room, id }) => {
      const sdk = (await import('/sdk/weever.js' as string)) as typeof import('../../dist/client/weever.js');
      const w = window as unknown as { client: InstanceType<typeof sdk.WeeverClient>; events: SpeakerEvent[]; joined: string[] };
      w.events = [];
      w.joined = [];
      w.client = new sdk.WeeverClient({ room, id, reconnect: false });
      w.client.on('publisherJoined', (p) => w.joined.push(p.fullId));
      w.client.on('activeSpeakers', ({ speakers }) =>
        w.events.push({ at: Date.now(), speakers: speakers.map((s) => ({ fullId: s.fullId, level: s.level })) }),
      );
      await w.client.subscribe();
    },
    { room, id },
  );
}

async function subscriberState(page: Page): Promise<{ events: SpeakerEvent[]; joined: string[] }> {
  return page.evaluate(() => {
    const w = window as unknown as { events: SpeakerEvent[]; joined: string[] };
    return { events: w.events, joined: w.joined };
  });
}

/**
 * The scenario on whichever instances the pages are on: both publishers join silent; the
 * tone starts, is named within 1 s, the muted one never; the tone stops, the speaker drops out.
 */
async function scenario(pubA: Page, pubB: Page, sub: Page, room: string, label: string): Promise<void> {
  const toneId = await publishAudio(pubA, room, 'tone', 'tone');
  const mutedId = await publishAudio(pubB, room, 'muted', 'muted');
  for (const p of [pubA, pubB]) {
    assert.match(await answeredAudio(p), /a=extmap:\d+ urn:ietf:params:rtp-hdrext:ssrc-audio-level/, 'the answer keeps the audio level');
  }
  await subscribeSdk(sub, room, 'listener');
  await waitFor('both publishers joined at the subscriber', async () => (await subscriberState(sub)).joined.length === 2);
  // Both silent for a second: nobody is named.
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual((await subscriberState(sub)).events, [], 'no speaker while both are silent');

  const started = await setTone(pubA, true);
  const named = await waitFor(
    'the tone publisher named as speaker',
    async () => (await subscriberState(sub)).events.find((e) => e.speakers[0]?.fullId === toneId),
    5000,
    20,
  );
  const latency = named.at - started;
  console.log(
    `[${label}] activeSpeakers named the publisher with sound ${latency} ms after the sound started (level ${named.speakers[0]!.level} dBov)`,
  );
  assert.ok(latency < WITHIN_MS, `named within ${WITHIN_MS} ms (took ${latency} ms)`);

  // Steady tone for a while: no more messages (the ranking does not change).
  await new Promise((r) => setTimeout(r, 1500));
  const steady = (await subscriberState(sub)).events;
  assert.equal(steady.length, 1, `one message while the ranking stays (${JSON.stringify(steady)})`);

  const stopped = await setTone(pubA, false);
  const dropped = await waitFor(
    'the speaker dropping out after the tone stops',
    async () => (await subscriberState(sub)).events.find((e) => e.at >= stopped && e.speakers.length === 0),
    5000,
    20,
  );
  console.log(`[${label}] the speaker dropped out ${dropped.at - stopped} ms after the sound stopped`);

  const { events } = await subscriberState(sub);
  for (const e of events) assert.ok(!e.speakers.some((s) => s.fullId === mutedId), 'the muted publisher is never named');
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i]!.at - events[i - 1]!.at >= 200, `at most ~4 messages a second (${JSON.stringify(events)})`);
  }
}

async function leave(pages: Page[]): Promise<void> {
  for (const p of pages) {
    await p
      .evaluate(async () => {
        const w = window as unknown as { client?: { close(): Promise<void> }; pub?: { stop(): Promise<void> } };
        await w.client?.close();
        await w.pub?.stop();
      })
      .catch(() => {});
    await p.close();
  }
}

describe('active speaker on one instance', () => {
  let server: ServerProcess;
  let browser: Browser;
  const pages: Page[] = [];
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
  afterEach(async () => {
    await leave(pages.splice(0));
    await waitFor('the instance holds nothing', async () => {
      const r = await server.resources();
      return r.peers === 0 && r.bus.trackSinks === 0 && r.bus.roomSubscriptions === 0 && r.bus.trackChannels === 0;
    });
  });

  it('names the publisher with sound within 1 s, never the muted one, and drops it when it stops', async () => {
    for (let i = 0; i < 3; i++) pages.push(await openPage(browser, server));
    await scenario(pages[0]!, pages[1]!, pages[2]!, 'speakers', 'one instance');
  });
});

describe('active speaker across instances', () => {
  let cluster: Cluster;
  let browser: Browser;
  before(async () => {
    cluster = await startCluster(2);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('publishers on A, subscriber on B: B ranks from the audio it takes over NATS', async () => {
    const [a, b] = cluster.servers as [ServerProcess, ServerProcess];
    const pages = [await openPage(browser, a), await openPage(browser, a), await openPage(browser, b)];
    try {
      await scenario(pages[0]!, pages[1]!, pages[2]!, 'speakers-across', 'across instances');
      const rb = await b.resources();
      assert.equal(rb.bus.remoteTrackSubscriptions, 2, 'B takes both audio tracks over NATS');
    } finally {
      await leave(pages);
    }
    await waitFor('B holds nothing', async () => {
      const r = await b.resources();
      return r.peers === 0 && r.bus.trackSinks === 0 && r.bus.remoteTrackSubscriptions === 0;
    });
  });
});
