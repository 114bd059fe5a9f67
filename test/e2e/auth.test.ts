import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { chromiumOffer, openPage, serverAndBrowser } from './harness.js';

describe('--auth: tokens set through the private API', () => {
  const ctx = serverAndBrowser(['--auth']);
  let offer: string;
  before(async () => {
    offer = await chromiumOffer(await openPage(ctx.browser, ctx.server), false);
  });

  const join = async (fullId: string, token?: string) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/sdp' };
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`${ctx.server.publicUrl}/sub/vip/${fullId}`, { method: 'POST', headers, body: offer });
    const text = await r.text();
    if (r.status === 201) await fetch(`${ctx.server.publicUrl}${r.headers.get('location')}`, { method: 'DELETE' });
    return { status: r.status, text: text.trim() };
  };

  it('no token set: open; token set: missing or wrong → 401 with a reason, right → 201; the token is never logged', async () => {
    assert.equal((await join('alice+1')).status, 201);
    const set = await fetch(`${ctx.server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'vip', id: 'alice', token: 'tok-5ecret-value' }),
    });
    assert.equal(set.status, 200);
    assert.deepEqual(await join('alice+2'), { status: 401, text: 'missing bearer token' });
    assert.deepEqual(await join('alice+3', 'wrong'), { status: 401, text: 'bad token' });
    assert.equal((await join('alice+4', 'tok-5ecret-value')).status, 201);
    assert.equal((await join('bob+1')).status, 201, 'other ids are not gated by alice’s token');
    const clear = await fetch(`${ctx.server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'vip', id: 'alice' }),
    });
    assert.equal(clear.status, 200);
    assert.equal((await join('alice+5')).status, 201, 'no token in /create clears it');
    const bad = await fetch(`${ctx.server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'a.b', id: 'alice', token: 'x' }),
    });
    assert.equal(bad.status, 400);
    assert.ok(!ctx.server.logs.some((l) => l.includes('tok-5ecret-value')), 'token absent from logs');
    const r = await ctx.server.resources();
    assert.equal(r.peers, 0);
  });
});

describe('--auth with --jwt-secret: stateless tokens', () => {
  const SECRET = 'a-test-secret-of-at-least-32-characters!';
  const ctx = serverAndBrowser(['--auth'], { WEEVER_JWT_SECRET: SECRET });
  let subOffer: string;
  let pubOffer: string;
  before(async () => {
    const page = await openPage(ctx.browser, ctx.server);
    subOffer = await chromiumOffer(page, false);
    pubOffer = await chromiumOffer(page, true);
  });

  const jwt = (claims: Record<string, unknown>, opts: { secret?: string; exp?: string | number; alg?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
      .setExpirationTime(opts.exp ?? '5m')
      .sign(new TextEncoder().encode(opts.secret ?? SECRET));

  const join = async (role: 'pub' | 'sub', room: string, fullId: string, token: string) => {
    const r = await fetch(`${ctx.server.publicUrl}/${role}/${room}/${fullId}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: role === 'pub' ? pubOffer : subOffer,
    });
    const text = await r.text();
    if (r.status === 201) await fetch(`${ctx.server.publicUrl}${r.headers.get('location')}`, { method: 'DELETE' });
    return { status: r.status, text: text.trim() };
  };

  it('valid JWT accepted with no private-API call; expired, forged, wrong room/id/role → 401 with the reason', async () => {
    const sub = await jwt({ room: 'jr', id: 'carol', role: 'sub' });
    assert.equal((await join('sub', 'jr', 'carol+1', sub)).status, 201);
    const both = await jwt({ room: 'jr', id: 'dave', roles: ['pub', 'sub'] });
    assert.equal((await join('pub', 'jr', 'dave+1', both)).status, 201);
    assert.equal((await join('pub', 'jr', 'dave-screen+1', both)).status, 201, 'a -screen publisher uses its owner’s grant');
    assert.equal((await join('sub', 'jr', 'dave+2', both)).status, 201);

    assert.deepEqual(
      await join('sub', 'jr', 'carol+2', await jwt({ room: 'jr', id: 'carol', role: 'sub' }, { exp: Math.floor(Date.now() / 1000) - 60 })),
      {
        status: 401,
        text: 'token expired',
      },
    );
    assert.deepEqual(
      await join(
        'sub',
        'jr',
        'carol+3',
        await jwt({ room: 'jr', id: 'carol', role: 'sub' }, { secret: 'another-secret-of-at-least-32-chars!!' }),
      ),
      {
        status: 401,
        text: 'token signature invalid',
      },
    );
    assert.deepEqual(await join('sub', 'other', 'carol+4', sub), { status: 401, text: 'token is for another room' });
    assert.deepEqual(await join('sub', 'jr', 'mallory+1', sub), { status: 401, text: 'token is for another id' });
    assert.deepEqual(await join('pub', 'jr', 'carol+5', sub), { status: 401, text: 'token does not grant pub' });
    assert.deepEqual(await join('sub', 'jr', 'carol+6', await jwt({ room: 'jr', id: 'carol', role: 'sub' }, { alg: 'HS512' })), {
      status: 401,
      text: 'token algorithm not allowed (HS256 only)',
    });
    const noExp = await new SignJWT({ room: 'jr', id: 'carol', role: 'sub' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    assert.equal((await join('sub', 'jr', 'carol+7', noExp)).status, 401, 'exp is required');

    assert.ok(!ctx.server.logs.some((l) => l.includes(sub) || l.includes(SECRET)), 'neither token nor secret logged');
    assert.equal((await ctx.server.resources()).peers, 0);
  });
});

describe('auth off (the default): tokens are not checked', () => {
  const ctx = serverAndBrowser();
  let offer: string;
  before(async () => {
    offer = await chromiumOffer(await openPage(ctx.browser, ctx.server), false);
  });

  it('a token set for a peer does not gate it: missing, wrong or right, 201', async () => {
    const set = await fetch(`${ctx.server.privateUrl}/create/sub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'open', id: 'erin', token: 'tok-erin' }),
    });
    assert.equal(set.status, 200);
    for (const [fullId, token] of [
      ['erin+1', undefined],
      ['erin+2', 'wrong'],
      ['erin+3', 'tok-erin'],
    ] as const) {
      const headers: Record<string, string> = { 'Content-Type': 'application/sdp' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const r = await fetch(`${ctx.server.publicUrl}/sub/open/${fullId}`, { method: 'POST', headers, body: offer });
      assert.equal(r.status, 201, fullId);
      await fetch(`${ctx.server.publicUrl}${r.headers.get('location')}`, { method: 'DELETE' });
    }
  });
});
