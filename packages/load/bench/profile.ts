/**
 * profile: where the server's CPU goes while it forwards (the fanout scenario, one N).
 * Samples the whole server process (every thread, kernel included) with `perf record`
 * over the steady-state window, then sorts the samples into the parts of the path:
 * UDP send, thread hand-offs, SRTP, the binding's copy, our JS. Optionally also writes a
 * V8 `.cpuprofile` of the JS thread (`--cpu-prof`, opens in Chrome DevTools).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '#server-harness';
import { LoadRun } from '../src/run.js';
import { loadOptions, waitReceiving } from './lib/load-bench.js';
import { machine, pinSelf } from './lib/machine.js';

export interface ProfileOptions {
  subscribers: number;
  seconds: number;
  warmup: number;
  cpuProf: boolean;
}

/**
 * Inclusive shares of whole-process samples under these frames. They overlap (a send
 * happens inside the JS dispatch), so they are read as "of all CPU, this much was spent
 * under X", not as a partition.
 */
const PARTS: [label: string, symbols: RegExp][] = [
  ['UDP send (sendto; on loopback it includes delivering to the receiver)', /^__x64_sys_sendto$/],
  ['  of which softirq (the loopback receive, charged to the sender)', /^do_softirq\.part\.0$/],
  ['UDP receive (recvfrom/recvmsg)', /^__x64_sys_(recvfrom|recvmsg)$/],
  ['scheduler: context switches (threads waking per packet)', /^__schedule$/],
  ['futex: thread hand-offs (libdatachannel queues, JS wake-up)', /^__x64_sys_futex$/],
  ['epoll/poll waits (event loop, juice poll thread)', /^__x64_sys_(epoll_pwait|poll)$/],
  ['SRTP protect (encrypt, one per forwarded packet)', /^srtp_protect_mki$/],
  ['SRTP unprotect (decrypt, one per received packet)', /^srtp_unprotect_mki$/],
  ['binding: copy of each received packet into a Buffer', /^node::Buffer::Copy$/],
  ['binding: JS dispatch of received packets (ThreadSafeCallback)', /^ThreadSafeCallback::callbackFunc$/],
  ['our JS: fan-out loop (bus TrackSender.send)', /^JS:\*?send .*bus\/local\.js/],
  ['our JS: publisher track (onPacket)', /^JS:\*?onPacket .*publisher\.js/],
  ['our JS: header rewrite (RtpRewriter.rewrite)', /^JS:\*?rewrite .*rtp\.js/],
  ['binding: Track.sendMessageBinary', /^TrackWrapper::sendMessageBinary$/],
  ['SCTP timer thread (usrsctp ticks)', /^sctp_handle_tick$/],
];

