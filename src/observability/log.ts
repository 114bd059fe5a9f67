/**
 * Structured JSON logs on stdout (pino); level from --log-level / WEEVER_LOG_LEVEL; `--log-pretty` for humans.
 * Tokens are redacted everywhere.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

function loggerOptions(level: string) {
  return {
    level,
    base: { pod: process.env.POD_NAME ?? undefined },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token'], censor: '[redacted]' },
  };
}

/**
 * A logger whose lines are on stdout when the call returns: for the last line before the
 * process kills itself. The usual logger writes asynchronously (pino's default), and a
 * line written just before a SIGKILL was sometimes lost.
 */
export function createSyncLogger(level = process.env.WEEVER_LOG_LEVEL ?? 'info'): Logger {
  return pino(loggerOptions(level), pino.destination({ dest: 1, sync: true }));
}

export function createLogger(level = process.env.WEEVER_LOG_LEVEL ?? 'info', pretty = false): Logger {
  const options = loggerOptions(level);
  if (!pretty) return pino(options);
  // pino-pretty formats in a worker thread; the hot paths never log anyway.
  return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 1, translateTime: 'SYS:HH:MM:ss.l' } }));
}
