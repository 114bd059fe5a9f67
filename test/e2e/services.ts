/**
 * Real Redis and a real 3-node NATS cluster for the cluster tests: Debian's
 * `redis-server` and `nats-server` on free ports of 127.0.0.1, stopped by the tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerProcess, startServer, waitFor } from './harness.js';

/** A port that was free a moment ago: TCP on 127.0.0.1, or UDP on every interface (as the server's --rtc-udp-port binds). */
export async function freePort(protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (protocol === 'udp') {
    const sock = createSocket('udp4');
    sock.bind(0);
    await once(sock, 'listening');
    const { port } = sock.address();
    await new Promise<void>((resolve) => sock.close(resolve));
    return port;
  }
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Resolves true when something accepts connections on 127.0.0.1:`port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Sends `signal` to `proc` and waits for its exit; nothing when it has exited already. */
export async function endProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill(signal);
  await once(proc, 'exit');
}

export interface RedisServer {
  url: string;
  port: number;
  /** kill -9: the data written so far stays on disk (appendfsync always) */
  kill(): Promise<void>;
  /** starts it again on the same port and data */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server with an append-only file, so a restart brings back what was written. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'weever-redis-'));
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
      { stdio: 'ignore' },
    );
    await waitFor(`redis-server on ${port}`, () => accepts(port), 10_000, 50);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: () => endProcess(proc, 'SIGKILL'),
    restart: launch,
    async stop() {
      await endProcess(proc, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface NatsNode {
  url: string;
  proc: ChildProcess;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** kill -9 of one node */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** `n` nats-server processes forming one cluster; resolves when every route is up. */
export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  const ports = await Promise.all(
    Array.from({ length: n }, async () => ({ client: await freePort(), route: await freePort(), http: await freePort() })),
  );
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(',');
  const nodes: NatsNode[] = ports.map((p, i) => ({
    url: `nats://127.0.0.1:${p.client}`,
    proc: spawn(
      'nats-server',
      [
        '--addr',
        '127.0.0.1',
        '--port',
        String(p.client),
        '--http_port',
        String(p.http),
        '--name',
        `weever-test-${i}`,
        '--cluster_name',
        'weever-test',
        '--cluster',
        `nats://127.0.0.1:${p.route}`,
        '--routes',
        routes,
      ],
      { stdio: 'ignore' },
    ),
  }));
  await waitFor(
    'a fully routed NATS cluster',
    async () => {
      for (const p of ports) {
        const r = await fetch(`http://127.0.0.1:${p.http}/routez`);
        const j = (await r.json()) as { num_routes: number };
        if (j.num_routes < n - 1) return false;
      }
      return true;
    },
    15_000,
    100,
  );
  return {
    nodes,
    kill: (i) => endProcess(nodes[i]!.proc, 'SIGKILL'),
    async stop() {
      await Promise.all(nodes.map((x) => endProcess(x.proc, 'SIGKILL')));
    },
  };
}

export interface Cluster {
  redis: RedisServer;
  nats: NatsCluster;
  servers: ServerProcess[];
  stop(): Promise<void>;
}

/** The reference topology: 1 Redis, a 3-node NATS cluster, `n` instances, instance i on NATS node i. */
export async function startCluster(n = 3, extraArgs: string[] = []): Promise<Cluster> {
  const redis = await startRedis();
  const nats = await startNatsCluster(3);
  const urls = nats.nodes.map((x) => x.url);
  const servers = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const own = i % urls.length;
      const ordered = [urls[own]!, ...urls.filter((_, j) => j !== own)];
      return startServer(['--redis', redis.url, '--nats', ordered.join(','), ...extraArgs]);
    }),
  );
  return {
    redis,
    nats,
    servers,
    async stop() {
      await Promise.allSettled(servers.map((s) => s.stop()));
      await Promise.allSettled([nats.stop(), redis.stop()]);
    },
  };
}
