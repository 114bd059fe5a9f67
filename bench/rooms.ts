/**
 * One-room scenarios on the load tool's clients, each a steady-state window per room size:
 * - fanout: 1 publisher (VP8 ~1 Mbit/s + Opus) → N subscribers;
 * - audio-room: K audio-only publishers → N subscribers (a "Clubhouse" room);
 * - conference: P participants, each publishing and subscribing to all the others.
 */
import { LoadRun } from '../src/load/run.js';
import { type CommonOptions, loadOptions, note, printRows, type Row, serverUnderTest, steadyWindow } from './lib/load-bench.js';
import { machine } from './lib/machine.js';

async function oneRoom(
  o: CommonOptions,
  scenario: string,
  sizes: number[],
  shape: (n: number) => Parameters<typeof loadOptions>[3],
  title: string,
) {
  const sut = await serverUnderTest(o);
  const rows: Row[] = [];
  try {
    note(`machine: ${machine()}\nserver pinned to core 0, clients to core 1: ${sut.pinned}`);
    for (const n of sizes) {
      const run = await LoadRun.start(loadOptions(o, sut, `${scenario}-${n}-${Date.now()}`, shape(n)));
      try {
        const { row } = await steadyWindow(run, sut, o, scenario);
        rows.push(row);
        note(`${scenario} ${n}: ${JSON.stringify(row)}`);
      } finally {
        await run.close();
      }
    }
  } finally {
    await sut.stop();
  }
  printRows(title, sut, rows);
  return rows;
}

/** The JSON last line: one object for one size, `{scenario, results}` for a list. */
export function lastLine(scenario: string, rows: object[]): string {
  return JSON.stringify(rows.length === 1 ? rows[0] : { scenario, results: rows });
}

export async function fanout(o: CommonOptions & { subscribers: number[] }): Promise<Row[]> {
  const rows = await oneRoom(
    o,
    'fanout',
    o.subscribers,
    (n) => ({ publishers: 1, subscribers: n }),
    `fanout: 1 publisher (VP8 ${o.videoBitrate / 1000} kbit/s ${o.fps} fps + Opus 20 ms) → N subscribers, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
  if (rows.length >= 2) {
    // Slope between the two largest N: the cost of one more forwarded packet, without the fixed per-second costs.
    const [a, b] = rows.slice(-2) as [Row, Row];
    if (a.serverCpuUsPerPacket !== null && b.serverCpuUsPerPacket !== null && b.forwardedPacketsPerSecond !== a.forwardedPacketsPerSecond) {
      const marginal =
        (b.serverCpuUsPerPacket * b.forwardedPacketsPerSecond - a.serverCpuUsPerPacket * a.forwardedPacketsPerSecond) /
        (b.forwardedPacketsPerSecond - a.forwardedPacketsPerSecond);
      console.log(`marginal server CPU per extra forwarded packet (N=${a.subscribers}→${b.subscribers}): ${marginal.toFixed(2)} µs`);
    }
  }
  return rows;
}

export async function audioRoom(o: CommonOptions & { publishers: number; subscribers: number[] }): Promise<Row[]> {
  return oneRoom(
    o,
    'audio-room',
    o.subscribers,
    (n) => ({ publishers: o.publishers, subscribers: n, video: false }),
    `audio-room: ${o.publishers} audio-only publishers (Opus 20 ms) → N subscribers, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
}

export async function conference(o: CommonOptions & { participants: number[] }): Promise<Row[]> {
  return oneRoom(
    o,
    'conference',
    o.participants,
    (p) => ({ publishers: p, subscribers: 0, conference: true }),
    `conference: P participants, each publishing VP8 ${o.videoBitrate / 1000} kbit/s + Opus and receiving all others, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
}
