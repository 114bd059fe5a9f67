/**
 * `npm run bench -- idle`: the CPU an instance spends with no peer (issue 22: ≤ 2 ms per
 * second). Starts `cli.js` on loopback (and with --supervise, counting the supervisor too),
 * waits --settle seconds, then sums the run time of every thread of its processes
 * (/proc/<pid>/task/<tid>/schedstat, ns) over --seconds. Then a publisher and a subscriber
 * come and go (the engine's threads start) and the same window is measured again once the
 * engine slept (10 s after the last peer: src/media/engine.ts, sleep).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WeeverTarget } from '../src/index.js';

const CLI = fileURLToPath(new URL('../../../../dist/src/cli.js', import.meta.url));

export interface IdleOptions {
  seconds: number;
  settle: number;
}

/** ns of CPU per thread name, summed over `pids` and their threads. */
function threadNs(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        const key = `${pid === pids[0] ? 'instance' : 'supervisor'}:${comm}`;
        out.set(key, (out.get(key) ?? 0) + ns);
      } catch {
        // the thread ended
      }
    }
  }
  return out;
}

/** CPU ms per second over `seconds`, in total and per thread name (those above 0.01). */
async function window(pids: () => number[], seconds: number) {
  const a = threadNs(pids());
  await sleep(seconds * 1000);
  const b = threadNs(pids());
  const perThread: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of b) {
    const ms = (v - (a.get(k) ?? 0)) / 1e6 / seconds;
    total += ms;
    if (ms > 0.01) perThread[k] = Math.round(ms * 1000) / 1000;
  }
  return { msPerSecond: Math.round(total * 1000) / 1000, perThread };
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function start(supervise: boolean): Promise<{ proc: ChildProcess; publicUrl: string }> {
  const proc = spawn(
    process.execPath,
    [CLI, ...(supervise ? ['--supervise'] : []), '--host', '127.0.0.1', '--port', '0', '--private-port', '0'],
    { env: { PATH: process.env.PATH, WEEVER_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let buf = '';
  const publicUrl = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"public":"(http:\/\/[^"]+)"/.exec(buf);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', () => reject(new Error('instance exited before listening')));
  });
  proc.stdout!.resume();
  return { proc, publicUrl };
}

export async function idle(o: IdleOptions) {
  const rows = [];
  for (const supervise of [false, true]) {
    const { proc, publicUrl } = await start(supervise);
    // the instance first, then the supervisor
    const pids = () => (supervise ? [...childPids(proc.pid!), proc.pid!] : [proc.pid!]);
    try {
      await sleep(o.settle * 1000);
      const fresh = await window(pids, o.seconds);
      const target = new WeeverTarget({ url: publicUrl });
      const pub = await target.publish('idle', 'pub', { audio: true, video: true });
      const sub = await target.subscribe('idle', 'sub');
      await sleep(2000);
      sub.close();
      pub.close();
      await sleep(15_000); // the engine sleeps 10 s after the last peer left
      const afterPeers = await window(pids, o.seconds);
      const row = { supervise, fresh, afterPeers };
      console.log(
        `${supervise ? '--supervise' : 'plain      '}  fresh: ${fresh.msPerSecond.toFixed(2)} ms/s  after peers left: ${afterPeers.msPerSecond.toFixed(2)} ms/s  ${JSON.stringify({ fresh: fresh.perThread, afterPeers: afterPeers.perThread })}`,
      );
      rows.push(row);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  }
  return { scenario: 'idle', seconds: o.seconds, settle: o.settle, rows };
}
