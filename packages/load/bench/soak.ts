/**
 * Soak (issue 15 item 8): churn for `minutes` against our server (embedded, started here on
 * 127.0.0.1), then idle; the server's RSS, fds, threads, timers, peers and store keys
 * sampled all along. Clients come and go in cohorts, each a process of its own
 * (bench/soak-worker.ts): a room of publishers and subscribers that live a few seconds
 * and then all leave one way — DELETE, STOP, vanish (close, nothing said) or SIGKILL of
 * the process — the ways taken in turn. Bounded: at most `maxCohorts` at once, loopback only.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Resources, startServer } from '#server-harness';
import { note } from './lib/load-bench.js';
import { machine } from './lib/machine.js';
import type { CohortConfig, CohortDone, CohortUp, LeaveMode } from './soak-worker.js';

export interface SoakOptions {
  minutes: number;
  publishers: number;
  subscribers: number;
  maxCohorts: number;
  /** seconds a cohort lives: uniform in [min, max] */
  lifeMin: number;
  lifeMax: number;
  sample: number;
  idle: number;
  /** end the idle phase as soon as peers, timers and store keys are all 0 (the smoke test) */
  stopWhenZero?: boolean;
  settle: number;
  videoBitrate: number;
  fps: number;
}

export interface Sample {
  t: number;
  phase: 'baseline' | 'churn' | 'idle';
  rssMiB: number | null;
  fds: number | null;
  threads: number | null;
  peers: number | null;
  timers: number | null;
  storeKeys: number | null;
  cohorts: number;
}

const MODES: LeaveMode[] = ['delete', 'stop', 'vanish', 'kill'];

function count(dir: string): number | null {
  try {
    return readdirSync(dir).length;
  } catch {
    return null;
  }
}
function rss(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number((Number(m[1]) / 1024).toFixed(1)) : null;
  } catch {
    return null;
  }
}

