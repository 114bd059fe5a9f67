import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumOffer, launchBrowser, openPage, type ServerProcess, startServer } from './harness.js';

describe('--auth: tokens set through the private API', () => {
  let server: ServerProcess;
  let browser: Browser;
  let offer: string;
  before(async () => {
    server = await startServer(['--auth']);
    browser = await launchBrowser();
    offer = await chromiumOffer(await openPage(browser, server), false);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const join = async (fullId: string, token?: string) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/sdp' };
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`${server.publicUrl}/sub/vip/${fullId}`, { method: 'POST', headers, body: offer });
    const text = await r.text();
    if (r.status === 201) await fetch(`${server.publicUrl}${r.headers.get('location')}`, { method: 'DELETE' });
    return { status: r.status, text: text.trim() };
  };

  it('no token set: open; token set: missing or wrong → 401 with a reason, right → 201; the token is never logged', async () => {
    assert.equal((await join('alice+1')).status, 201);
    const set = await fetch(`${server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'vip', id: 'alice', token: 'tok-5ecret-value' }),
    });
    assert.equal(set.status, 200);
    assert.deepEqual(await join('alice+2'), { status: 401, text: 'missing bearer token' });
    assert.deepEqual(await join('alice+3', 'wrong'), { status: 401, text: 'bad token' });
    assert.equal((await join('alice+4', 'tok-5ecret-value')).status, 201);
    assert.equal((await join('bob+1')).status, 201, 'other ids are not gated by alice’s token');
    const clear = await fetch(`${server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'vip', id: 'alice' }),
    });
    assert.equal(clear.status, 200);
    assert.equal((await join('alice+5')).status, 201, 'no token in /create clears it');
    const bad = await fetch(`${server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'a.b', id: 'alice', token: 'x' }),
    });
    assert.equal(bad.status, 400);
    assert.ok(!server.logs.some((l) => l.includes('tok-5ecret-value')), 'token absent from logs');
    const r = await server.resources();
    assert.equal(r.peers, 0);
  });
});
