import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { connText, joinDemo, tiles, waitPlaying } from './demo.js';
import { serverAndBrowser, startServer, waitFor } from './harness.js';
import { freePort } from './services.js';

/** The full id behind the remote tile of `user` (it changes when that user reconnects). */
async function remotePeer(page: Page, user: string): Promise<string | undefined> {
  return (await tiles(page)).find((t) => t.user === user && !t.local)?.peer;
}

describe('demo site: reconnect when the server goes away', () => {
  let port: number;
  const ctx = serverAndBrowser(async () => {
    port = await freePort();
    return ['--port', String(port), '--drain-timeout', '2'];
  });

  it('kill -9, SIGINT and a SIGTERM drain, each followed by a restart on the same port: each page shows "reconnecting…", then media again, without a reload', async () => {
    const room = 'phoenix';
    const a = await joinDemo(ctx.browser, ctx.server, { room, name: 'ann' });
    const b = await joinDemo(ctx.browser, ctx.server, { room, name: 'bob' });
    await waitPlaying(a, 'bob');
    await waitPlaying(b, 'ann');
    // a marker that a reload would wipe out
    await Promise.all([a, b].map((p) => p.evaluate(() => Object.assign(window, { notReloaded: true }))));

    // kill -9: nobody says goodbye (ICE notices); SIGINT: the server closes the peers at once;
    // SIGTERM: it drains (new peers get 503) and closes them after --drain-timeout.
    for (const how of ['kill -9', 'SIGINT', 'SIGTERM'] as const) {
      const before = { a: await remotePeer(a, 'bob'), b: await remotePeer(b, 'ann') };
      if (how === 'kill -9') await ctx.server.kill();
      else if (how === 'SIGINT') await ctx.server.stop();
      else {
        ctx.server.proc.kill('SIGTERM');
        await once(ctx.server.proc, 'exit');
      }
      await Promise.all(
        [a, b].map((p, i) =>
          waitFor(`page ${i} shows reconnecting after ${how}`, async () => (await connText(p)).startsWith('reconnecting'), 30_000),
        ),
      );
      ctx.server = await startServer(['--port', String(port), '--drain-timeout', '2']);
      assert.equal(new URL(ctx.server.publicUrl).port, String(port), 'restarted on the same port');
      await waitFor(
        'both pages connected again',
        async () => (await connText(a)) === 'connected' && (await connText(b)) === 'connected',
        40_000,
      );
      await waitPlaying(a, 'bob');
      await waitPlaying(b, 'ann');
      const now = { a: await remotePeer(a, 'bob'), b: await remotePeer(b, 'ann') };
      assert.notEqual(now.a, before.a, 'bob reconnected under a new full id');
      assert.notEqual(now.b, before.b, 'ann reconnected under a new full id');
      assert.equal((await tiles(a)).filter((t) => !t.local).length, 1, 'no stale tile left from before the restart');
      for (const p of [a, b])
        assert.equal(await p.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'no reload');
      const pubs = (await ctx.server.list('pub', room)).map((x) => x.split('+')[0]).sort();
      assert.deepEqual(pubs, ['ann', 'bob'], 'one publisher each on the new instance');
    }
    await Promise.all([a.close(), b.close()]);
  });
});