export async function soak(o: SoakOptions): Promise<object> {
  // WEEVER_LOG_LEVEL info: the harness waits for the "listening" line
  const server = await startServer(['--keyframe-interval', '0'], { WEEVER_LOG_LEVEL: 'info' });
  const pid = server.proc.pid!;
  const t0 = performance.now();
  const samples: Sample[] = [];
  const live = new Set<ChildProcess>();
  const resources = async (): Promise<Resources | null> => {
    try {
      return await server.resources();
    } catch {
      return null;
    }
  };
  const take = async (phase: Sample['phase']): Promise<Sample> => {
    const r = await resources();
    const s: Sample = {
      t: Math.round((performance.now() - t0) / 1000),
      phase,
      rssMiB: rss(pid),
      fds: count(`/proc/${pid}/fd`),
      threads: count(`/proc/${pid}/task`),
      peers: r?.peers ?? null,
      timers: r?.timers ?? null,
      storeKeys: r?.storeKeys ?? null,
      cohorts: live.size,
    };
    samples.push(s);
    note(
      `[${String(s.t).padStart(4)} s] ${phase} rss ${s.rssMiB} MiB fds ${s.fds} threads ${s.threads} peers ${s.peers} timers ${s.timers} keys ${s.storeKeys} cohorts ${s.cohorts}`,
    );
    return s;
  };
  const stats = {
    cohorts: { delete: 0, stop: 0, vanish: 0, kill: 0 } as Record<LeaveMode, number>,
    publishers: 0,
    subscribers: 0,
    receivingAll: 0,
    failures: [] as string[],
    notReceiving: 0,
  };
  const workerPath = fileURLToPath(new URL('./soak-worker.js', import.meta.url));
  let n = 0;
  const startCohort = (): void => {
    const mode = MODES[n % MODES.length]!;
    const cfg: CohortConfig = {
      url: server.publicUrl,
      room: `soak-${n}`,
      publishers: o.publishers,
      subscribers: o.subscribers,
      mode,
      lifetimeMs: Math.round((o.lifeMin + Math.random() * (o.lifeMax - o.lifeMin)) * 1000),
      videoBitrate: o.videoBitrate,
      fps: o.fps,
    };
    n++;
    stats.cohorts[mode]++;
    const child = fork(workerPath, [JSON.stringify(cfg)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    live.add(child);
    // bound: a cohort that hangs is killed after its lifetime + 60 s
    const guard = setTimeout(() => child.kill('SIGKILL'), cfg.lifetimeMs + 60_000);
    child.on('message', (m: CohortUp | CohortDone) => {
      if (m.type === 'up') {
        stats.publishers += m.publishers;
        stats.subscribers += m.subscribers;
        stats.failures.push(...m.failures.map((f) => `${cfg.room}: ${f}`));
      } else {
        stats.receivingAll += m.receivingAll;
        if (mode === 'kill') child.kill('SIGKILL');
      }
    });
    child.on('exit', () => {
      clearTimeout(guard);
      live.delete(child);
    });
  };

  try {
    note(`machine: ${machine()}; server pid ${pid}; soak ${o.minutes} min`);
    await sleep(o.settle * 1000);
    const baseline = await take('baseline');
    const churnEnd = performance.now() + o.minutes * 60_000;
    let nextSample = performance.now() + o.sample * 1000;
    while (performance.now() < churnEnd) {
      if (live.size < o.maxCohorts) startCohort();
      if (performance.now() >= nextSample) {
        nextSample += o.sample * 1000;
        await take('churn');
      }
      await sleep(250);
    }
    note('churn over: waiting for the last cohorts');
    while (live.size > 0) {
      if (performance.now() >= nextSample) {
        nextSample += o.sample * 1000;
        await take('churn');
      }
      await sleep(250);
    }
    const idleFrom = performance.now();
    let zeroAfterS: number | null = null;
    while (performance.now() - idleFrom < o.idle * 1000) {
      const r = await resources();
      if (zeroAfterS === null && r && r.peers === 0 && r.timers === 0 && r.storeKeys === 0) {
        zeroAfterS = Number(((performance.now() - idleFrom) / 1000).toFixed(1));
        if (o.stopWhenZero) break;
      }
      if (performance.now() >= nextSample) {
        nextSample += o.sample * 1000;
        await take('idle');
      }
      await sleep(500);
    }
    const end = await take('idle');
    stats.notReceiving = stats.subscribers - stats.receivingAll;
    const churn = samples.filter((s) => s.phase === 'churn');
    const peak = (k: 'rssMiB' | 'fds' | 'threads' | 'peers' | 'timers') => Math.max(...churn.map((s) => s[k] ?? 0));

    // the table: one row a minute (and the baseline and the end)
    console.log(
      `\nsoak: ${o.minutes} min of churn (cohorts of ${o.publishers} pub + ${o.subscribers} sub, ≤ ${o.maxCohorts} at once, each living ${o.lifeMin}–${o.lifeMax} s, leaving by ${MODES.join(' / ')} in turn), then ${o.idle} s idle`,
    );
    console.log(`machine: ${machine()}`);
    console.log('| t s | phase | RSS MiB | fds | threads | peers | timers | store keys | cohorts |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    let lastMinute = -1;
    for (const s of samples) {
      const minute = Math.floor(s.t / 60);
      if (s !== baseline && s !== end && minute === lastMinute) continue;
      lastMinute = minute;
      console.log(
        `| ${[s.t, s.phase, s.rssMiB, s.fds, s.threads, s.peers, s.timers, s.storeKeys, s.cohorts].map((x) => x ?? '–').join(' | ')} |`,
      );
    }
    console.log(
      `cohorts ${n} (${MODES.map((m) => `${m} ${stats.cohorts[m]}`).join(', ')}); connected ${stats.publishers} pub + ${stats.subscribers} sub; ` +
        `subscribers that received every track: ${stats.receivingAll}/${stats.subscribers}; failed connections: ${stats.failures.length}`,
    );
    for (const f of stats.failures.slice(0, 10)) console.log(`  failed: ${f}`);
    return {
      scenario: 'soak',
      minutes: o.minutes,
      cohorts: n,
      byMode: stats.cohorts,
      connected: { publishers: stats.publishers, subscribers: stats.subscribers },
      subscribersReceivingAll: stats.receivingAll,
      failedConnections: stats.failures.length,
      baseline: { rssMiB: baseline.rssMiB, fds: baseline.fds, threads: baseline.threads },
      peak: { rssMiB: peak('rssMiB'), fds: peak('fds'), threads: peak('threads'), peers: peak('peers'), timers: peak('timers') },
      end: { rssMiB: end.rssMiB, fds: end.fds, threads: end.threads, peers: end.peers, timers: end.timers, storeKeys: end.storeKeys },
      idleSeconds: o.idle,
      zeroAfterIdleSeconds: zeroAfterS,
    };
  } finally {
    for (const c of live) c.kill('SIGKILL');
    await server.stop();
  }
}
