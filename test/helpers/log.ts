/** A pino logger writing into memory, for tests that assert on what was logged. */
import { type Logger, pino } from 'pino';

export type LogEntry = { level: number; msg: string; [k: string]: unknown };

export interface MemoryLog {
  log: Logger;
  /** the JSON lines as written */
  lines: string[];
  /** the lines parsed; only those whose `msg` is `msg` when given */
  entries(msg?: string): LogEntry[];
}

export function memoryLog(level = 'info'): MemoryLog {
  const lines: string[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(s) });
  return {
    log,
    lines,
    entries: (msg) => lines.map((l) => JSON.parse(l) as LogEntry).filter((e) => msg === undefined || e.msg === msg),
  };
}
