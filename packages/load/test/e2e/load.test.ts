/**
 * Smoke run of `weever-load` (the bin, as a user runs it) against a real server: 1
 * publisher, 3 subscribers, 2 worker processes, 3 s. Asserts only that media flowed to
 * each subscriber, on both tracks, and that the server got the publisher's packets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServer, waitEmpty } from '#server-harness';
import type { LoadReport } from '../../src/run.js';

/** This package's bin (the test runs from dist/test/e2e/). */
const LOAD_CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** Runs the bin with `args` (killed after 60 s); its output, once it exited 0. */
async function runLoad(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [LOAD_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 0, stderr);
  return { stdout, stderr };
}

describe('weever-load', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('publishes VP8 + Opus to 3 subscribers; each receives both tracks; the summary is one JSON object', async () => {
    const { stdout, stderr } = await runLoad([
      '--url',
      server.publicUrl,
      '--private-url',
      server.privateUrl,
      '--room',
      'smoke',
      '--publishers',
      '1',
      '--subscribers',
      '3',
      '--workers',
      '2',
      '--duration',
      '3',
      '--json',
    ]);
    assert.match(stderr, /connected: 1\/1 pub, 3\/3 sub/, 'progress on stderr');
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, stdout);
    const r = JSON.parse(lines[0]!) as LoadReport;
    assert.deepEqual(r.failures, []);
    assert.equal(r.subscribers.connected, 3);
    const subscribers = new Set(r.tracks!.map((t) => t.subscriber));
    assert.equal(subscribers.size, 3);
    for (const s of subscribers) {
      for (const kind of ['audio', 'video'] as const) {
        const t = r.tracks!.find((x) => x.subscriber === s && x.kind === kind);
        assert.ok(t && t.packets > 0, `${s} received ${kind}`);
      }
    }
    assert.ok(r.video!.keyframes > 0, 'keyframes seen');
    assert.ok((r.video!.serverReceivedPackets ?? 0) > 0 && (r.audio!.serverReceivedPackets ?? 0) > 0, 'server counted the input');
    await waitEmpty(server);
  });

  it('--layers 3 --receiver-reports: the server takes the 3 SSRCs as layers; each subscriber gets one, the top one on loopback', async () => {
    const { stdout } = await runLoad([
      '--url',
      server.publicUrl,
      '--private-url',
      server.privateUrl,
      '--room',
      'smoke-layers',
      '--subscribers',
      '2',
      '--layers',
      '3',
      '--receiver-reports',
      '--duration',
      '8',
      '--json',
    ]);
    const r = JSON.parse(stdout.trim()) as LoadReport & { tracks: { subscriber: string; kind: string; ssrc: number; width: number }[] };
    assert.deepEqual(r.failures, []);
    // every layer reached the server: input loss counts all three SSRCs against its
    // per-publisher counter, so a layer not taken would be ≥ 10 % (the smallest has that
    // share of the packets); a few in flight when the counters are read are not loss
    assert.ok(r.video!.inputLossPercent! < 3, JSON.stringify(r.video));
    const video = r.tracks.filter((t) => t.kind === 'video');
    assert.equal(video.length, 2, 'one video track per subscriber: one layer out');
    for (const t of video) assert.equal(t.width, 1280, `${t.subscriber} ends on the top layer: ${JSON.stringify(t)}`);
    await waitEmpty(server);
  });

  it('/debug/traffic/{room} validates the room and answers an empty room', async () => {
    const bad = await fetch(`${server.privateUrl}/debug/traffic/a.b`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /room must not contain '\.'/);
    assert.deepEqual(await (await fetch(`${server.privateUrl}/debug/traffic/nobody`)).json(), { publishers: {}, subscribers: {} });
  });
});
