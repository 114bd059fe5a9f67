/**
 * Assembles one instance: engine, state store, bus, SFU, and the public and
 * private HTTP servers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bus } from './bus/bus.js';
import { LocalBus } from './bus/local.js';
import { NatsBus } from './bus/nats.js';
import type { Config } from './config/config.js';
import { MediaEngine } from './media/engine.js';
import { Sfu } from './media/sfu.js';
import { createSyncLogger, type Logger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { loopbackOnly } from './signalling/loopback-only.js';
import { registerPrivateApi } from './signalling/private-api.js';
import { type HttpRefusals, installErrorHandling, registerPublicApi } from './signalling/public-api.js';
import { MemoryStateStore } from './state/memory.js';
import { RedisStateStore, redactUrl } from './state/redis.js';
import type { StateStore } from './state/store.js';
import { registerDemoSite, registerSdk } from './static-site.js';
import { WebhookSender } from './webhooks/sender.js';

/** At shutdown, how long queued webhook events may still take. */
const WEBHOOK_FLUSH_MS = 2000;

export interface RunningServer {
  sfu: Sfu;
  /** names this process in Redis (entry ownership) and on NATS */
  instanceId: string;
  publicUrl: string;
  privateUrl: string;
  /** closes every peer and both servers at once; idempotent */
  close(): Promise<void>;
  /**
   * Stops taking peers (readiness BUSY, POST 503), waits until the last one leaves or
   * `timeoutMs` passes, then closes. Idempotent; a shorter timeout given later wins.
   */
  drain(timeoutMs: number): Promise<void>;
  /** resolves once the instance has closed, whoever started it (signal, /preStop) */
  stopped: Promise<void>;
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  // Unique per process: a restarted pod must not inherit the entries of its previous life.
  const instanceId = `${process.env.POD_NAME || hostname()}-${randomBytes(3).toString('hex')}`;
  let sfu: Sfu | undefined;
  const httpRefusals: HttpRefusals = { rateLimited: 0, requestTimeout: 0 };
  const metrics = new Metrics(process.env.POD_NAME || hostname(), () =>
    sfu
      ? {
          peersByRoom: () => sfu!.peersByRoom(),
          tracks: () => sfu!.tracks(),
          tracksByRoom: () => sfu!.tracksByRoom(),
          traffic: () => sfu!.traffic(),
          refusals: () => ({ pending: sfu!.refusals.pending, ...httpRefusals }),
          busCounters: () => sfu!.bus.stats().nats ?? {},
        }
      : undefined,
  );
  const shared = await connectShared(config, log, instanceId, () => sfu);
  const { bus } = shared;
  const store = metrics.instrument(shared.store);
  const engine = new MediaEngine(config, log);
  engine.watch((silentMs) => {
    // Nothing in this process can unwedge the engine's threads, and an orderly exit may hang
    // joining them: say why, then end at once so the supervisor (or Kubernetes) starts anew.
    // Written synchronously: `log` writes asynchronously, and the SIGKILL right after it
    // sometimes came before the line was out (pino's flush() does not wait for a write in flight).
    createSyncLogger(config.logLevel).fatal(
      { silentMs: Math.round(silentMs) },
      'media engine wedged: no packet passed through it; exiting for a restart',
    );
    process.kill(process.pid, 'SIGKILL');
  });
  sfu = new Sfu(
    config,
    engine,
    store,
    bus,
    log,
    (seconds) => {
      metrics.renegotiations.inc();
      metrics.renegotiationSeconds.observe(seconds);
    },
    (seconds) => metrics.layerSwitchSeconds.observe(seconds),
  );
  const webhooks = config.webhooks
    ? new WebhookSender({
        urls: config.webhooks.urls,
        secret: config.webhooks.secret,
        log: log.child({ component: 'webhooks' }),
        onOutcome: (outcome, event) => metrics.webhooks.inc({ event, outcome }),
      })
    : undefined;
  if (webhooks) sfu.onHappening((h) => webhooks.emit(h));
  const purge = setInterval(() => {
    shared.store.purgeExpired();
  }, 60_000);
  purge.unref();
  const resources = () => ({
    ...sfu.resources(),
    storeKeys: store.localEntries(),
    traffic: sfu.traffic(),
    engine: engine.status(),
    // process CPU in µs (user+system): benchmarks divide its growth by forwarded packets
    cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
    rssBytes: process.memoryUsage.rss(),
  });

  const common = {
    loggerInstance: log,
    routerOptions: { maxParamLength: 1024 }, // long names reach our validation and get a 400, not a 404
    bodyLimit: config.maxBodyBytes,
    // a caller's X-Request-Id is kept (tracing through a proxy); otherwise a fresh uuid
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  };
  const pub: FastifyInstance = Fastify({ ...common, ...slowClientLimits(config, httpRefusals) }) as unknown as FastifyInstance;
  installErrorHandling(pub);
  await registerPublicApi(pub, config, sfu, httpRefusals);
  const management = {
    resources,
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    // docs/protocol.md, private API: answers when the instance has no peer left (they left, or the drain
    // timeout closed them); the servers close right after the answer.
    preStop: async () => {
      void drain(config.drainTimeoutMs);
      await sfu.idle();
    },
  };
  registerSdk(pub);
  if (config.debug) {
    // The demo pages are public; the management routes answer loopback peers only unless the
    // operator says otherwise (docs/security.md, "Defaults").
    await pub.register(async (scope) => {
      if (!config.debugRemoteManagement) scope.addHook('onRequest', loopbackOnly);
      registerPrivateApi(scope, sfu, management);
    });
    registerDemoSite(pub);
  }