function perfAvailable(): boolean {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `perf report` lines: "  12.34%  1.23%  [k] symbol" (children, self, symbol). */
function inclusiveShares(data: string): Map<string, number> {
  const out = execFileSync('perf', ['report', '-i', data, '--children', '--sort', 'sym', '-g', 'none', '--stdio'], {
    encoding: 'utf8',
    maxBuffer: 256 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const shares = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^\s*([\d.]+)%\s+[\d.]+%\s+\[[^\]]+\]\s+(.+?)\s*$/.exec(line);
    if (m) shares.set(m[2]!, Math.max(shares.get(m[2]!) ?? 0, Number(m[1])));
  }
  return shares;
}

/** Self shares of the AES/GHASH code: OpenSSL's assembly has no frame pointers, so it is missing from SRTP's inclusive share. */
function cryptoSelfShare(data: string): number {
  const out = execFileSync('perf', ['report', '-i', data, '--no-children', '--sort', 'sym', '-g', 'none', '--stdio'], {
    encoding: 'utf8',
    maxBuffer: 256 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let sum = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*([\d.]+)%\s+\[[^\]]+\]\s+(.+?)\s*$/.exec(line);
    if (m && /aes|gcm|ghash|CRYPTO_|EVP_|srtp_/i.test(m[2]!)) sum += Number(m[1]);
  }
  return sum;
}

/** Self share of JIT-compiled JavaScript (all of it: ours and Node's own). */
function jitShare(data: string): number {
  const out = execFileSync('perf', ['report', '-i', data, '--no-children', '--sort', 'dso', '-g', 'none', '--stdio'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let sum = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*([\d.]+)%\s+\[JIT\]/.exec(line);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** Self shares per thread name (libdatachannel names its threads). */
function threadShares(data: string): [string, number][] {
  const out = execFileSync('perf', ['report', '-i', data, '--no-children', '--sort', 'comm', '-g', 'none', '--stdio'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const rows: [string, number][] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(.+?)\s*$/.exec(line);
    if (m) rows.push([m[2]!, Number(m[1])]);
  }
  return rows;
}

export async function profile(o: ProfileOptions): Promise<Record<string, unknown>> {
  if (!perfAvailable()) throw new Error('perf is missing: apt-get install -y linux-perf');
  const dir = mkdtempSync(join(tmpdir(), 'weever-profile-'));
  const pinned = pinSelf(1);
  // --perf-basic-prof names JIT-compiled JS functions in perf's output.
  const nodeFlags = ['--perf-basic-prof', ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])];
  const server = await startServer(
    ['--keyframe-interval', '0'],
    { WEEVER_LOG_LEVEL: 'info' },
    pinned ? ['taskset', '-c', '0'] : [],
    nodeFlags,
  );
  await sleep(10_000); // V8's start-up garbage collections stay out of the window
  const data = join(dir, 'perf.data');
  let cpuMicros = 0;
  let forwarded = 0;
  let elapsed = o.seconds;
  try {
    const sut = { publicUrl: server.publicUrl, privateUrl: server.privateUrl, pid: server.proc.pid!, pinned, stop: async () => {} };
    const common = {
      target: 'weever' as const,
      seconds: o.seconds,
      warmup: o.warmup,
      settle: 0,
      workers: 1,
      videoBitrate: 1_000_000,
      fps: 30,
    };
    // The fanout scenario's media (VP8 ~1 Mbit/s + Opus), run long enough to outlast the window.
    const run = await LoadRun.start(
      loadOptions(common, sut, `profile-${Date.now()}`, { publishers: 1, subscribers: o.subscribers, duration: o.warmup + o.seconds + 60 }),
    );
    await waitReceiving(run);
    await sleep(o.warmup * 1000);
    const r0 = await server.resources();
    const t0 = performance.now();
    const perf = spawn(
      'perf',
      ['record', '-e', 'cpu-clock', '-F', '2999', '-g', '-p', String(server.proc.pid), '-o', data, '--', 'sleep', String(o.seconds)],
      { stdio: 'ignore' },
    );
    const perfDone = new Promise<number | null>((resolve) => perf.once('exit', resolve));
    const code = await perfDone;
    const r1 = await server.resources();
    elapsed = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`perf record exited with ${code}`);
    cpuMicros = r1.cpuMicros - r0.cpuMicros;
    forwarded = r1.traffic.forwardedPackets - r0.traffic.forwardedPackets;
    await run.close();
  } finally {
    await server.stop();
  }

  const shares = inclusiveShares(data);
  const usPerPacket = cpuMicros / Math.max(1, forwarded);
  const parts = PARTS.map(([label, re]) => {
    let pct = 0;
    for (const [sym, v] of shares) if (re.test(sym)) pct = Math.max(pct, v);
    return { label, percent: pct, usPerForwardedPacket: (pct / 100) * usPerPacket };
  });
  const jit = jitShare(data);
  parts.push({
    label: 'all JIT-compiled JavaScript, ours and Node’s (self time)',
    percent: jit,
    usPerForwardedPacket: (jit / 100) * usPerPacket,
  });
  const crypto = cryptoSelfShare(data);
  parts.push({
    label: 'SRTP + AES-GCM code (self time, both directions)',
    percent: crypto,
    usPerForwardedPacket: (crypto / 100) * usPerPacket,
  });
  console.log(
    `\nprofile: 1 publisher (VP8 1 Mbit/s 30 fps + Opus) → ${o.subscribers} subscribers, ${elapsed.toFixed(1)} s of perf samples`,
  );
  console.log(`machine: ${machine()}; server pinned to core 0: ${pinned}`);
  console.log(`server CPU ${(cpuMicros / 1000).toFixed(0)} ms for ${forwarded} forwarded packets: ${usPerPacket.toFixed(2)} µs/pkt`);
  console.log('\n| thread | share of server CPU % |\n|---|---|');
  for (const [t, v] of threadShares(data)) console.log(`| ${t} | ${v.toFixed(1)} |`);
  console.log('\n| under (inclusive, overlapping) | share % | µs per forwarded packet |\n|---|---|---|');
  for (const p of parts) console.log(`| ${p.label} | ${p.percent.toFixed(1)} | ${p.usPerForwardedPacket.toFixed(2)} |`);
  console.log(`\nperf data: ${data} (perf report -i ${data})${o.cpuProf ? `; V8 profile in ${dir}` : ''}`);
  return {
    scenario: 'profile',
    subscribers: o.subscribers,
    forwardedPacketsPerSecond: Math.round(forwarded / elapsed),
    serverCpuUsPerPacket: Number(usPerPacket.toFixed(2)),
    parts: Object.fromEntries(parts.map((p) => [p.label.trim(), Number(p.percent.toFixed(1))])),
  };
}
