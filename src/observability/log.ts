/** Structured JSON logs on stdout; level from LOG_LEVEL. Tokens are redacted everywhere. */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { pod: process.env.POD_NAME ?? undefined },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token'], censor: '[redacted]' },
  });
}