  const priv: FastifyInstance = Fastify(common) as unknown as FastifyInstance;
  installErrorHandling(priv);
  registerPrivateApi(priv, sfu, management);

  const publicAddr = await pub.listen({ host: config.host, port: config.port });
  let privateAddr: string;
  try {
    privateAddr = await priv.listen({ host: config.privateHost, port: config.privatePort });
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

  let closing: Promise<void> | undefined;
  let stoppedResolve!: () => void;
  const stopped = new Promise<void>((r) => {
    stoppedResolve = r;
  });
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(purge);
      sfu.draining = true;
      // Each step runs even if one before failed; `stopped` always resolves.
      const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
        try {
          await fn();
        } catch (err) {
          log.error({ err, step: what }, 'error while stopping');
        }
      };
      try {
        await step('peers', () => sfu.close());
        // the last events (participant_left, room_finished) get a short chance to go out
        await step('webhooks', () => webhooks?.flush(WEBHOOK_FLUSH_MS));
        await step('http', () => Promise.all([pub.close(), priv.close()]));
        // The store before the bus: no reaping (and its pub-left) once the bus is going away.
        await step('state store', () => store.close());
        await step('bus', () => bus.close());
        await step('engine', () => engine.close());
        log.info('stopped');
      } finally {
        stoppedResolve();
      }
    })();
    return closing;
  };
  let drainDeadline = Number.POSITIVE_INFINITY;
  let drainTimer: NodeJS.Timeout | undefined;
  const drain = (timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    if (closing || deadline >= drainDeadline) return stopped;
    drainDeadline = deadline;
    if (!sfu.draining) {
      sfu.draining = true;
      log.info({ peers: sfu.resources().peers, timeoutMs }, 'draining: no new peers; closing when the last one leaves');
      void sfu.idle().then(() => close());
    }
    clearTimeout(drainTimer);
    drainTimer = setTimeout(() => {
      if (!closing) log.info({ peers: sfu.resources().peers }, 'drain timeout: closing the remaining peers');
      void close();
    }, timeoutMs);
    drainTimer.unref();
    return stopped;
  };

  return { sfu, instanceId, publicUrl: publicAddr, privateUrl: privateAddr, close, drain, stopped };
}

/** The embedded store and bus, or Redis and NATS when configured. Fails naming the option. */
/**
 * A public request must arrive whole within `timeoutMs` (Node's default is 300 s: 200 clients
 * that declare 100 kB and send 100 B would hold 200 sockets for minutes). Refusals are one
 * line of text, like every other error, and counted.
 */
function slowClientLimits(config: Config, refusals: HttpRefusals) {
  const timeoutMs = config.requestTimeoutMs;
  // Node checks these every `connectionsCheckingInterval` (30 s by default): check every second.
  const limits = { requestTimeout: timeoutMs, headersTimeout: timeoutMs, connectionsCheckingInterval: Math.min(1000, timeoutMs) };
  const tls = config.tls;
  return {
    serverFactory: (handler: RequestListener) =>
      tls ? createHttpsServer({ ...limits, cert: tls.cert, key: tls.key }, handler) : createHttpServer(limits, handler),
    // Fastify builds its own idea of the server (listen URLs, protocol) from this, not from the factory.
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    clientErrorHandler: (err: Error & { code?: string }, socket: Duplex) => {
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (timeout) refusals.requestTimeout++;
      const [status, text] = timeout
        ? [408, 'request not received in time']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'headers too large']
          : [400, 'bad request'];
      if (socket.writable) {
        const body = `${text}\n`;
        socket.write(
          `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    },
  };
}

async function connectShared(
  config: Config,
  log: Logger,
  instanceId: string,
  sfu: () => Sfu | undefined,
): Promise<{ store: StateStore; bus: Bus }> {
  const onHandlerError = (err: unknown) => log.error({ err }, 'room event handler failed');
  let bus: Bus;
  if (config.nats) {
    try {
      bus = await NatsBus.connect({
        servers: config.nats,
        name: `weever-streaming ${instanceId}`,
        log: log.child({ component: 'nats' }),
        onError: onHandlerError,
      });
    } catch (err) {
      throw new Error(`--nats: cannot connect to ${config.nats.join(',')}: ${(err as Error).message}`);
    }
  } else {
    bus = new LocalBus(onHandlerError);
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
        // and their users leave (or lose those connections)
        for (const p of peers) void sfu()?.participants.disconnected(p.room, p.fullId);
      },
      onResynced: () => sfu()?.reannounce(),
    });
    return { store, bus };
  } catch (err) {
    await bus.close();
    throw new Error(`--redis: ${(err as Error).message.replace(config.redis, redactUrl(config.redis))}`);
  }
}
