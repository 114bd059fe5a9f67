/**
 * WHEP (draft-ietf-wish-whep) and the session resource of WHIP/WHEP (docs/protocol.md,
 * "WHIP and WHEP"):
 * a pure WHEP player in Chromium — plain RTCPeerConnection, recvonly transceivers, no
 * data channel — plays a Chromium publisher, room-wide on /sub and for one publisher on
 * /whep; PATCH trickle; ICE restart refused with 422 while media keeps flowing; DELETE
 * frees everything; every status code of the specs' tables.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumOffer, openPage, pagesPerTest, publishFrom, serverAndBrowser, waitEmpty, waitFor } from './harness.js';
import { framesIncrease, liveGauges, playerView, stopPlayer, whepPlay } from './whep-player.js';

describe('WHEP players (no data channel)', () => {
  const ctx = serverAndBrowser(['--keyframe-interval', '3600']);
  const page = pagesPerTest(ctx);

  it('room-wide WHEP on /sub: the answer carries the publisher, sendonly; frames decode; DELETE frees everything', async () => {
    const room = 'whep-room';
    const pubPage = await page();
    const alice = await publishFrom(pubPage, room, 'alice');
    await waitFor('alice listed', async () => (await ctx.server.list('pub', room)).includes(alice));
    // the media entry is written once alice's tracks flow
    const player = await page();
    const played = await waitFor('alice live for WHEP', async () => {
      const r = await whepPlay(player, `${ctx.server.publicUrl}/sub/${room}/viewer+1`);
      if (r.status !== 201) throw new Error(`${r.status} ${r.text}`);
      const v = await playerView(player);
      if (v.msids.every((m) => m.startsWith(alice))) return r;
      await stopPlayer(player);
      return undefined;
    });
    assert.match(played.location!, /\/session\/[0-9a-f-]{36}$/);
    assert.match(played.etag!, /^"[0-9a-f-]{36}"$/);
    assert.doesNotMatch(played.text, /m=application/, 'no data channel in the answer');
    const t0 = Date.now();
    const view = await framesIncrease(player, 0, 20);
    console.error(`WHEP figures: POST→201 ${played.postMs} ms; 20 frames decoded ${Date.now() - t0} ms after the answer`);
    assert.deepEqual(view.directions, ['sendonly', 'sendonly']);
    assert.deepEqual(
      view.msids.map((m) => m.split(' ')[0]),
      [alice, alice],
      'each m-line names the publisher as its MediaStream',
    );
    assert.ok(view.audioPackets > 0, 'audio flows too');
    assert.deepEqual(await ctx.server.list('sub', room), ['viewer+1']);

    assert.equal(await stopPlayer(player), 200);
    await waitFor('viewer gone from the list', async () => (await ctx.server.list('sub', room)).length === 0);
    await pubPage.evaluate(() => (window as unknown as { pub: { stop(): void } }).pub.stop());
    await waitFor(
      'lists empty',
      async () => (await ctx.server.list('pub', room)).length + (await ctx.server.list('sub', room)).length === 0,
    );
    await waitFor('gauges back to zero', async () => (await liveGauges(ctx.server, room)).length === 0);
    const r = await waitEmpty(ctx.server);
    assert.equal(r.peers, 0);
  });

  it('trickle by PATCH (offer POSTed before gathering), then an ICE restart PATCH gets 422 and frames keep increasing', async () => {
    const room = 'whep-trickle';
    const pubPage = await page();
    const alice = await publishFrom(pubPage, room, 'alice');
    const player = await page();
    await waitFor('alice live on /whep', async () => {
      const r = await whepPlay(player, `${ctx.server.publicUrl}/whep/${room}/alice`, { trickle: true });
      return r.status === 201 ? r : undefined;
    });
    const before = await framesIncrease(player, 0, 20, 'frames over trickled candidates');
    assert.ok(before.patches.length > 0 && before.patches.every((s) => s === 204), `PATCH statuses ${before.patches}`);
    assert.equal(new Set(before.msids.map((m) => m.split(' ')[0])).size, 1, 'one MediaStream');
    assert.equal(before.msids[0]!.split(' ')[0], alice);

    // An ICE restart as a WHEP client does it: new credentials from createOffer({iceRestart}).
    const restart = await player.evaluate(async () => {
      const { pc, location, etag } = (window as unknown as { player: { pc: RTCPeerConnection; location: string; etag: string } }).player;
      const offer = await pc.createOffer({ iceRestart: true });
      const ufrag = /a=ice-ufrag:(\S+)/.exec(offer.sdp!)![1];
      const pwd = /a=ice-pwd:(\S+)/.exec(offer.sdp!)![1];
      const r = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag },
        body: `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n`,
      });
      return { status: r.status, text: await r.text() };
    });
    assert.equal(restart.status, 422, restart.text);
    assert.match(restart.text, /ICE restart is not supported/);
    const afterRestart = await framesIncrease(player, before.videoFrames, 30, 'frames after the refused restart');
    assert.equal(afterRestart.iceState === 'connected' || afterRestart.iceState === 'completed', true);
    assert.equal(await stopPlayer(player), 200);
  });

  it('/whep/{room}/{pubId}: 409 + Retry-After while not live; plays that publisher only, skipping others', async () => {
    const room = 'whep-one';
    const player = await page();
    const notLive = await whepPlay(player, `${ctx.server.publicUrl}/whep/${room}/bob`);
    assert.equal(notLive.status, 409, notLive.text);
    assert.equal(notLive.retryAfter, '5');
    assert.match(notLive.text, /not live/);
    assert.equal((await ctx.server.list('sub', room)).length, 0, 'a refused player leaves nothing');

    const alicePage = await page();
    await publishFrom(alicePage, room, 'alice');
    const bobPage = await page();
    const bob = await publishFrom(bobPage, room, 'bob');
    await waitFor('bob live', async () => {
      const r = await whepPlay(player, `${ctx.server.publicUrl}/whep/${room}/bob`);
      return r.status === 201 ? r : undefined;
    });
    const v = await framesIncrease(player, 0, 20);
    assert.deepEqual(
      v.msids.map((m) => m.split(' ')[0]),
      [bob, bob],
    );
    const [viewer] = await ctx.server.list('sub', room);
    assert.match(viewer!, /^whep\+[0-9a-f]{12}$/);
    assert.equal(await stopPlayer(player), 200);
  });

  it('a publisher that leaves frees its m-lines and the next one fills them, without renegotiation', async () => {
    const room = 'whep-churn';
    const first = await page();
    await publishFrom(first, room, 'alice');
    const player = await page();
    await waitFor('alice live', async () => {
      const r = await whepPlay(player, `${ctx.server.publicUrl}/whep/${room}/alice`);
      return r.status === 201 ? r : undefined;
    });
    const v1 = await framesIncrease(player, 0, 20);
    // alice reconnects (a new full id): the per-publisher player plays on.
    await first.evaluate(() => (window as unknown as { pub: { stop(): void } }).pub.stop());
    const second = await page();
    await publishFrom(second, room, 'alice');
    const v2 = await framesIncrease(player, v1.videoFrames, 30, 'frames from the reconnected publisher');
    assert.equal(v2.msids.length, 2, 'no renegotiation: still the m-lines of the answer');
    assert.equal(await stopPlayer(player), 200);
  });

  it('a room-wide player of an empty room gets a publisher that joins later on its idle m-lines', async () => {
    const room = 'whep-late';
    const player = await page();
    const r = await whepPlay(player, `${ctx.server.publicUrl}/sub/${room}/early+1`);
    assert.equal(r.status, 201, r.text);
    const idle = await playerView(player);
    assert.deepEqual(idle.directions, ['sendonly', 'sendonly'], 'idle m-lines are answered sendonly, to be filled later');
    assert.equal(idle.videoFrames, 0);
    const pubPage = await page();
    await publishFrom(pubPage, room, 'late');
    await framesIncrease(player, 0, 20, 'frames from the publisher that joined after the answer');
    assert.equal(await stopPlayer(player), 200);
  });
});

describe('--auth on /whep: the subscriber token of id "whep"', () => {
  const ctx = serverAndBrowser(['--auth']);

  it('401 without or with a wrong token; with the token the request reaches the room (409: not live)', async () => {
    const set = await fetch(`${ctx.server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'secure', id: 'whep', token: 'watch-me' }),
    });
    assert.equal(set.status < 300, true);
    const page = await openPage(ctx.browser, ctx.server);
    const none = await whepPlay(page, `${ctx.server.publicUrl}/whep/secure/alice`);
    assert.equal(none.status, 401, none.text);
    const wrong = await whepPlay(page, `${ctx.server.publicUrl}/whep/secure/alice`, { token: 'nope' });
    assert.equal(wrong.status, 401, wrong.text);
    const right = await whepPlay(page, `${ctx.server.publicUrl}/whep/secure/alice`, { token: 'watch-me' });
    assert.equal(right.status, 409, right.text);
    await page.close();
    // clear the token: then nothing at all is left
    await fetch(`${ctx.server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'secure', id: 'whep' }),
    });
    await waitEmpty(ctx.server);
  });
});

describe('WHIP/WHEP session resource: status codes', () => {
  const ctx = serverAndBrowser(['--max-body', '20000']);
  let page: Page;
  before(async () => {
    page = await openPage(ctx.browser, ctx.server);
  });

  const req = (path: string, init: RequestInit = {}) => fetch(`${ctx.server.publicUrl}${path}`, init);
  const patch = (location: string, body: string, headers: Record<string, string>) =>
    req(location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', ...headers }, body });

  it('201 204 200 400 404 405 409 412 413 415 422 428, OPTIONS; nothing left behind', async () => {
    const room = 'codes';
    const pubPage = await openPage(ctx.browser, ctx.server);
    await publishFrom(pubPage, room, 'alice');
    const played = await waitFor('alice live', async () => {
      const r = await whepPlay(page, `${ctx.server.publicUrl}/whep/${room}/alice`);
      return r.status === 201 ? r : undefined;
    });
    const location = new URL(played.location!).pathname;
    const etag = played.etag!;
    const codes: Record<string, number> = { '201 POST': 201 };
    const check = async (name: string, r: Response, status: number, reason?: RegExp) => {
      const text = await r.text();
      assert.equal(r.status, status, `${name}: ${text}`);
      if (reason) assert.match(text, reason, name);
      if (status >= 400) assert.equal(text.trim().split('\n').length, 1, `${name}: one line`);
      codes[name] = status;
      return r;
    };
    const frag =
      'a=ice-ufrag:%U\r\na=ice-pwd:%P\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host\r\n';
    const local = await page.evaluate(() => (window as unknown as { player: { pc: RTCPeerConnection } }).player.pc.localDescription!.sdp);
    const ufrag = /a=ice-ufrag:(\S+)/.exec(local)![1]!;
    const pwd = /a=ice-pwd:(\S+)/.exec(local)![1]!;
    const trickle = frag.replace('%U', ufrag).replace('%P', pwd);

    const ok = await check('204 PATCH trickle', await patch(location, trickle, { 'If-Match': etag }), 204);
    assert.equal(ok.headers.get('etag'), etag, 'ETag unchanged by trickle');
    await check('204 PATCH If-Match *', await patch(location, trickle, { 'If-Match': '*' }), 204);
    await check('428 PATCH without If-Match', await patch(location, trickle, {}), 428, /If-Match/);
    await check('412 PATCH stale If-Match', await patch(location, trickle, { 'If-Match': '"stale"' }), 412, /does not match/);
    await check(
      '415 PATCH as application/sdp',
      await req(location, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp', 'If-Match': etag }, body: trickle }),
      415,
      /trickle-ice-sdpfrag/,
    );
    await check('400 PATCH bad candidate', await patch(location, 'a=candidate:garbage\r\n', { 'If-Match': etag }), 400, /malformed/);
    await check(
      '422 PATCH ICE restart',
      await patch(location, frag.replace('%U', 'newu').replace('%P', 'newpasswordnewpassword12'), { 'If-Match': etag }),
      422,
      /ICE restart is not supported/,
    );
    await check('413 PATCH too large', await patch(location, trickle + 'a=x\r\n'.repeat(5000), { 'If-Match': etag }), 413, /too large/);
    await check('404 PATCH unknown session', await patch('/session/nope', trickle, { 'If-Match': '*' }), 404, /no such session/);
    const m405 = await check('405 GET session', await req(location), 405, /not allowed/);
    assert.equal(m405.headers.get('allow'), 'PATCH, DELETE, OPTIONS');
    const p405 = await check('405 GET /pub', await req(`/pub/${room}/x+1`), 405, /not allowed/);
    assert.equal(p405.headers.get('allow'), 'POST, OPTIONS');
    await check('405 PUT /whep', await req(`/whep/${room}/alice`, { method: 'PUT' }), 405);
    const opt = await check('204 OPTIONS /whep', await req(`/whep/${room}/alice`, { method: 'OPTIONS' }), 204);
    assert.equal(opt.headers.get('allow'), 'POST, OPTIONS');
    const offer = await page.evaluate(() => (window as unknown as { player: { pc: RTCPeerConnection } }).player.pc.localDescription!.sdp);
    const post = (path: string, body: string, type = 'application/sdp') =>
      req(path, { method: 'POST', headers: { 'Content-Type': type }, body });
    await check('409 /whep not live', await post(`/whep/${room}/nobody`, offer), 409, /not live/);
    const dup = await check('201 POST /sub (WHEP)', await post(`/sub/${room}/dup+1`, offer), 201);
    await check('409 duplicate full id', await post(`/sub/${room}/dup+1`, offer), 409, /already/);
    await check('415 POST text/plain', await post(`/whep/${room}/alice`, offer, 'text/plain'), 415);
    await check('413 POST too large', await post(`/whep/${room}/alice`, offer + 'a=x\r\n'.repeat(5000)), 413);
    await check('400 POST bad publisher id', await post(`/whep/${room}/a.b`, offer), 400, /publisher id/);
    await check('400 POST sendonly WHEP', await post(`/sub/${room}/s+1`, offer.replace(/a=recvonly/g, 'a=sendonly')), 400, /recvonly/);

    await check('200 DELETE', await req(location, { method: 'DELETE' }), 200);
    await check('404 DELETE again', await req(location, { method: 'DELETE' }), 404);
    // What other clients send: rtcp-mux-only, no data channel, and the ssrc-group:FID Chromium has.
    const pubOffer = (await chromiumOffer(page, true))
      .replace(/m=application[\s\S]*$/, '')
      .replace(/a=group:BUNDLE (.*) \d+\r\n/, 'a=group:BUNDLE $1\r\n')
      .replace(/a=rtcp-mux\r\n/g, 'a=rtcp-mux\r\na=rtcp-mux-only\r\n');
    assert.match(pubOffer, /a=ssrc-group:FID/);
    const muxOnly = await check('201 POST /pub rtcp-mux-only, no data channel', await post(`/pub/${room}/mux+1`, pubOffer), 201);
    await check('200 DELETE it', await req(muxOnly.headers.get('location')!, { method: 'DELETE' }), 200);
    assert.deepEqual(await ctx.server.list('sub', room), ['dup+1'], 'refused requests left nothing');
    await check('200 DELETE dup', await req(dup.headers.get('location')!, { method: 'DELETE' }), 200);
    await pubPage.evaluate(() => (window as unknown as { pub: { stop(): void } }).pub.stop());
    await waitEmpty(ctx.server);
    console.error('status codes exercised', JSON.stringify(codes));
    for (const s of [201, 204, 200, 400, 404, 405, 409, 412, 413, 415, 422, 428]) {
      assert.ok(Object.values(codes).includes(s), `${s} exercised`);
    }
  });
});
