/**
 * Structured JSON logs on stdout (pino); level from LOG_LEVEL; `--log-pretty` for humans.
 * Tokens are redacted everywhere.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', pretty = false): Logger {
  const options = {
    level,
    base: { pod: process.env.POD_NAME ?? undefined },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token'], censor: '[redacted]' },
  };
  if (!pretty) return pino(options);
  // pino-pretty formats in a worker thread; the hot paths never log anyway.
  return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 1, translateTime: 'SYS:HH:MM:ss.l' } }));
}
