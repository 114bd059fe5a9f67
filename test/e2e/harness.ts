/**
 * Test harness: a real server process and real headless Chromium with fake camera
 * and microphone. Nothing here is faked: the browser speaks WebRTC to the server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Connection } from '../../dist/client/weever.js';

/** The repository root (this file runs from dist/test/e2e/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
/**
 * The Node.js binary that runs the server under test: WEEVER_SERVER_NODE when set (e.g.
 * another LTS), else the one running the tests.
 */
export const SERVER_NODE = process.env.WEEVER_SERVER_NODE || process.execPath;

export interface ServerProcess {
  proc: ChildProcess;
  publicUrl: string;
  privateUrl: string;
  logs: string[];
  stop(): Promise<number | null>;
  /** kill -9: no goodbye to anyone */
  kill(): Promise<void>;
  resources(): Promise<Resources>;
  list(role: 'pub' | 'sub', room: string): Promise<string[]>;
}

export interface Resources {
  peers: number;
  timers: number;
  bus: {
    trackChannels: number;
    trackSinks: number;
    roomSubscriptions: number;
    dataSubscriptions: number;
    keyframeSubscriptions: number;
    layerWantsSubscriptions: number;
    remoteTrackSubscriptions?: number;
    nats?: Record<string, number>;
  };
  storeKeys: number;
  traffic: { receivedPackets: number; forwardedPackets: number; forwardedBytes: number };
  cpuMicros: number;
  rssBytes: number;
}

