/**
 * Admin and webhooks across instances (real redis-server, NATS cluster, two instances,
 * Chromium): a kick sent to A ends a subscriber held by B; room_started and room_finished
 * come once for the room although both instances had its peers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { WebhookEvent } from '../../src/webhooks/event.js';
import { callIn, launchBrowser, mediaOf, openPage, publishFrom, ROOT, subscribeFrom, subView, waitFor } from './harness.js';
import { type Cluster, startCluster } from './services.js';

const SECRET = 'cluster-webhook-secret-0123456789abcdef';

describe('admin and webhooks in a Redis + NATS cluster', () => {
  const events: WebhookEvent[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      events.push(JSON.parse(body) as WebhookEvent);
      res.end('ok');
    });
  });
  let cluster: Cluster;
  let browser: Browser;
  before(async () => {
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    cluster = await startCluster(2, ['--webhook-url', url, '--webhook-secret', SECRET]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
    receiver.closeAllConnections();
    receiver.close();
  });

  it('weever kick on A ends the subscriber on B; one room_started, one room_finished', async () => {
    const [a, b] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0]];
    const room = 'kick-across';
    const pubPage = await openPage(browser, a);
    const subPage = await openPage(browser, b);
    const pubId = await publishFrom(pubPage, room, 'alice');
    const subId = await subscribeFrom(subPage, room, 'bob');
    await waitFor('media on B', async () => {
      const m = mediaOf(await subView(subPage));
      return m.videoFrames > 30 && m.audioPackets > 50;
    });
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'dist', 'src', 'admin', 'cli.js'), '--url', a.privateUrl, '--output', 'json', 'kick', room, subId],
      {
        encoding: 'utf8',
        timeout: 15_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { room, id: subId, ended: true });
    assert.equal((await b.resources()).peers, 0, 'B closed its session');
    assert.deepEqual(await b.list('sub', room), []);
    assert.deepEqual(await a.list('pub', room), [pubId]);
    assert.ok(b.logs.some((l) => l.includes('"kicked (admin)"')));

    await callIn(pubPage, 'pub', 'stop');
    await waitFor('room_finished', () => events.some((e) => e.room === room && e.event === 'room_finished'));
    const mine = events.filter((e) => e.room === room);
    assert.equal(mine.filter((e) => e.event === 'room_started').length, 1);
    assert.equal(mine.filter((e) => e.event === 'room_finished').length, 1);
    assert.deepEqual(
      mine
        .filter((e) => e.event === 'participant_left')
        .map((e) => e.participant!.id)
        .sort(),
      [pubId, subId].sort(),
    );
    await Promise.all([pubPage.close(), subPage.close()]);
  });
});
