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

/** Ports handed out by this process: never handed out twice (the OS may give a closed port again at once). */
const handedOut = new Set<number>();

/**
 * A port that was free a moment ago: TCP on 127.0.0.1, or UDP on every interface (as the
 * server's --rtc-udp-port binds), and not one this process handed out before.
 */
export async function freePort(protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  for (;;) {
    const port = await anyFreePort(protocol);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

async function anyFreePort(protocol: 'tcp' | 'udp'): Promise<number> {
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

/**
 * `n` nats-server processes forming one cluster; resolves when every route is up. A node
 * that cannot start (a port taken between our check and its bind) fails the attempt: its
 * nodes are killed and the cluster is started again on other ports, up to 3 times.
 */
export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(n);
    } catch (err) {
      if (attempt === 3) throw err;
      console.error(`NATS cluster attempt ${attempt} failed (${(err as Error).message}); trying other ports`);
    }
  }
}

async function startNatsClusterOnce(n: number): Promise<NatsCluster> {
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
  let exited = '';
  for (const [i, x] of nodes.entries()) x.proc.once('exit', (code, signal) => (exited ||= `node ${i} exited (${code ?? signal})`));
  const stop = () => Promise.all(nodes.map((x) => endProcess(x.proc, 'SIGKILL')));
  await waitFor(
    'a fully routed NATS cluster',
    async () => {
      if (exited) return true; // fails below, without waiting for the timeout
      for (const p of ports) {
        const r = await fetch(`http://127.0.0.1:${p.http}/routez`);
        const j = (await r.json()) as { num_routes: number };
        if (j.num_routes < n - 1) return false;
      }
      return true;
    },
    15_000,
    100,
  ).catch(async (err) => {
    await stop();
    throw err;
  });
  if (exited) {
    await stop();
    throw new Error(exited);
  }
  return {
    nodes,
    kill: (i) => endProcess(nodes[i]!.proc, 'SIGKILL'),
    async stop() {
      await stop();
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
  let nats: NatsCluster;
  try {
    nats = await startNatsCluster(3);
  } catch (err) {
    await redis.stop(); // nothing left behind to keep the test process alive
    throw err;
  }
  const urls = nats.nodes.map((x) => x.url);
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => {
      const own = i % urls.length;
      const ordered = [urls[own]!, ...urls.filter((_, j) => j !== own)];
      return startServer(['--redis', redis.url, '--nats', ordered.join(','), ...extraArgs]);
    }),
  );
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await Promise.allSettled([nats.stop(), redis.stop()]);
    throw failed.reason;
  }
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
