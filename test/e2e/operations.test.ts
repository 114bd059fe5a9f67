/**
 * Operations (docs/protocol.md, "Private HTTP API"): Prometheus metrics, and draining by
 * /preStop and SIGTERM, against the real server process with real peers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import {
  callIn,
  chromiumOffer,
  mediaOf,
  openPage,
  publishFrom,
  type ServerProcess,
  sharedBrowser,
  startServer,
  subscribeFrom,
  subView,
  suiteServer,
  waitFor,
} from './harness.js';

const chromium = sharedBrowser();

async function metrics(server: ServerProcess): Promise<string> {
  const r = await fetch(`${server.privateUrl}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return r.text();
}

/** The value of one sample line, e.g. `sfu_pod_peer_count{pod="x",room="r",type="pub"}`; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function exitCode(server: ServerProcess): Promise<number | null> {
  if (server.proc.exitCode !== null) return server.proc.exitCode;
  const [code] = (await once(server.proc, 'exit')) as [number | null];
  return code;
}

/** alice publishes to `room` from one page, bob subscribes from another: resolves once bob decodes her video. */
async function aliceToBob(server: ServerProcess, room: string): Promise<{ pubPage: Page; subPage: Page }> {
  const pubPage = await openPage(chromium.browser, server);
  await publishFrom(pubPage, room, 'alice');
  const subPage = await openPage(chromium.browser, server);
  await subscribeFrom(subPage, room, 'bob');
  await waitFor('video at bob', async () => mediaOf(await subView(subPage)).videoFrames > 30);
  return { pubPage, subPage };
}

describe('metrics', () => {
  const ctx = suiteServer([], { POD_NAME: 'pod-a' });

  it('peer gauge per room goes 1 → gone when the peer leaves; traffic, renegotiations, store latency, event loop', async () => {
    const room = 'metrics-room';
    const { pubPage, subPage } = await aliceToBob(ctx.server, room);
    const m = await metrics(ctx.server);
    assert.equal(sample(m, 'sfu_pod_peer_count', { pod: 'pod-a', room, type: 'pub' }), 1);
    assert.equal(sample(m, 'sfu_pod_peer_count', { pod: 'pod-a', room, type: 'sub' }), 1);
    assert.equal(sample(m, 'sfu_tracks', { kind: 'video', direction: 'published' }), 1);
    assert.equal(sample(m, 'sfu_tracks', { kind: 'audio', direction: 'forwarded' }), 1);
    for (const kind of ['audio', 'video']) {
      for (const direction of ['published', 'forwarded'])
        assert.equal(sample(m, 'sfu_room_tracks', { pod: 'pod-a', room, kind, direction }), 1, `${kind} ${direction}`);
    }
    assert.ok(sample(m, 'sfu_forwarded_packets_total')! > 100);
    assert.ok(sample(m, 'sfu_forwarded_bytes_total')! > 10_000);
    assert.ok(sample(m, 'sfu_renegotiations_total')! >= 1);
    assert.ok(sample(m, 'sfu_renegotiation_seconds_count')! >= 1);
    assert.ok(sample(m, 'sfu_state_store_seconds_count', { op: 'addPeer', result: 'ok' })! >= 2);
    assert.notEqual(sample(m, 'nodejs_eventloop_lag_seconds'), undefined);
    assert.notEqual(sample(m, 'process_resident_memory_bytes'), undefined);

    await callIn(subPage, 'sub', 'stop');
    await waitFor(
      'sub gauge gone',
      async () => sample(await metrics(ctx.server), 'sfu_pod_peer_count', { room, type: 'sub' }) === undefined,
    );
    const forwarded = sample(await metrics(ctx.server), 'sfu_forwarded_packets_total')!;
    assert.ok(forwarded >= sample(m, 'sfu_forwarded_packets_total')!, 'totals never go down when a peer leaves');
    await callIn(pubPage, 'pub', 'stop');
    await waitFor('room gone from the gauge', async () => !(await metrics(ctx.server)).includes(`room="${room}"`));
    // one log line per lifecycle event, with the room, the peer and (on leaving) the reason
    const lines = ctx.server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.room === room);
    const events = (msg: string) => lines.filter((l) => l.msg === msg);
    assert.equal(events('joined').length, 2);
    assert.ok(events('subscriber renegotiated').length >= 1);
    assert.deepEqual(
      events('subscriber left').map((l) => l.reason),
      ['stop'],
    );
    assert.deepEqual(
      events('publisher left').map((l) => l.reason),
      ['stop'],
    );
    // request ids: a caller's X-Request-Id is used, otherwise a fresh one per request
    await fetch(`${ctx.server.privateUrl}/liveness`, { headers: { 'X-Request-Id': 'trace-42' } });
    await waitFor('request id in the log', () => ctx.server.logs.some((l) => l.includes('"reqId":"trace-42"')));
    await Promise.all([pubPage.close(), subPage.close()]);
  });
});

