/**
 * Issue 22 item 7, the short CI run: the seeded random attacker of fuzz-run.ts against an
 * instance under --supervise for FUZZ_RECOVERY_SECONDS (60). After each attack the instance
 * must serve media again within 10 s: a fresh load-tool publisher and subscriber get video.
 * Prints each attack and how long the service was down; FUZZ_SEED=<n> replays. The long run
 * is a benchmark: `npm run bench -- fuzz --minutes 10`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { fuzzRecovery } from './fuzz-run.js';
import { type Supervised, startSupervised } from './supervised.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const SECONDS = Number(process.env.FUZZ_RECOVERY_SECONDS ?? 60);
const BOUND_MS = 10_000;

describe(`fuzz recovery (seed ${SEED}, ${SECONDS} s)`, () => {
  let s: Supervised | undefined;
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // already gone
      }
    }
    if (s?.proc.exitCode === null) {
      s.proc.kill('SIGTERM');
      await once(s.proc, 'exit');
    }
    nodeDataChannel.cleanup(); // the clients' native threads would keep the process alive
    const file = join(tmpdir(), `weever-fuzz-recovery-${SEED}.log`);
    writeFileSync(file, `${s?.lines.join('\n')}\n`);
    console.error(`server log: ${file}`);
  });

  it('after every attack a fresh pair gets media within 10 s', async () => {
    console.error(`fuzz recovery seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
    s = await startSupervised();
    const downs = await fuzzRecovery({
      s,
      seed: SEED,
      seconds: SECONDS,
      cleanups,
      onAttack: (n, d) => console.error(`attack ${n}: ${d.attack}: media for a fresh pair ${d.downMs} ms after it`),
    });
    const worst = Math.max(...downs.map((d) => d.downMs));
    console.error(`seed ${SEED}: ${downs.length} attacks, worst ${worst} ms`);
    assert.ok(downs.length > 0);
    for (const d of downs) assert.ok(d.downMs <= BOUND_MS, `seed ${SEED}: ${d.attack}: down ${d.downMs} ms`);
  });
});
