/**
 * `npm run bench -- fuzz --minutes 10`: the long run of the seeded random attacker (issue 22
 * item 7; the attacker lives with the server's tests, dist/test/e2e/fuzz-run.js, and its
 * 60 s CI run is test/e2e/fuzz-recovery.test.ts). Starts the README's first command
 * (`--supervise`) on loopback and attacks it for --minutes; after each attack, how long
 * until a fresh publisher and subscriber got video. Prints a table per attack kind (count,
 * median, worst) and the seed to replay it.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodeDataChannel from 'node-datachannel';

const ROOT_TESTS = new URL('../../../../dist/test/e2e/', import.meta.url);

export interface FuzzBenchOptions {
  minutes: number;
  seed?: number;
}

interface Down {
  kind: string;
  from: string;
  attack: string;
  downMs: number;
}

export interface FuzzBenchResult {
  seed: number;
  seconds: number;
  attacks: number;
  /** per attack kind and side: count, median and worst ms until a fresh pair got video */
  kinds: { kind: string; from: string; count: number; medianMs: number; worstMs: number }[];
  worstMs: number;
  /** attacks after which a fresh pair waited longer than 10 s */
  over10s: number;
  serverLog: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export async function fuzz(o: FuzzBenchOptions): Promise<FuzzBenchResult> {
  const { fuzzRecovery } = (await import(new URL('fuzz-run.js', ROOT_TESTS).href)) as {
    fuzzRecovery(x: object): Promise<Down[]>;
  };
  const { startSupervised } = (await import(new URL('supervised.js', ROOT_TESTS).href)) as {
    startSupervised(): Promise<{ proc: import('node:child_process').ChildProcess; lines: string[] }>;
  };
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const seconds = Math.round(o.minutes * 60);
  console.error(`fuzz: seed ${seed} (replay: --seed ${seed}), ${seconds} s`);
  const s = await startSupervised();
  const cleanups: (() => unknown)[] = [];
  let downs: Down[] = [];
  try {
    downs = await fuzzRecovery({
      s,
      seed,
      seconds,
      cleanups,
      onAttack: (n: number, d: Down) => console.error(`attack ${n}: ${d.attack}: a fresh pair got video ${d.downMs} ms after it`),
    });
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // already gone
      }
    }
    if (s.proc.exitCode === null) {
      s.proc.kill('SIGTERM');
      await once(s.proc, 'exit');
    }
    nodeDataChannel.cleanup();
  }
  const serverLog = join(tmpdir(), `weever-fuzz-bench-${seed}.log`);
  writeFileSync(serverLog, `${s.lines.join('\n')}\n`);
  const groups = new Map<string, Down[]>();
  for (const d of downs) {
    const key = `${d.kind}\t${d.from}`;
    groups.set(key, [...(groups.get(key) ?? []), d]);
  }
  const kinds = [...groups].map(([key, ds]) => {
    const [kind, from] = key.split('\t') as [string, string];
    const ms = ds.map((d) => d.downMs);
    return { kind, from, count: ds.length, medianMs: median(ms), worstMs: Math.max(...ms) };
  });
  kinds.sort((a, b) => a.kind.localeCompare(b.kind) || a.from.localeCompare(b.from));
  console.log('attack       from        count  median ms  worst ms');
  for (const k of kinds) {
    console.log(
      `${k.kind.padEnd(12)} ${k.from.padEnd(11)} ${String(k.count).padStart(5)}  ${String(k.medianMs).padStart(9)}  ${String(k.worstMs).padStart(8)}`,
    );
  }
  const worstMs = Math.max(...downs.map((d) => d.downMs));
  const over10s = downs.filter((d) => d.downMs > 10_000).length;
  console.log(`${downs.length} attacks in ${seconds} s, worst ${worstMs} ms, over 10 s: ${over10s}; server log ${serverLog}`);
  return { seed, seconds, attacks: downs.length, kinds, worstMs, over10s, serverLog };
}
