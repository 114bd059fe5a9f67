/**
 * `scripts/cluster.sh` as documented: the reference topology on this machine, media
 * across its instances, coturn taking the credentials the instances hand out, and Ctrl-C
 * (SIGINT to the process group) stops every process.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { LoadClients } from 'weever-load';
import { paths } from 'weever-protocol';
import { allocate, freeTcpUdpPort } from './coturn.js';
import { ROOT, waitFor } from './harness.js';
import { freePort } from './services.js';

const SCRIPT = join(ROOT, 'scripts', 'cluster.sh');

/** A base port whose `n` consecutive ports are free now (the script numbers from a base). */
async function freeRun(n: number): Promise<number> {
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (;;) {
    const base = await freePort();
    if (base + n > 65535) continue;
    let ok = true;
    for (let i = 1; i < n && ok; i++) ok = await bindable(base + i);
    if (ok) return base;
  }
}

function groupAlive(pgid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((s) => Number.parseInt(s, 10))
    .filter((n) => Number.isInteger(n));
}

describe('scripts/cluster.sh', () => {
  after(() => nodeDataChannel.cleanup());

  it('starts 1 redis, 3 nats nodes, coturn and 3 instances that share rooms; Ctrl-C stops them all', async () => {
    const relayFrom = 40000 + Math.floor(Math.random() * 20000);
    const env = {
      ...process.env,
      PUBLIC_PORT: String(await freeRun(3)),
      PRIVATE_PORT: String(await freeRun(3)),
      REDIS_PORT: String(await freePort()),
      NATS_PORT: String(await freeRun(3)),
      NATS_ROUTE_PORT: String(await freeRun(3)),
      TURN_PORT: String(await freeTcpUdpPort()),
      TURN_RELAY_PORTS: `${relayFrom}-${relayFrom + 100}`,
      WEEVER_LOG_LEVEL: 'warn',
    };
    const proc = spawn('bash', [SCRIPT], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: string[] = [];
    proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    try {
      await waitFor('the script says it is running', () => stderr.join('').includes('Ctrl-C stops everything'), 30_000);
      // 1 bash + 1 redis + 3 nats + 1 coturn + 3 node processes in the script's process group
      assert.ok(groupAlive(proc.pid!).length >= 9, String(groupAlive(proc.pid!)));
      const priv = (i: number) => `http://127.0.0.1:${Number(env.PRIVATE_PORT) + i}`;
      const pub = (i: number) => `http://127.0.0.1:${Number(env.PUBLIC_PORT) + i}`;
      for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`${priv(i)}/readiness`)).text(), 'OK');

      // every instance hands out coturn with short-lived credentials, and coturn takes them
      const turnUrls = [`turn:127.0.0.1:${env.TURN_PORT}`, `turn:127.0.0.1:${env.TURN_PORT}?transport=tcp`];
      for (let i = 0; i < 3; i++) {
        const servers = (await (await fetch(`${pub(i)}${paths.iceServers('pub', 'script', 'alice+1')}`)).json()) as {
          urls: string[];
          username: string;
          credential: string;
        }[];
        assert.equal(servers.length, 1);
        assert.deepEqual(servers[0]!.urls, turnUrls);
        assert.deepEqual(
          await allocate(Number(env.TURN_PORT), servers[0]!.username, servers[0]!.credential),
          { ok: true },
          `instance ${i}`,
        );
      }
      assert.deepEqual(await allocate(Number(env.TURN_PORT), `${Math.floor(Date.now() / 1000) + 600}:x`, 'made-up'), {
        ok: false,
        code: 401,
      });

      // load-tool clients: VP8 at 300 kbit/s from instance 0, counted at a subscriber of instance 2
      const video = { bitrate: 300_000, fps: 30, keyframeInterval: 2 };
      const publisher = await LoadClients.create({ target: 'weever', url: pub(0), room: 'script', video, audio: false, concurrency: 1 });
      const viewer = await LoadClients.create({ target: 'weever', url: pub(2), room: 'script', video: null, audio: false, concurrency: 1 });
      try {
        await publisher.publish(['alice']);
        await viewer.subscribe(['bob']);
        assert.deepEqual(publisher.snapshot().failures, []);
        assert.deepEqual(viewer.snapshot().failures, []);
        await waitFor('packets from instance 0 at a subscriber of instance 2', () => viewer.snapshot().video.packets > 100);
        for (let i = 0; i < 3; i++) {
          const r = await fetch(`${priv(i)}/list/pub/script`, { headers: { Accept: 'application/json' } });
          // one publisher; `alice-2` when the load client's first DTLS handshake failed and it
          // retried under a new id (packages/load/src/weever-target.ts, retryConnect)
          const list = (await r.json()) as string[];
          assert.equal(list.length, 1, JSON.stringify(list));
          assert.match(list[0]!, /^alice(-\d+)?$/);
        }
      } finally {
        await viewer.close();
        await publisher.close();
      }
    } finally {
      process.kill(-proc.pid!, 'SIGINT'); // what Ctrl-C in a terminal does
      if (proc.exitCode === null) await once(proc, 'exit');
    }
    await waitFor('every process of the cluster gone', () => groupAlive(proc.pid!).length === 0, 10_000);
    assert.match(stderr.join(''), /cluster.sh: stopping/);
  });
});
