import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  chromiumOffer,
  openPage,
  type ServerProcess,
  serverAndBrowser,
  startServer,
  subscribeFrom,
  waitEmpty,
  waitFor,
} from './harness.js';

const leftWith = (server: ServerProcess, peer: string) =>
  server.logs
    .map((l) => JSON.parse(l) as { msg?: string; peer?: string; reason?: string })
    .find((l) => l.msg === 'subscriber left' && l.peer?.startsWith(peer))?.reason;

describe('session and connect timeouts', () => {
  const ctx = serverAndBrowser(['--session-timeout', '10']);
  let longSessions: ServerProcess;
  before(async () => {
    longSessions = await startServer(['--session-timeout', '600']);
  });
  after(async () => {
    await longSessions?.stop();
  });

  it('sessions end at --session-timeout, connected or not; a client that never connects is dropped by the connect timeout (15 s)', async () => {
    const page = await openPage(ctx.browser, ctx.server);
    await subscribeFrom(page, 'timeouts', 'connected');
    // Its answer is never applied: this client never connects. (The page's own connection is closed.)
    const offer = await chromiumOffer(page, false);
    const r = await fetch(`${ctx.server.publicUrl}/sub/timeouts/ghost+1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.equal(r.status, 201);
    assert.equal((await ctx.server.list('sub', 'timeouts')).length, 2);
    const r2 = await fetch(`${longSessions.publicUrl}/sub/timeouts/ghost+2`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.equal(r2.status, 201);
    await waitFor('both gone', async () => (await ctx.server.list('sub', 'timeouts')).length === 0, 25_000, 250);
    assert.equal(leftWith(ctx.server, 'connected+'), 'session-timeout');
    assert.equal(leftWith(ctx.server, 'ghost+'), 'session-timeout', 'session timeout (10 s) comes before the connect timeout (15 s)');
    await waitFor('never-connected peer dropped', async () => (await longSessions.list('sub', 'timeouts')).length === 0, 25_000, 250);
    assert.equal(leftWith(longSessions, 'ghost+'), 'connect-timeout');
    await waitEmpty(longSessions);
    const dcState = await page.evaluate(() => (window as unknown as { sub: { dc: RTCDataChannel } }).sub.dc.readyState);
    assert.notEqual(dcState, 'open', 'the client sees its channel closed');
    await waitEmpty(ctx.server);
  });
});