/** Starts `weever-streaming` on free ports of 127.0.0.1 and waits until it listens. */
export async function startServer(
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  prefix: string[] = [],
  nodeFlags: string[] = [],
): Promise<ServerProcess> {
  // `prefix` wraps the server command, e.g. ['taskset', '-c', '0'] to pin it to a core.
  const argv = [...prefix, SERVER_NODE, ...nodeFlags, CLI, '--host', '127.0.0.1', '--port', '0', '--private-port', '0', '--debug', ...args];
  const proc = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, WEEVER_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const lines = createInterface({ input: proc.stdout! });
  const ready = new Promise<{ publicUrl: string; privateUrl: string }>((resolve, reject) => {
    lines.on('line', (line) => {
      logs.push(line);
      if (line.includes('"weever-streaming listening"')) {
        const j = JSON.parse(line) as { public: string; private: string };
        resolve({ publicUrl: j.public, privateUrl: j.private });
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr.join('')}`)));
  });
  const { publicUrl, privateUrl } = await ready;
  const server: ServerProcess = {
    proc,
    publicUrl,
    privateUrl,
    logs,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGINT'); // closes the peers at once (SIGTERM would wait for them: drain)
      const [code] = (await once(proc, 'exit')) as [number | null];
      return code;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    },
    async resources() {
      // a dead server is a failure worth its own message (exit code, signal, last stderr)
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`server died (exit ${proc.exitCode}, signal ${proc.signalCode}): ${stderr.join('').slice(-2000)}`);
      }
      const r = await fetch(`${privateUrl}/debug/resources`);
      return (await r.json()) as Resources;
    },
    async list(role, room) {
      const r = await fetch(`${privateUrl}/list/${role}/${encodeURIComponent(room)}`, { headers: { Accept: 'application/json' } });
      return (await r.json()) as string[];
    },
  };
  return server;
}

/** A browser whose process the test can kill -9 (no goodbye on the wire). */
export async function launchKillableBrowser(): Promise<{ browser: Browser; kill(): void }> {
  const server = await chromium.launchServer(launchOptions());
  const browser = await chromium.connect(server.wsEndpoint());
  return { browser, kill: () => server.process().kill('SIGKILL') };
}

/** `extraArgs`: more Chromium switches, e.g. `--ignore-certificate-errors` for a self-signed TURN server. */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  const o = launchOptions();
  return chromium.launch({ ...o, args: [...o.args, ...extraArgs] });
}

function launchOptions() {
  return {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      // Plain host candidates instead of mDNS names the server cannot resolve.
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  };
}

/** A page on the server's origin with the tests' page client (`pageClient`) as `window.weever`. */
export async function openPage(browser: Browser, server: ServerProcess): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.publicUrl}/`);
  await page.evaluate(pageClient);
  return page;
}

type Sdk = typeof import('../../dist/client/weever.js');

/**
 * Runs in the page (serialised by Playwright, so it uses nothing from this module): loads
 * the SDK from `/sdk/weever.js` and sets `window.weever` to a thin client on the SDK's
 * `Connection` that keeps what the tests assert on (every control message, PUB_JOIN /
 * PUB_LEFT / ERROR, offers, streams) and exposes the wire: the `control` channel for raw
 * messages, `STOP` alone (`stop()`) or `DELETE` alone (`remove()`), answers held back
 * (`holdAnswers` + `release()`) to exercise coalescing. Control messages are encoded and
 * parsed by weever-protocol, which the SDK bundle re-exports.
 */
export async function pageClient(): Promise<void> {
  const sdk = (await import('/sdk/weever.js' as string)) as Sdk;
  /** Sends STOP and closes once the server has closed the channel (or after 1 s): closing at once could drop the STOP. */
  const stop = async (conn: Connection): Promise<void> => {
    if (conn.dc.readyState === 'open') {
      conn.dc.send(sdk.control.stop());
      await new Promise((resolve) => {
        conn.dc.addEventListener('close', resolve, { once: true });
        setTimeout(resolve, 1000);
      });
    }
    conn.pc.close();
  };
  const remove = async (conn: Connection): Promise<void> => {
    if (conn.session) await fetch(conn.session, { method: 'DELETE' });
    conn.pc.close();
  };
  interface PublishOptions {
    room: string;
    id: string;
    stream: MediaStream;
    token?: string;
    simulcast?: boolean;
  }
  interface SubscribeOptions {
    room: string;
    id: string;
    token?: string;
    onStream?(pubFullId: string, stream: MediaStream): void;
    onLeft?(pubFullId: string): void;
    holdAnswers?: boolean;
  }
  /** Publishes `stream` as `<id>+<random>`; resolves once the answer is applied and the channel is open. */
  async function publish({ room, id, stream, token, simulcast }: PublishOptions) {
    const messages: string[] = [];
    const conn = await sdk.Connection.open({
      url: location.origin,
      role: 'pub',
      room,
      fullId: sdk.newFullId(id),
      token,
      tracks: stream.getTracks(),
      stream,
      simulcast,
      handlers: { message: (text) => void messages.push(text) },
    });
    return {
      conn,
      pc: conn.pc,
      dc: conn.dc,
      fullId: conn.fullId,
      session: conn.session,
      messages,
      /** our SDP_OFFER on `control`, the server's SDP_ANSWER back */
      addTrack: (track: MediaStreamTrack) => conn.addTrack(track),
      stop: () => stop(conn),
      remove: () => remove(conn),
    };
  }
  /** Subscribes as `<id>+<random>`; the SDK answers every server offer in order. */
  async function subscribe({ room, id, token, onStream, onLeft, holdAnswers = false }: SubscribeOptions) {
    const state = {
      offers: 0,
      joins: [] as string[],
      lefts: [] as string[],
      errors: [] as string[],
      messages: [] as string[],
      streams: new Map<string, MediaStream>(),
    };
    let release = () => {};
    const held = holdAnswers
      ? new Promise<void>((resolve) => {
          release = resolve;
        })
      : undefined;
    const conn = await sdk.Connection.open({
      url: location.origin,
      role: 'sub',
      room,
      fullId: sdk.newFullId(id),
      token,
      handlers: {
        // Runs before the SDK handles each message, in order: the first one waits here until release().
        async message(text) {
          await held;
          state.messages.push(text.slice(0, 200));
          const m = sdk.parseServerMessage(text);
          if (m.ok && m.command.cmd === 'SDP_OFFER') state.offers++;
        },
        join: (pub) => void state.joins.push(pub),
        left(pub) {
          state.lefts.push(pub);
          state.streams.delete(pub);
          onLeft?.(pub);
        },
        error: (err) => void state.errors.push(err.reason),
        track(stream) {
          const known = state.streams.has(stream.id);
          state.streams.set(stream.id, stream);
          if (!known) onStream?.(stream.id, stream);
        },
      },
    });
    return {
      conn,
      pc: conn.pc,
      dc: conn.dc,
      fullId: conn.fullId,
      session: conn.session,
      state,
      /** m-line → publisher full id, from the a=msid lines of the last offer the SDK applied */
      streamOfMid: () => Object.fromEntries(conn.streamOfMid),
      release: () => release(),
      stop: () => stop(conn),
      remove: () => remove(conn),
    };
  }
  /** Per inbound track: kind, stream (publisher full id), frames decoded, packets received. */
  async function inboundStats(pc: RTCPeerConnection) {
    const stats = await pc.getStats();
    const out: InboundStat[] = [];
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const t = pc.getTransceivers().find((x) => x.mid === s.mid);
      out.push({
        kind: s.kind,
        mid: s.mid,
        trackIdentifier: s.trackIdentifier,
        packetsReceived: s.packetsReceived ?? 0,
        framesDecoded: s.framesDecoded ?? 0,
        frameWidth: s.frameWidth ?? 0,
        freezeCount: s.freezeCount ?? 0,
        pliCount: s.pliCount ?? 0,
        totalFreezesDuration: s.totalFreezesDuration ?? 0,
        direction: t?.currentDirection ?? null,
      });
    });
    return out;
  }
  (window as unknown as W).weever = { publish, subscribe, inboundStats };
}

/** Polls `fn` until it returns a truthy value, or fails with `what` after `ms`. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, ms = 15_000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/* Page-side helpers: each runs inside the browser through the page client. */
type W = {
  weever: {
    publish(o: object): Promise<{ fullId: string }>;
    subscribe(o: object): Promise<{ fullId: string; state: SubState }>;
    inboundStats(pc: RTCPeerConnection): Promise<InboundStat[]>;
  };
  pub?: { fullId: string; stop(): void; remove(): Promise<void>; messages: string[]; pc: RTCPeerConnection };
  sub?: {
    fullId: string;
    state: SubState;
    streamOfMid(): Record<string, string>;
    stop(): void;
    remove(): Promise<void>;
    pc: RTCPeerConnection;
  };
};
export interface SubState {
  offers: number;
  joins: string[];
  lefts: string[];
  errors: string[];
  messages: string[];
}
export interface InboundStat {
  kind: 'audio' | 'video';
  mid: string;
  trackIdentifier: string;
  packetsReceived: number;
  framesDecoded: number;
  /** video: width of the last decoded frame (the simulcast layer received) */
  frameWidth: number;
  freezeCount: number;
  /** keyframe requests this receiver sent (what a decoder that cannot go on asks for) */
  pliCount: number;
  totalFreezesDuration: number;
  direction: string | null;
}

/** Publishes fake camera and/or mic from the page; returns the publisher's full id. */
export async function publishFrom(
  page: Page,
  room: string,
  id: string,
  media: MediaStreamConstraints = { video: true, audio: true },
  token?: string,
  simulcast = false,
): Promise<string> {
  return page.evaluate(
    async ({ room, id, media, token, simulcast }) => {
      const w = window as unknown as W;
      const stream = await navigator.mediaDevices.getUserMedia(media);
      w.pub = (await w.weever.publish({ room, id, stream, token, simulcast })) as W['pub'];
      return w.pub!.fullId;
    },
    { room, id, media, token, simulcast },
  );
}

/** Subscribes from the page; returns the subscriber's full id. */
export async function subscribeFrom(
  page: Page,
  room: string,
  id: string,
  opts: { token?: string; holdAnswers?: boolean } = {},
): Promise<string> {
  return page.evaluate(
    async ({ room, id, opts }) => {
      const w = window as unknown as W;
      w.sub = (await w.weever.subscribe({ room, id, ...opts })) as W['sub'];
      return w.sub!.fullId;
    },
    { room, id, opts },
  );
}

/** Runs `sub.stop()`, `sub.remove()`, `pub.stop()`… in the page. */
export async function callIn(page: Page, who: 'pub' | 'sub', method: 'stop' | 'remove' | 'release'): Promise<void> {
  await page.evaluate(
    async ({ who, method }) => {
      const w = window as unknown as Record<string, Record<string, () => Promise<void> | void>>;
      await w[who]![method]!();
    },
    { who, method },
  );
}

/** Waits until the instance holds nothing: no peer, timer, bus subscription or store key. */
export async function waitEmpty(server: ServerProcess): Promise<Resources> {
  let last: Resources | undefined;
  return waitFor('server resources back to zero', async () => {
    const r = await server.resources();
    if (JSON.stringify(r) !== JSON.stringify(last)) console.error('resources', JSON.stringify(r));
    last = r;
    const zero =
      r.peers === 0 &&
      r.timers === 0 &&
      r.storeKeys === 0 &&
      r.bus.trackChannels === 0 &&
      r.bus.trackSinks === 0 &&
      r.bus.roomSubscriptions === 0 &&
      r.bus.dataSubscriptions === 0 &&
      r.bus.keyframeSubscriptions === 0 &&
      r.bus.layerWantsSubscriptions === 0;
    return zero ? r : undefined;
  });
}

export interface SubView {
  state: SubState;
  /** stream ids (publisher full ids) of the live remote tracks */
  streams: Record<string, string[]>;
  /** mid → `<stream> <track>` from the last offer, active m-lines only */
  msids: Record<string, string>;
  inbound: InboundStat[];
}

export async function subView(page: Page): Promise<SubView> {
  return page.evaluate(async () => {
    const w = window as unknown as W;
    const sub = w.sub!;
    const streams: Record<string, string[]> = {};
    const streamOfMid = sub.streamOfMid();
    for (const t of sub.pc.getTransceivers()) {
      if (t.currentDirection !== 'recvonly' && t.currentDirection !== 'sendrecv') continue;
      const track = t.receiver.track;
      const stream = t.mid === null ? undefined : streamOfMid[t.mid];
      if (track?.readyState !== 'live' || !stream) continue;
      (streams[stream] ??= []).push(track.id);
    }
    // a=msid of each active m-line of the server's last offer (Chromium keeps a recycled
    // transceiver's track id, so the SDP is where a new track id shows)
    const msids: Record<string, string> = {};
    for (const section of (sub.pc.remoteDescription?.sdp ?? '').split('\nm=').slice(1)) {
      const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
      const msid = /^a=msid:(\S+ \S+)/m.exec(section)?.[1];
      if (mid && msid && !/^a=inactive/m.test(section)) msids[mid] = msid;
    }
    return {
      state: JSON.parse(JSON.stringify({ ...sub.state, streams: undefined })) as SubState,
      streams,
      msids,
      inbound: await w.weever.inboundStats(sub.pc),
    };
  });
}

/** Frames decoded and audio packets received per publisher stream, read from the subscriber. */
export function mediaOf(view: SubView): { videoFrames: number; audioPackets: number } {
  let videoFrames = 0;
  let audioPackets = 0;
  for (const s of view.inbound) {
    if (s.direction !== 'recvonly') continue;
    if (s.kind === 'video') videoFrames += s.framesDecoded;
    else audioPackets += s.packetsReceived;
  }
  return { videoFrames, audioPackets };
}

/** A real, complete (non-trickle) offer from Chromium: the `control` channel only, or with camera+mic. The page's connection is closed again. */
export async function chromiumOffer(page: Page, media: boolean): Promise<string> {
  return page.evaluate(async (media) => {
    const pc = new RTCPeerConnection();
    pc.createDataChannel('control');
    if (media) {
      const s = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      for (const t of s.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [s] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((r) => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    });
    const sdp = pc.localDescription!.sdp;
    pc.close();
    return sdp;
  }, media);
}

/** Registers hooks for the enclosing suite: one server started with `args` (a function when they are only known in `before`) and `env`. */
export function suiteServer(args: string[] | (() => Promise<string[]>) = [], env: NodeJS.ProcessEnv = {}): { server: ServerProcess } {
  const ctx = {} as { server: ServerProcess };
  before(async () => {
    ctx.server = await startServer(typeof args === 'function' ? await args() : args, env);
  });
  after(async () => {
    await ctx.server?.stop();
  });
  return ctx;
}

/** Registers hooks for the enclosing suite (or the whole file, at top level): one headless Chromium. */
export function sharedBrowser(): { browser: Browser } {
  const ctx = {} as { browser: Browser };
  before(async () => {
    ctx.browser = await launchBrowser();
  });
  after(async () => {
    await ctx.browser?.close();
  });
  return ctx;
}

/**
 * Registers hooks for the enclosing suite: one server started with `args` (a function when
 * they are only known in `before`, e.g. a free port), one browser. A test may replace
 * `ctx.server` (a restart); the one there at the end is stopped.
 */
export function serverAndBrowser(
  args: string[] | (() => Promise<string[]>) = [],
  env: NodeJS.ProcessEnv = {},
): { server: ServerProcess; browser: Browser } {
  const ctx = {} as { server: ServerProcess; browser: Browser };
  before(async () => {
    ctx.server = await startServer(typeof args === 'function' ? await args() : args, env);
    ctx.browser = await launchBrowser();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}

/** In the page: the subscriber and the publisher leave politely (STOP), when there are any. */
export async function leaveAndClose(p: Page): Promise<void> {
  if (p.isClosed()) return;
  await p
    .evaluate(() => {
      const w = window as unknown as { pub?: { stop(): void }; sub?: { stop(): void } };
      w.sub?.stop();
      w.pub?.stop();
    })
    .catch(() => {});
  await p.close();
}

/**
 * Registers an `afterEach` for the enclosing suite and returns `page()`: a new page on
 * `ctx.server`. After each test, every such page leaves politely and closes, `more` runs
 * (e.g. stopping other clients), then the server must hold nothing again (`waitEmpty`).
 */
export function pagesPerTest(ctx: { server: ServerProcess; browser: Browser }, more?: () => Promise<void>): () => Promise<Page> {
  const pages: Page[] = [];
  afterEach(async () => {
    // Leave politely (STOP): an idle subscriber whose tab just vanished is only noticed by
    // ICE consent freshness (30 s in libjuice), which the tests do not wait for.
    await Promise.all(pages.splice(0).map((p) => leaveAndClose(p)));
    await more?.();
    await waitEmpty(ctx.server);
  });
  return async () => {
    const p = await openPage(ctx.browser, ctx.server);
    pages.push(p);
    return p;
  };
}
