#!/usr/bin/env node
/** Entry point: parse options, start the instance, stop cleanly on SIGTERM/SIGINT. */
import { CommanderError } from 'commander';
import { type Config, ConfigError, legacyEnvSet, parseConfig } from './config/config.js';
import { answerHeartbeat } from './heartbeat.js';
import { createLogger } from './observability/log.js';
import { startServer } from './server.js';
import { SUPERVISED_ENV, supervise } from './supervisor.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode); // commander printed help or the error
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, config.logPretty);
  // Once (not again in a supervised child): old unprefixed names are ignored now; name them, never their values.
  const legacy = process.env[SUPERVISED_ENV] ? [] : legacyEnvSet(process.env);
  if (legacy.length > 0) {
    log.warn(
      { ignored: legacy.map((v) => v.old), use: legacy.map((v) => v.new) },
      `environment variables without the WEEVER_ prefix are not read: use ${legacy.map((v) => v.new).join(', ')} (docs/protocol.md, Configuration)`,
    );
  }
  if (config.supervise && !process.env[SUPERVISED_ENV]) {
    supervise(process.argv[1]!, process.argv.slice(2), log);
    return;
  }
  // One peer's failed promise must not take every other peer down with the process.
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  // Under --supervise: the heartbeat is answered while the engine passes packets and our timers run.
  const heartbeat = process.env[SUPERVISED_ENV] ? answerHeartbeat(() => server?.sfu.engine.healthy() ?? true) : undefined;
  server = await startServer(config, log);
  heartbeat?.ready();
  if (config.debug) {
    const url = new URL(server.publicUrl);
    url.hostname = 'localhost'; // secure context for getUserMedia without TLS
    process.stderr.write(`demo: ${url.origin}/?room=demo\n`);
  }
  // SIGTERM drains: no new peers, the current ones stay until they leave or --drain-timeout.
  // SIGINT (Ctrl-C) closes them at once. A second signal closes at once too.
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    log.info({ signal }, 'stopping');
    const timeoutMs = signal === 'SIGTERM' && signals === 1 ? config.drainTimeoutMs : 0;
    server!.drain(timeoutMs).catch((err) => {
      log.error({ err }, 'stop failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Under --supervise: a supervisor that is gone (killed) must not leave its instance behind.
  if (process.env[SUPERVISED_ENV]) process.on('disconnect', () => onSignal('SIGINT'));
  // However it was started (signal or /preStop), the process ends once the instance has closed.
  server!.stopped.then(() => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
