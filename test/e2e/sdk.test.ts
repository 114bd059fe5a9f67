/**
 * The browser SDK (/sdk/weever.js) driven directly, in real Chromium against a real
 * server: typed errors, events, STOP + DELETE on close, ordered renegotiation under a
 * burst of publishers, mute without renegotiation, per-stream stats.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, type ServerProcess, startServer, waitEmpty, waitFor } from './harness.js';
import { freePort } from './services.js';

/** A page on the server's origin that records what data channels send and loads the SDK as `window.sdk`. */
async function sdkPage(browser: Browser, server: ServerProcess): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  await page.addInitScript(() => {
    const sent: string[] = [];
    Object.assign(window, { sent });
    const send = RTCDataChannel.prototype.send;
    RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: string) {
      sent.push(String(data).split(' ', 1)[0]!);
      return (send as (d: string) => void).call(this, data);
    } as typeof send;
  });
  await page.goto(`${server.publicUrl}/`);
  await page.evaluate(async () => {
    Object.assign(window, { sdk: await import('/sdk/weever.js' as string), events: [] as unknown[] });
  });
  return page;
}

describe('browser SDK', () => {
  let server: ServerProcess;
  let browser: Browser;
  before(async () => {
    server = await startServer([], { WEEVER_LOG_LEVEL: 'debug' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is served at /sdk/weever.js as an ES module with its type declarations', async () => {
    const js = await fetch(`${server.publicUrl}/sdk/weever.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await js.text(), /^export \{[^}]*\bWeeverClient\b[^}]*\}/m); // one bundled module
    const dts = await fetch(`${server.publicUrl}/sdk/weever.d.ts`);
    assert.equal(dts.status, 200);
    assert.match(await dts.text(), /publishScreen\(/);
    assert.equal((await fetch(`${server.publicUrl}/sdk/..%2Fsrc%2Fserver.js`)).status, 404);
  });

  it('HTTP failures become typed errors carrying the status and the server’s reason', async () => {
    const page = await sdkPage(browser, server);
    const closedPort = await freePort();
    const r = await page.evaluate(async (closedPort) => {
      const { WeeverClient, WeeverError } = (window as unknown as { sdk: typeof import('../../dist/client/weever.js') }).sdk;
      const describe = (e: unknown) =>
        e instanceof WeeverError
          ? { isWeeverError: true, status: e.status, code: e.code, reason: e.reason, retryable: e.retryable }
          : { other: String(e) };
      const out: Record<string, unknown> = {};
      try {
        await new WeeverClient({ room: 'bad.room', id: 'x' }).subscribe();
      } catch (e) {
        out.badRoom = describe(e);
      }
      try {
        await new WeeverClient({ room: 'r', id: 'x', url: `http://127.0.0.1:${closedPort}` }).subscribe();
      } catch (e) {
        out.unreachable = describe(e);
      }
      try {
        new WeeverClient({ room: 'r', id: 'a+b' });
      } catch (e) {
        out.plusInId = describe(e);
      }
      return out;
    }, closedPort);
    assert.deepEqual(r.badRoom, {
      isWeeverError: true,
      status: 400,
      code: 'bad-request',
      reason: (r.badRoom as { reason: string }).reason,
      retryable: false,
    });
    assert.match((r.badRoom as { reason: string }).reason, /room.*\./, 'the server’s one-line reason names the rule');
    assert.equal((r.unreachable as { code: string }).code, 'network');
    assert.equal((r.unreachable as { status: number }).status, 0);
    assert.equal((r.unreachable as { retryable: boolean }).retryable, true);
    assert.equal((r.plusInId as { code: string }).code, 'bad-request');
    assert.deepEqual(await server.list('sub', 'bad.room').catch(() => []), []);
    await page.close();
  });

  it('events: publisherJoined/stream/publisherLeft with kind camera and screen; close() sends STOP and DELETEs the session', async () => {
    const page = await sdkPage(browser, server);
    const deletes: number[] = [];
    page.on('response', (res) => {
      if (res.request().method() === 'DELETE' && new URL(res.url()).pathname.startsWith('/session/')) deletes.push(res.status());
    });
    await page.evaluate(async () => {
      const w = window as unknown as {
        sdk: typeof import('../../dist/client/weever.js');
        events: unknown[];
        watcher: unknown;
        alice: unknown;
      };
      const watcher = new w.sdk.WeeverClient({ room: 'sdk-events', id: 'watcher' });
      for (const type of ['publisherJoined', 'publisherLeft', 'stream', 'error'] as const) {
        watcher.on(type, (e) => {
          const { stream, ...rest } = e as { stream?: MediaStream };
          w.events.push({ type, ...rest, ...(stream ? { streamId: stream.id, tracks: stream.getTracks().length } : {}) });
        });
      }
      await watcher.subscribe();
      const alice = new w.sdk.WeeverClient({ room: 'sdk-events', id: 'alice' });
      await alice.publish({ audio: true, video: true });
      await alice.publishScreen();
      Object.assign(w, { watcher, alice });
    });
    type Ev = { type: string; id?: string; fullId?: string; kind?: string; streamId?: string };
    const events = () => page.evaluate(() => (window as unknown as { events: Ev[] }).events);
    await waitFor('joins and streams of camera and screen', async () => (await events()).filter((e) => e.type === 'stream').length === 2);
    const ids = await page.evaluate(() => (window as unknown as { alice: { fullIds: Record<string, string> } }).alice.fullIds);
    assert.match(ids.camera!, /^alice\+/);
    assert.match(ids.screen!, /^alice-screen\+/);
    const ev = await events();
    assert.deepEqual(
      ev.filter((e) => e.type === 'publisherJoined').map((e) => [e.id, e.kind, e.fullId]),
      [
        ['alice', 'camera', ids.camera],
        ['alice', 'screen', ids.screen],
      ],
    );
    assert.deepEqual(
      ev
        .filter((e) => e.type === 'stream')
        .map((e) => [e.id, e.kind, e.streamId])
        .sort(),
      [
        ['alice', 'camera', ids.camera],
        ['alice', 'screen', ids.screen],
      ],
    );
    await page.evaluate(() => (window as unknown as { alice: { unpublishScreen(): Promise<void> } }).alice.unpublishScreen());
    await waitFor('screen left', async () => (await events()).some((e) => e.type === 'publisherLeft' && e.kind === 'screen'));
    const sent = await page.evaluate(() => (window as unknown as { sent: string[] }).sent);
    assert.equal(sent.filter((x) => x === 'STOP').length, 0, 'the screen rode on the camera connection: no connection ended');
    assert.equal(sent.filter((x) => x === 'SDP_OFFER').length, 2, 'the screen was added and removed by renegotiation');
    assert.ok(!(await events()).some((e) => e.type === 'publisherLeft' && e.kind === 'camera'), 'the camera stays');
    await page.evaluate(() => (window as unknown as { alice: { close(): Promise<void> } }).alice.close());
    // close() resolves after its DELETE was answered: the server no longer lists alice
    assert.deepEqual(await server.list('pub', 'sdk-events'), []);
    await waitFor('camera left', async () => (await events()).some((e) => e.type === 'publisherLeft' && e.kind === 'camera'));
    await page.evaluate(() => (window as unknown as { watcher: { close(): Promise<void> } }).watcher.close());
    assert.deepEqual(await server.list('sub', 'sdk-events'), []);
    assert.equal(
      await page.evaluate(() => (window as unknown as { sent: string[] }).sent.filter((x) => x === 'STOP').length),
      2,
      'one STOP per connection (camera with screen, subscriber)',
    );
    assert.equal(deletes.length, 2, 'one DELETE per connection');
    for (const s of deletes) assert.ok(s === 200 || s === 404, `DELETE answered ${s} (404 when STOP got there first)`);
    assert.ok(!(await events()).some((e) => e.type === 'error'), 'no error event');
    assert.ok(
      server.logs.some((l) => l.includes('"msg":"closed"') && /"reason":"(stop|delete)"/.test(l)),
      'the server closed the peers on STOP/DELETE, not by timeout',
    );
    await waitEmpty(server);
    await page.close();
  });

  it('a screen share without a camera has a connection of its own; unpublishing the camera moves the screen to one', async () => {
    const page = await sdkPage(browser, server);
    const r = await page.evaluate(async () => {
      const { WeeverClient } = (window as unknown as { sdk: typeof import('../../dist/client/weever.js') }).sdk;
      const c = new WeeverClient({ room: 'sdk-screen-alone', id: 'sam' });
      const cam = await navigator.mediaDevices.getUserMedia({ video: true });
      await c.publishScreen(new MediaStream([cam.getVideoTracks()[0]!.clone()]));
      const links = (c as unknown as { links: Map<string, unknown> }).links;
      const alone = { links: [...links.keys()], ids: c.fullIds };
      await c.unpublishScreen();
      await c.publish(new MediaStream([cam.getVideoTracks()[0]!.clone()]));
      await c.publishScreen(new MediaStream([cam.getVideoTracks()[0]!.clone()]));
      const riding = { links: [...links.keys()], ids: c.fullIds };
      await c.unpublish();
      const moved = { links: [...links.keys()], ids: c.fullIds };
      Object.assign(window, { sam: c });
      return { alone, riding, moved };
    });
    assert.deepEqual(r.alone.links, ['screen']);
    assert.match(r.alone.ids.screen!, /^sam-screen\+/);
    assert.deepEqual(r.riding.links, ['camera']);
    assert.match(r.riding.ids.screen!, /^sam-screen\+/);
    assert.deepEqual(r.moved.links, ['screen'], 'the camera went, the screen share goes on on its own connection');
    await waitFor('the moved screen share listed alone', async () => {
      const pubs = await server.list('pub', 'sdk-screen-alone');
      return pubs.length === 1 && pubs[0] === r.moved.ids.screen;
    });
    await page.evaluate(() => (window as unknown as { sam: { close(): Promise<void> } }).sam.close());
    await waitEmpty(server);
    await page.close();
  });

  it('answers renegotiations strictly in order: a burst of publishers joining and leaving together', async () => {
    const page = await sdkPage(browser, server);
    const n = 6;
    const r = await page.evaluate(async (n) => {
      const { WeeverClient } = (window as unknown as { sdk: typeof import('../../dist/client/weever.js') }).sdk;
      const watcher = new WeeverClient({ room: 'sdk-burst', id: 'watcher' });
      const seen = { joined: [] as string[], left: [] as string[], streams: [] as string[], errors: [] as string[] };
      watcher.on('publisherJoined', (p) => seen.joined.push(p.fullId));
      watcher.on('publisherLeft', (p) => seen.left.push(p.fullId));
      watcher.on('stream', (p) => seen.streams.push(p.fullId));
      watcher.on('error', (e) => seen.errors.push(e.message));
      await watcher.subscribe();
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      const pubs = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const c = new WeeverClient({ room: 'sdk-burst', id: `p${i}` });
          await c.publish(new MediaStream([mic.getAudioTracks()[0]!.clone()]));
          return c;
        }),
      );
      const until = async (f: () => boolean) => {
        for (let t = 0; t < 300 && !f(); t++) await new Promise((res) => setTimeout(res, 100));
      };
      await until(() => seen.streams.length === n);
      const joinedAll = seen.joined.length;
      const streamsAll = seen.streams.length;
      await Promise.all(pubs.map((p) => p.close()));
      await until(() => seen.left.length === n);
      const stats = await watcher.getStats();
      await watcher.close();
      return { joinedAll, streamsAll, left: seen.left.length, errors: seen.errors, statsAfter: stats.length };
    }, n);
    assert.deepEqual(r, { joinedAll: n, streamsAll: n, left: n, errors: [], statsAfter: 0 });
    await page.close();
  });

  it('mute/unmute without renegotiation; getStats() summarises each stream with a quality hint', async () => {
    const page = await sdkPage(browser, server);
    await page.evaluate(async () => {
      const w = window as unknown as { sdk: typeof import('../../dist/client/weever.js') };
      const watcher = new w.sdk.WeeverClient({ room: 'sdk-mute', id: 'watcher' });
      await watcher.subscribe();
      const talker = new w.sdk.WeeverClient({ room: 'sdk-mute', id: 'talker' });
      await talker.publish({ audio: true, video: true });
      Object.assign(w, { watcher, talker });
    });
    type S = {
      fullId: string;
      direction: string;
      quality: string;
      audio?: { packets: number; bytes: number };
      video?: { packets: number; frames?: number; bytes: number };
    };
    const stats = (who: 'watcher' | 'talker') =>
      page.evaluate((who) => (window as unknown as Record<string, { getStats(): Promise<S[]> }>)[who]!.getStats(), who);
    const first = await waitFor('talker’s media reaches the watcher', async () => {
      const s = (await stats('watcher')).find((x) => x.fullId.startsWith('talker+'));
      return s?.audio?.packets && s.video?.frames ? s : undefined;
    });
    const later = await waitFor('more packets', async () => {
      const s = (await stats('watcher')).find((x) => x.fullId.startsWith('talker+'));
      return s && s.video!.frames! > first.video!.frames! + 10 ? s : undefined;
    });
    assert.equal(later.direction, 'inbound');
    assert.match(later.quality, /^(good|fair|poor)$/);
    const out = (await stats('talker')).find((x) => x.direction === 'outbound');
    assert.ok(out && out.audio!.packets > 0 && out.video!.packets > 0, 'the publisher sees its outbound stream');

    // Muting disables the tracks: no new offer, no new answer on either connection.
    const sdpOf = () =>
      page.evaluate(() => {
        const w = window as unknown as Record<string, { links: Map<string, { conn: { pc: RTCPeerConnection; answered: number } }> }>;
        // internals, on purpose: what matters is that the negotiated SDP did not change
        const sub = w.watcher!.links.get('subscriber')!.conn;
        const pub = w.talker!.links.get('camera')!.conn;
        return { sub: sub.pc.remoteDescription?.sdp, answered: sub.answered, pub: pub.pc.localDescription?.sdp };
      });
    const beforeMute = await sdpOf();
    const muted = await page.evaluate(() => {
      const t = (window as unknown as { talker: import('../../dist/client/weever.js').WeeverClient }).talker;
      t.setMuted('audio', true);
      t.setMuted('video', true);
      return { audio: t.isMuted('audio'), video: t.isMuted('video'), enabled: t.localStream!.getTracks().map((x) => x.enabled) };
    });
    assert.deepEqual(muted, { audio: true, video: true, enabled: [false, false] });
    // while muted, the server forwards nothing of it (tests in mute.test.ts); after the unmute frames come again
    await waitFor('the watcher is told', () =>
      page.evaluate(() => {
        const w = (window as unknown as { watcher: import('../../dist/client/weever.js').WeeverClient }).watcher;
        const talker = w.publishers.find((p) => p.id === 'talker');
        return talker !== undefined && w.isRemoteMuted(talker.fullId, 'video0') && w.isRemoteMuted(talker.fullId, 'audio0');
      }),
    );
    await page.evaluate(() => {
      const t = (window as unknown as { talker: import('../../dist/client/weever.js').WeeverClient }).talker;
      t.setMuted('audio', false);
      t.setMuted('video', false);
    });
    const unmutedStart = (await stats('watcher')).find((x) => x.fullId.startsWith('talker+'))!;
    await waitFor('frames come again after the unmute', async () => {
      const s = (await stats('watcher')).find((x) => x.fullId.startsWith('talker+'));
      return (s?.video?.frames ?? 0) > unmutedStart.video!.frames! + 5;
    });
    assert.deepEqual(await sdpOf(), beforeMute, 'no renegotiation for mute/unmute');
    await page.evaluate(async () => {
      const w = window as unknown as Record<string, { close(): Promise<void> }>;
      await Promise.all([w.talker!.close(), w.watcher!.close()]);
    });
    await page.close();
  });
});