describe('drain', () => {
  let server: ServerProcess | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('/preStop: readiness BUSY, new POSTs 503, media goes on; it answers and the process exits 0 when the last peer leaves', async () => {
    server = await startServer();
    const room = 'prestop';
    const { pubPage, subPage } = await aliceToBob(server, room);
    const offer = await chromiumOffer(subPage, false);

    // answered only when the instance has no peer left
    let answered = false;
    const preStop = fetch(`${server.privateUrl}/preStop`).then(async (r) => {
      answered = true;
      return { status: r.status, text: await r.text() };
    });
    await waitFor('draining', async () => (await fetch(`${server!.privateUrl}/readiness`)).status === 503);
    const ready = await fetch(`${server.privateUrl}/readiness`);
    assert.equal(ready.status, 503);
    assert.equal(await ready.text(), 'BUSY');
    const post = await fetch(`${server.publicUrl}/sub/${room}/late`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.equal(post.status, 503);
    const f0 = mediaOf(await subView(subPage)).videoFrames;
    await waitFor('media still flowing while draining', async () => mediaOf(await subView(subPage)).videoFrames > f0 + 30);
    assert.equal(server.proc.exitCode, null);
    assert.equal(answered, false, '/preStop has not answered while peers are connected');

    await callIn(subPage, 'sub', 'stop');
    await callIn(pubPage, 'pub', 'stop');
    assert.deepEqual(await preStop, { status: 200, text: 'DRAINED' });
    assert.equal(await exitCode(server), 0);
    await Promise.all([pubPage.close(), subPage.close()]);
  });

  it('SIGTERM waits for the last peer, then exits 0', async () => {
    server = await startServer();
    const room = 'sigterm';
    const { pubPage, subPage } = await aliceToBob(server, room);
    server.proc.kill('SIGTERM');
    await waitFor('readiness BUSY', async () => (await fetch(`${server!.privateUrl}/readiness`)).status === 503);
    const f0 = mediaOf(await subView(subPage)).videoFrames;
    await waitFor('media still flowing after SIGTERM', async () => mediaOf(await subView(subPage)).videoFrames > f0 + 30);
    assert.equal(server.proc.exitCode, null, 'still running while peers are connected');
    await callIn(subPage, 'sub', 'stop');
    await callIn(pubPage, 'pub', 'stop');
    assert.equal(await exitCode(server), 0);
    assert.ok(server.logs.some((l) => l.includes('"draining: no new peers; closing when the last one leaves"')));
    await Promise.all([pubPage.close(), subPage.close()]);
  });

  it('--drain-timeout: peers that stay are closed when it passes, and the process exits 0', async () => {
    server = await startServer(['--drain-timeout', '2']);
    const subPage = await openPage(chromium.browser, server);
    await subscribeFrom(subPage, 'timeout', 'stays');
    const t0 = Date.now();
    server.proc.kill('SIGTERM');
    assert.equal(await exitCode(server), 0);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1900 && elapsed < 8000, `${elapsed} ms`);
    assert.ok(server.logs.some((l) => l.includes('"drain timeout: closing the remaining peers"')));
    assert.ok(server.logs.some((l) => l.includes('"subscriber left"') && l.includes('"shutdown"')));
    await subPage.close();
  });
});
