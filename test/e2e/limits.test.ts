/**
 * Resource limits of the public server (issue 15): slow clients are cut off, sessions that
 * have not connected are bounded, POSTs per source address are rate-limited — each refusal
 * a clear status, nothing left behind, counted in /metrics.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { before, describe, it } from 'node:test';
import { chromiumOffer, openPage, type ServerProcess, serverAndBrowser, waitEmpty, waitFor } from './harness.js';

async function refused(server: ServerProcess, reason: string): Promise<number> {
  const text = await (await fetch(`${server.privateUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sfu_refused_total{') && l.includes(`reason="${reason}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const post = (server: ServerProcess, path: string, body: string) =>
  fetch(`${server.publicUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body });

describe('slow clients: --request-timeout', () => {
  const ctx = serverAndBrowser(['--request-timeout', '2']);

  it('a client that declares 100 kB and sends 100 B is answered 408 and cut off within the timeout', async () => {
    const { port, hostname } = new URL(ctx.server.publicUrl);
    const sockets = Array.from({ length: 20 }, () => connect(Number(port), hostname));
    const started = Date.now();
    const closedAt: number[] = [];
    let answers = '';
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.on('data', (d) => {
              answers += d.toString();
            });
            s.on('close', () => {
              closedAt.push(Date.now() - started);
              resolve();
            });
            s.on('error', () => {});
            s.write(
              `POST /sub/slow/a+1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: 100000\r\n\r\n${'v'.repeat(100)}`,
            );
          }),
      ),
    );
    console.error(`20 slow clients cut off after ${Math.min(...closedAt)}–${Math.max(...closedAt)} ms`);
    assert.ok(Math.max(...closedAt) < 6000, `all closed within the 2 s timeout plus Node's check interval: ${closedAt}`);
    assert.match(answers, /HTTP\/1\.1 408/);
    await waitFor('the refusals counted', async () => (await refused(ctx.server, 'requestTimeout')) >= 20);
    await waitEmpty(ctx.server);
  });
});

describe('sessions not connected yet: --max-pending', () => {
  const ctx = serverAndBrowser(['--max-pending', '2']);
  let offer: string;
  before(async () => {
    offer = await chromiumOffer(await openPage(ctx.browser, ctx.server), false);
  });

  it('beyond the cap a POST gets 503 + Retry-After, and nothing is reserved for it; room again once one leaves', async () => {
    // Offers whose client never connects: each holds a session until its connect timeout.
    const a = await post(ctx.server, '/sub/pending/a+1', offer);
    const b = await post(ctx.server, '/sub/pending/b+1', offer);
    assert.deepEqual([a.status, b.status], [201, 201]);
    const third = await post(ctx.server, '/sub/pending/c+1', offer);
    assert.equal(third.status, 503);
    assert.equal(third.headers.get('retry-after'), '1');
    assert.match(await third.text(), /too many sessions are connecting/);
    assert.deepEqual(await ctx.server.list('sub', 'pending'), ['a+1', 'b+1'].sort(), 'the refused one reserved nothing');
    assert.equal(await refused(ctx.server, 'pending'), 1);
    const end = (r: Response) => fetch(`${ctx.server.publicUrl}${r.headers.get('location')}`, { method: 'DELETE' });
    await end(a);
    const later = await post(ctx.server, '/sub/pending/c+1', offer);
    assert.equal(later.status, 201);
    await Promise.all([end(b), end(later)]);
    await waitEmpty(ctx.server);
  });
});

describe('POSTs per source address: --post-rate', () => {
  const ctx = serverAndBrowser(['--post-rate', '3']);

  it('the 4th POST within a minute gets 429 with Retry-After; other routes are not limited', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(ctx.server, `/sub/rate/a${i}+1`, 'not sdp')).status);
    assert.deepEqual(statuses, [400, 400, 400, 429]);
    const limited = await post(ctx.server, '/pub/rate/z+1', 'not sdp');
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.match(await limited.text(), /too many requests from this address: at most 3 per minute/);
    assert.equal((await fetch(`${ctx.server.publicUrl}/sdk/weever.js`)).status, 200);
    assert.ok((await refused(ctx.server, 'rateLimited')) >= 2);
  });
});
