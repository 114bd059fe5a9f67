import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumOffer, openPage, publishFrom, serverAndBrowser, subscribeFrom, waitEmpty, waitFor } from './harness.js';

describe('bad input: right status or error text, process alive, nothing left behind', () => {
  const ctx = serverAndBrowser(['--max-body', '20000']);
  let page: Page;
  let dcOffer: string;
  let mediaOffer: string;
  before(async () => {
    page = await openPage(ctx.browser, ctx.server);
    dcOffer = await chromiumOffer(page, false);
    mediaOffer = await chromiumOffer(page, true);
  });

  /** `type: null` sends the body as bytes without any Content-Type header. */
  const post = (path: string, body: string, type: string | null = 'application/sdp') =>
    fetch(`${ctx.server.publicUrl}${path}`, {
      method: 'POST',
      headers: type ? { 'Content-Type': type } : {},
      body: type ? body : new Blob([Buffer.from(body)]),
    });

  it('HTTP table (§1, §2)', async () => {
    const long = 'r'.repeat(129);
    const onlyDc = () => dcOffer;
    const noDc = () => mediaOffer.replace(/m=application[\s\S]*$/, '').replace(/a=group:BUNDLE (.*) \d+\r\n/, 'a=group:BUNDLE $1\r\n');
    const cases: [string, string, () => string, string | null, number, RegExp][] = [
      ['empty room', '/sub//a+1', onlyDc, 'application/sdp', 400, /room must not be empty/],
      ['room with .', '/sub/a.b/a+1', onlyDc, 'application/sdp', 400, /room must not contain '\.'/],
      ['room with *', '/sub/a*/a+1', onlyDc, 'application/sdp', 400, /wildcards/],
      ['room >', '/sub/%3E/a+1', onlyDc, 'application/sdp', 400, /wildcards/],
      ['room 129 chars', `/sub/${long}/a+1`, onlyDc, 'application/sdp', 400, /at most 128/],
      ['room with space', '/sub/a%20b/a+1', onlyDc, 'application/sdp', 400, /printable ASCII/],
      ['room non-ASCII', '/sub/caf%C3%A9/a+1', onlyDc, 'application/sdp', 400, /printable ASCII/],
      ['empty id', '/sub/r/+abc', onlyDc, 'application/sdp', 400, /id must not be empty/],
      ['full id with .', '/pub/r/a.b+1', () => mediaOffer, 'application/sdp', 400, /full id must not contain '\.'/],
      ['garbage SDP', '/sub/r/a+1', () => 'hello', 'application/sdp', 400, /not an SDP offer/],
      ['SDP without fingerprint', '/sub/r/a+1', () => dcOffer.replace(/a=fingerprint.*\r\n/g, ''), 'application/sdp', 400, /fingerprint/],
      ['publisher offer without media', '/pub/r/a+1', onlyDc, 'application/sdp', 400, /no audio or video/],
      ['subscriber offer with media', '/sub/r/a+1', () => mediaOffer, 'application/sdp', 400, /only the data channel/],
      ['subscriber offer with sendonly media, no data channel', '/sub/r/a+1', noDc, 'application/sdp', 400, /must be recvonly/],
      ['wrong content type', '/sub/r/a+1', onlyDc, 'text/plain', 415, /application\/sdp/],
      ['no content type', '/sub/r/a+1', onlyDc, null, 415, /application\/sdp/],
      ['body over --max-body', '/sub/r/a+1', () => dcOffer + 'a=x\r\n'.repeat(5000), 'application/sdp', 413, /too large/],
    ];
    for (const [name, path, body, type, status, reason] of cases) {
      const r = await post(path, body(), type);
      const text = await r.text();
      assert.equal(r.status, status, `${name}: ${text}`);
      assert.match(text, reason, name);
      assert.equal(text.trim().split('\n').length, 1, `${name}: one line`);
    }
    const del = await fetch(`${ctx.server.publicUrl}/session/nope`, { method: 'DELETE' });
    assert.equal(del.status, 404);
    const list = await fetch(`${ctx.server.privateUrl}/list/pub/a.b`);
    assert.equal(list.status, 400);
    assert.equal((await fetch(`${ctx.server.privateUrl}/liveness`)).status, 200);
    await waitEmpty(ctx.server);
  });

  it('409 for a full id already in the room; the first session is untouched', async () => {
    const first = await post('/sub/dup/x+1', dcOffer);
    assert.equal(first.status, 201);
    assert.match(first.headers.get('location') ?? '', /^\/session\/[0-9a-f-]{36}$/);
    assert.match(first.headers.get('content-type') ?? '', /application\/sdp/);
    const second = await post('/sub/dup/x+1', dcOffer);
    assert.equal(second.status, 409);
    assert.match(await second.text(), /already in room dup/);
    assert.deepEqual(await ctx.server.list('sub', 'dup'), ['x+1']);
    const del = await fetch(`${ctx.server.publicUrl}${first.headers.get('location')}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    await waitEmpty(ctx.server);
  });

  it('data channel: unknown command, oversized message, answer without offer, bad publisher offer', async () => {
    const room = 'dc';
    await publishFrom(page, room, 'p');
    await subscribeFrom(page, room, 's');
    await waitFor('subscriber got the publisher', () =>
      page.evaluate(() => (window as unknown as { sub: { state: { joins: string[] } } }).sub.state.joins.length === 1),
    );
    await page.evaluate(() => {
      const w = window as unknown as { sub: { dc: RTCDataChannel }; pub: { dc: RTCDataChannel } };
      w.sub.dc.send('HELLO there');
      w.sub.dc.send(`SDP_ANSWER ${'x'.repeat(200 * 1024)}`);
      w.pub.dc.send('SDP_OFFER v=0 garbage');
      w.pub.dc.send('PUB_JOIN me');
    });
    const errors = await waitFor('error replies', () =>
      page.evaluate(() => {
        const w = window as unknown as { sub: { state: { errors: string[] } }; pub: { messages: string[] } };
        const e = { sub: w.sub.state.errors, pub: w.pub.messages.filter((m) => m.startsWith('ERROR')) };
        return e.sub.length >= 2 && e.pub.length >= 2 ? e : undefined;
      }),
    );
    assert.match(errors.sub[0]!, /unknown command "HELLO"/);
    assert.match(errors.sub[1]!, /too large/);
    assert.match(errors.pub[0]!, /SDP/);
    assert.match(errors.pub[1]!, /unknown command "PUB_JOIN"/);
    // still alive and still serving this very subscriber
    assert.equal((await fetch(`${ctx.server.privateUrl}/liveness`)).status, 200);
    assert.equal((await ctx.server.list('sub', room)).length, 1);
    await page.evaluate(() => {
      const w = window as unknown as { sub: { stop(): void }; pub: { stop(): void } };
      w.sub.stop();
      w.pub.stop();
    });
    await waitEmpty(ctx.server);
  });
});
