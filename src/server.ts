/**
 * Assembles one instance: engine, state store, bus, SFU, and the public and
 * private HTTP servers.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bus } from './bus/bus.js';
import { LocalBus } from './bus/local.js';
import { NatsBus } from './bus/nats.js';
import type { Config } from './config/config.js';
import { MediaEngine } from './media/engine.js';
import { Sfu } from './media/sfu.js';
import type { Logger } from './observability/log.js';
import { registerPrivateApi } from './signalling/private-api.js';
import { installErrorHandling, registerPublicApi } from './signalling/public-api.js';
import { MemoryStateStore } from './state/memory.js';
import { RedisStateStore, redactUrl } from './state/redis.js';
import type { StateStore } from './state/store.js';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');

export interface RunningServer {
  sfu: Sfu;
  /** names this process in Redis (entry ownership) and on NATS */
  instanceId: string;
  publicUrl: string;
  privateUrl: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  // Unique per process: a restarted pod must not inherit the entries of its previous life.
  const instanceId = `${process.env.POD_NAME || hostname()}-${randomBytes(3).toString('hex')}`;
  let sfu: Sfu | undefined;
  const { store, bus } = await connectShared(config, log, instanceId, () => sfu);
  const engine = new MediaEngine(config, log);
  sfu = new Sfu(config, engine, store, bus, log);
  const purge = setInterval(() => {
    if (store instanceof MemoryStateStore) store.purgeExpired();
  }, 60_000);
  purge.unref();
  const resources = () => ({
    ...sfu.resources(),
    storeKeys: store.localEntries(),
    traffic: sfu.traffic(),
    // process CPU in µs (user+system): benchmarks divide its growth by forwarded packets
    cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
    rssBytes: process.memoryUsage.rss(),
  });

  const common = {
    loggerInstance: log,
    routerOptions: { maxParamLength: 1024 }, // long names reach our validation and get a 400, not a 404
    bodyLimit: config.maxBodyBytes,
  };
  const pub: FastifyInstance = config.tls
    ? (Fastify({ ...common, https: { cert: config.tls.cert, key: config.tls.key } }) as unknown as FastifyInstance)
    : (Fastify(common) as unknown as FastifyInstance);
  installErrorHandling(pub);
  await registerPublicApi(pub, config, sfu);
  if (config.debug) {
    registerPrivateApi(pub, sfu, resources);
    for (const [path, file, type] of [
      ['/', 'index.html', 'text/html; charset=utf-8'],
      ['/demo.js', 'demo.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      pub.get(path, async (_req, reply) => reply.type(type).send(await readFile(join(PUBLIC_DIR, file))));
    }
  }

  const priv: FastifyInstance = Fastify(common) as unknown as FastifyInstance;
  installErrorHandling(priv);
  registerPrivateApi(priv, sfu, resources);

  const publicAddr = await pub.listen({ host: config.host, port: config.port });
  let privateAddr: string;
  try {
    privateAddr = await priv.listen({ host: config.host, port: config.privatePort });
  } catch (err) {
    await pub.close();
    await Promise.allSettled([bus.close(), store.close()]);
    throw err;
  }
  log.info(
    {
      public: publicAddr,
      private: privateAddr,
      debug: config.debug,
      instance: instanceId,
      state: config.redis ? 'redis' : 'memory',
      bus: config.nats ? 'nats' : 'local',
    },
    'weever-streaming listening',
  );

  return {
    sfu,
    instanceId,
    publicUrl: publicAddr,
    privateUrl: privateAddr,
    async close() {
      clearInterval(purge);
      await sfu.close();
      await Promise.all([pub.close(), priv.close()]);
      await bus.close();
      await store.close();
      engine.close();
    },
  };
}

/** The embedded store and bus, or Redis and NATS when configured. Fails naming the option. */
async function connectShared(
  config: Config,
  log: Logger,
  instanceId: string,
  sfu: () => Sfu | undefined,
): Promise<{ store: StateStore; bus: Bus }> {
  let bus: Bus;
  if (config.nats) {
    try {
      bus = await NatsBus.connect({
        servers: config.nats,
        name: `weever-streaming ${instanceId}`,
        log: log.child({ component: 'nats' }),
        onError: (err) => log.error({ err }, 'room event handler failed'),
      });
    } catch (err) {
      throw new Error(`--nats: cannot connect to ${config.nats.join(',')}: ${(err as Error).message}`);
    }
  } else {
    bus = new LocalBus((err) => log.error({ err }, 'room event handler failed'));
  }
  if (!config.redis) return { store: new MemoryStateStore(), bus };
  try {
    const store = await RedisStateStore.connect({
      url: config.redis,
      instanceId,
      log: log.child({ component: 'redis' }),
      // Publishers of a dead instance leave their rooms; we alone reaped them.
      onReaped: (peers) => {
        for (const p of peers) if (p.role === 'pub') bus.publishRoomEvent(p.room, { type: 'pub-left', pub: p.fullId });
      },
      onResynced: () => sfu()?.reannounce(),
    });
    return { store, bus };
  } catch (err) {
    await bus.close();
    throw new Error(`--redis: ${(err as Error).message.replace(config.redis, redactUrl(config.redis))}`);
  }
}
