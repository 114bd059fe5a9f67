/**
 * `rooms`: R rooms of P participants at once (default 20 × 2: 1:1 calls), each participant
 * publishing VP8 + Opus and receiving every other participant of its room — the small rooms
 * most real traffic is, where a server's fixed per-peer and per-track costs count. One
 * LoadRun per room (the load tool's conference mode: `p<i>+pub` / `p<i>+sub`), all against
 * the same server; the window adds the rooms' counters up and divides the server's CPU by
 * what it forwarded. `--target both`: ours, then Janus, same clients, same pinning.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { addSnapshots, report, type Totals } from '../src/report.js';
import { type LoadOptions, LoadRun } from '../src/run.js';
import {
  type CommonOptions,
  loadOptions,
  note,
  printRows,
  procCpuMicros,
  procRssMiB,
  type Row,
  serverUnderTest,
  waitReceiving,
} from './lib/load-bench.js';
import { machine } from './lib/machine.js';
import { printComparison } from './rooms.js';

export interface RoomsOptions extends CommonOptions {
  rooms: number;
  participants: number;
}

export interface RoomsRow extends Row {
  rooms: number;
  /** received tracks (subscriber × publisher × kind) that got packets in the window; all: rooms × P × (P − 1) × kinds */
  receivingTracks: number;
  expectedTracks: number;
}

/** Tracks whose packet count grew from `start` to `end` (same subscriber and SSRC). */
export function receivingTracks(start: Totals, end: Totals): number {
  const before = new Map((start.tracks ?? []).map((t) => [`${t.subscriber} ${t.ssrc}`, t.packets]));
  return (end.tracks ?? []).filter((t) => t.packets > (before.get(`${t.subscriber} ${t.ssrc}`) ?? 0)).length;
}

/** The rooms' totals at one moment as one Totals (the server's figures are the same for all runs). */
async function allTotals(runs: LoadRun[]): Promise<Totals> {
  const ts = await Promise.all(runs.map((r) => r.totals({ delays: true, tracks: true })));
  const t: Totals = { at: ts.reduce((a, x) => a + x.at, 0) / ts.length, ...addSnapshots(ts) };
  if (ts.every((x) => x.serverReceived)) {
    t.serverReceived = { audio: 0, video: 0 };
    for (const x of ts) {
      t.serverReceived.audio += x.serverReceived!.audio;
      t.serverReceived.video += x.serverReceived!.video;
    }
  }
  const server = ts.find((x) => x.server)?.server;
  if (server) t.server = server;
  return t;
}

export async function rooms(o: RoomsOptions): Promise<RoomsRow[]> {
  if (o.rooms < 1 || o.participants < 2) throw new Error('--rooms ≥ 1, --participants ≥ 2');
  if (o.target === 'both') {
    const ours = await rooms({ ...o, target: 'weever' });
    const janus = await rooms({ ...o, target: 'janus' });
    printComparison(ours, janus);
    return [...ours, ...janus];
  }
  const sut = await serverUnderTest(o);
  const runs: LoadRun[] = [];
  let row: RoomsRow;
  try {
    note(`machine: ${machine()}\n${sut.label ?? 'weever'}: server pinned to core 0, clients to core 1: ${sut.pinned}`);
    const stamp = Date.now();
    let shape: LoadOptions | undefined;
    for (let i = 0; i < o.rooms; i++) {
      // one room after the other: a Janus subscriber gets only the feeds present when it joins
      shape = loadOptions(o, sut, `rooms-${i}-${stamp}`, { publishers: o.participants, subscribers: 0, conference: true });
      runs.push(await LoadRun.start(shape));
    }
    await Promise.all(runs.map((r) => waitReceiving(r)));
    await sleep(o.warmup * 1000);
    const pids = [...new Set(runs.flatMap((r) => r.clientPids()))];
    const c0 = pids.reduce((a, p) => a + procCpuMicros(p), 0);
    const p0 = sut.pid ? procCpuMicros(sut.pid) : Number.NaN;
    const start = await allTotals(runs);
    await sleep(o.seconds * 1000);
    const end = await allTotals(runs);
    const p1 = sut.pid ? procCpuMicros(sut.pid) : Number.NaN;
    const c1 = pids.reduce((a, p) => a + procCpuMicros(p), 0);
    const all = o.rooms * o.participants;
    const r = report({ ...shape!, room: `${o.rooms} rooms`, publishers: all }, end, start);
    const received = (r.video?.receivedPacketsPerSecond ?? 0) + (r.audio?.receivedPacketsPerSecond ?? 0);
    const forwarded = r.server?.forwardedPacketsPerSecond ?? Math.round(received);
    const procPercent = Number.isNaN(p1 - p0) ? null : Number((((p1 - p0) / (r.seconds * 1e6)) * 100).toFixed(1));
    let cpuUs: number | null = r.server?.cpuUsPerForwardedPacket ?? null;
    if (cpuUs === null && procPercent !== null) cpuUs = Number(((p1 - p0) / Math.max(1, forwarded * r.seconds)).toFixed(2));
    row = {
      scenario: 'rooms',
      target: r.target,
      publishers: r.publishers.connected,
      subscribers: r.subscribers.connected,
      forwardedPacketsPerSecond: forwarded,
      serverCpuUsPerPacket: cpuUs,
      serverCpuPercent: r.server?.cpuPercent ?? procPercent,
      procCpuPercent: procPercent,
      clientCpuPercent: Number((((c1 - c0) / (r.seconds * 1e6)) * 100).toFixed(1)),
      inputLossPercent: r.inputLossPercent,
      lossPercent: r.outputLossPercent,
      rssMiB: r.server?.rssMiB ?? (sut.pid ? procRssMiB(sut.pid) : null),
      delayP50Ms: r.video?.delayMs?.p50 ?? null,
      delayP99Ms: r.video?.delayMs?.p99 ?? null,
      jitterMs: r.video?.jitterMsMean ?? null,
      failures: r.failures.length,
      rooms: o.rooms,
      receivingTracks: receivingTracks(start, end),
      expectedTracks: o.rooms * o.participants * (o.participants - 1) * 2,
    };
    note(`rooms: ${JSON.stringify(row)}`);
  } finally {
    await Promise.allSettled(runs.map((r) => r.close()));
    await sut.stop();
  }
  printRows(
    `rooms: ${o.rooms} rooms of ${o.participants} participants, each publishing VP8 ${o.videoBitrate / 1000} kbit/s ${o.fps} fps + Opus 20 ms and receiving the others, ${o.seconds} s window after ${o.warmup} s warm-up${sut.label ? ` — ${sut.label}` : ''}`,
    sut,
    [row],
  );
  console.log(`${row.target}: ${row.receivingTracks} of ${row.expectedTracks} received tracks got media in the window`);
  return [row];
}
