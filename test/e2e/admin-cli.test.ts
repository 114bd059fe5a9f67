/**
 * The `weever` admin CLI (the real bin, as a child process) against a real server with
 * Chromium participants: tokens it creates admit a peer, lists in table and JSON, a kick
 * really ends the session, drain stops the instance.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mediaOf, openPage, publishFrom, ROOT, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';

const BIN = join(ROOT, 'dist', 'src', 'admin', 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function weever(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const p = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('weever admin CLI', () => {
  const ctx = serverAndBrowser(['--auth', '--drain-timeout', '3']);
  const url = () => ctx.server.privateUrl;

  it('token create, rooms list, participants list, kick, drain', async () => {
    const room = 'admin-room';
    // a generated token, JSON output
    const made = await weever(['--url', url(), '--output', 'json', 'token', 'create', '--role', 'pub', '--room', room, '--id', 'alice']);
    assert.equal(made.code, 0, made.stderr);
    const pubToken = (JSON.parse(made.stdout) as { token: string }).token;
    assert.match(pubToken, /^[A-Za-z0-9_-]{43}$/);
    // a given token, the URL from the environment, table output
    const sub = await weever(['token', 'create', '--role', 'sub', '--room', room, '--id', 'bob', '--token', 'bob-secret-token'], {
      WEEVER_ADMIN_URL: url(),
    });
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, /^ROLE\s+ROOM\s+ID\s+TOKEN\nsub\s+admin-room\s+bob\s+bob-secret-token\n$/);

    const pubPage = await openPage(ctx.browser, ctx.server);
    const subPage = await openPage(ctx.browser, ctx.server);
    // --auth: without the token the publisher is refused; with it, admitted
    await assert.rejects(publishFrom(pubPage, room, 'alice', { video: true, audio: true }, 'wrong'));
    const pubId = await publishFrom(pubPage, room, 'alice', { video: true, audio: true }, pubToken);
    const subId = await subscribeFrom(subPage, room, 'bob', { token: 'bob-secret-token' });
    await waitFor('media at the subscriber', async () => {
      const m = mediaOf(await subView(subPage));
      return m.videoFrames > 30 && m.audioPackets > 50;
    });

    const roomsJson = await weever(['--url', url(), '--output', 'json', 'rooms', 'list']);
    assert.equal(roomsJson.code, 0, roomsJson.stderr);
    assert.deepEqual(JSON.parse(roomsJson.stdout), [{ room, publishers: 1, subscribers: 1 }]);
    const roomsTable = await weever(['--url', url(), 'rooms', 'list']);
    assert.match(roomsTable.stdout, /^ROOM\s+PUBLISHERS\s+SUBSCRIBERS\nadmin-room\s+1\s+1\n$/);

    const partsJson = await weever(['--url', url(), '--output', 'json', 'participants', 'list', room]);
    assert.deepEqual(JSON.parse(partsJson.stdout), [
      { id: pubId, role: 'pub' },
      { id: subId, role: 'sub' },
    ]);
    const partsTable = await weever(['--url', url(), 'participants', 'list', room]);
    assert.equal(partsTable.stdout, `ID${' '.repeat(pubId.length - 2)}  ROLE\n${pubId}  pub\n${subId.padEnd(pubId.length)}  sub\n`);

    // bad input: refused before anything is sent; an unknown participant: 404
    const bad = await weever(['--url', url(), 'participants', 'list', 'a.b']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /room must not contain '\.'/);
    const unknown = await weever(['--url', url(), 'kick', room, 'nobody']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404 no participant nobody in room admin-room/);

    // the kick ends the subscriber's session: gone from the lists, the instance holds one peer
    const kicked = await weever(['--url', url(), '--output', 'json', 'kick', room, subId]);
    assert.equal(kicked.code, 0, kicked.stderr);
    assert.deepEqual(JSON.parse(kicked.stdout), { room, id: subId, ended: true });
    assert.deepEqual(await ctx.server.list('sub', room), []);
    assert.deepEqual(await ctx.server.list('pub', room), [pubId]);
    await waitFor('one peer left on the instance', async () => (await ctx.server.resources()).peers === 1);
    assert.ok(ctx.server.logs.some((l) => l.includes('"kicked (admin)"') && l.includes(subId)));

    // drain: waits for the publisher (closed by --drain-timeout), then the process exits 0
    const drained = await weever(['--url', url(), 'drain']);
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /^DRAINED\ntrue\n$/);
    const proc = ctx.server.proc;
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
    assert.equal(proc.exitCode, 0);

    // the server is gone now: the CLI names the URL it could not reach
    const gone = await weever(['--url', url(), 'rooms', 'list']);
    assert.equal(gone.code, 2);
    assert.ok(gone.stderr.includes(`cannot reach the private API at ${url()}/: connection refused`), gone.stderr);
    await Promise.all([pubPage.close(), subPage.close()]);
  });
});
