/**
 * Assembles one instance: engine, state store, bus, SFU, and the public and
 * private HTTP servers.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { LocalBus } from './bus/local.js';
import type { Config } from './config/config.js';
import { MediaEngine } from './media/engine.js';
import { Sfu } from './media/sfu.js';
import type { Logger } from './observability/log.js';
import { registerPrivateApi } from './signalling/private-api.js';
import { installErrorHandling, registerPublicApi } from './signalling/public-api.js';
import { MemoryStateStore } from './state/memory.js';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');

export interface RunningServer {
  sfu: Sfu;
  publicUrl: string;
  privateUrl: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const engine = new MediaEngine(config, log);
  const store = new MemoryStateStore();
  const bus = new LocalBus((err) => log.error({ err }, 'room event handler failed'));
  const sfu = new Sfu(config, engine, store, bus, log);
  const purge = setInterval(() => store.purgeExpired(), 60_000);
  purge.unref();
  const resources = () => ({
    ...sfu.resources(),
    storeKeys: store.size(),
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
    throw err;
  }
  log.info({ public: publicAddr, private: privateAddr, debug: config.debug }, 'weever-streaming listening');

  return {
    sfu,
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
