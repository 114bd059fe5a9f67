#!/usr/bin/env node
/** `weever-load`: a bounded load run against one server; progress on stderr, summary (or --json) on stdout. */
import { CommanderError } from 'commander';
import { parseLoadArgs } from './options.js';
import { runLoad } from './run.js';
import { summaryTable } from './summary.js';

/** Connecting may take this long on top of --duration before the tool gives up. */
const CONNECT_ALLOWANCE_S = 120;

async function main(): Promise<void> {
  let o: ReturnType<typeof parseLoadArgs>;
  try {
    o = parseLoadArgs(process.argv.slice(2), (c) => c.exitOverride());
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed help or the error
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // Always stops: whatever hangs (a server that never answers), the process ends.
  setTimeout(
    () => {
      process.stderr.write('weever-load: did not finish in time, stopping\n');
      process.exit(3);
    },
    (o.duration + CONNECT_ALLOWANCE_S) * 1000,
  ).unref();
  const r = await runLoad(o);
  process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${summaryTable(r)}\n`);
  const ok = r.publishers.connected > 0 || r.subscribers.connected > 0;
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`weever-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
