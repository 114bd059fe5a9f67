/**
 * One-room scenarios on the load tool's clients, each a steady-state window per room size:
 * - fanout: 1 publisher (VP8 ~1 Mbit/s + Opus) → N subscribers;
 * - audio-room: K audio-only publishers → N subscribers (a "Clubhouse" room);
 * - conference: P participants, each publishing and subscribing to all the others.
 */
import { LoadRun } from '../src/run.js';
import { layerShapes } from '../src/source.js';
import {
  type CommonOptions,
  loadOptions,
  note,
  printRows,
  type Row,
  serverUnderTest,
  steadyWindow,
  waitKeyframeWidth,
} from './lib/load-bench.js';
import { machine } from './lib/machine.js';

async function oneRoom(
  o: CommonOptions,
  scenario: string,
  sizes: number[],
  shape: (n: number) => Parameters<typeof loadOptions>[3],
  title: string,
  settled?: (run: LoadRun) => Promise<unknown>,
): Promise<Row[]> {
  if (o.target === 'both') {
    // Same run, same media, same pinning: ours first, then Janus, then the ratio.
    const ours = await oneRoom({ ...o, target: 'weever' }, scenario, sizes, shape, title, settled);
    const janus = await oneRoom({ ...o, target: 'janus' }, scenario, sizes, shape, title, settled);
    printComparison(ours, janus);
    return [...ours, ...janus];
  }
  const sut = await serverUnderTest(o);
  const rows: Row[] = [];
  try {
    note(`machine: ${machine()}\n${sut.label ?? 'weever'}: server pinned to core 0, clients to core 1: ${sut.pinned}`);
    for (const n of sizes) {
      const run = await LoadRun.start(loadOptions(o, sut, `${scenario}-${n}-${Date.now()}`, shape(n)));
      try {
        const { row } = await steadyWindow(run, sut, o, scenario, settled);
        rows.push(row);
        note(`${scenario} ${n}: ${JSON.stringify(row)}`);
      } finally {
        await run.close();
      }
    }
  } finally {
    await sut.stop();
  }
  printRows(sut.label ? `${title} — ${sut.label}` : title, sut, rows);
  return rows;
}

export interface Comparison {
  subscribers: number;
  weeverCpuUsPerPacket: number | null;
  janusCpuUsPerPacket: number | null;
  /** ours ÷ Janus: below 1, we spend less CPU per forwarded packet */
  cpuRatio: number | null;
  weeverLossPercent: number;
  janusLossPercent: number;
}

/** Pairs rows of the two targets by room size. */
export function compare(rows: Row[]): Comparison[] {
  const janus = rows.filter((r) => r.target === 'janus');
  return rows
    .filter((r) => r.target === 'weever')
    .flatMap((w) => {
      const j = janus.find((x) => x.subscribers === w.subscribers && x.publishers === w.publishers);
      if (!j) return [];
      const a = w.serverCpuUsPerPacket;
      const b = j.serverCpuUsPerPacket;
      return [
        {
          subscribers: w.subscribers,
          weeverCpuUsPerPacket: a,
          janusCpuUsPerPacket: b,
          cpuRatio: a !== null && b !== null && b > 0 ? Number((a / b).toFixed(2)) : null,
          weeverLossPercent: w.lossPercent,
          janusLossPercent: j.lossPercent,
        },
      ];
    });
}

export function printComparison(ours: Row[], janus: Row[]): void {
  console.log(
    '\nside by side (CPU µs per packet the subscribers received, Janus has no forwarded counter; ours: server counter, equal at 0 loss)',
  );
  console.log('| N | weever µs/pkt | Janus µs/pkt | ratio weever/Janus | weever loss % | Janus loss % |');
  console.log('|---|---|---|---|---|---|');
  for (const c of compare([...ours, ...janus])) {
    console.log(
      `| ${c.subscribers} | ${c.weeverCpuUsPerPacket ?? '–'} | ${c.janusCpuUsPerPacket ?? '–'} | ${c.cpuRatio ?? '–'} | ${c.weeverLossPercent} | ${c.janusLossPercent} |`,
    );
  }
}

/** The JSON last line: one object for one size, `{scenario, results}` for a list (and the comparison with both targets). */
export function lastLine(scenario: string, rows: Row[]): string {
  const comparison = compare(rows);
  if (comparison.length > 0) return JSON.stringify({ scenario, results: rows, comparison });
  return JSON.stringify(rows.length === 1 ? rows[0] : { scenario, results: rows });
}

/** What the publishers send, for a table's title: `VP8 1000 kbit/s` or the simulcast layers' sizes and rates. */
function videoLabel(o: CommonOptions, layers: number): string {
  if (layers < 2) return `VP8 ${o.videoBitrate / 1000} kbit/s`;
  const shapes = layerShapes({ bitrate: o.videoBitrate, fps: o.fps, keyframeInterval: 2 }, layers);
  return `VP8 ${shapes.map((l) => `${l.width}×${l.height} ${l.bitrate / 1000}`).join(' + ')} kbit/s simulcast`;
}

export async function fanout(o: CommonOptions & { subscribers: number[]; layers?: number; receiverReports?: boolean }): Promise<Row[]> {
  const layers = o.layers ?? 1;
  // The downlink estimate behind the layer choice rises only on receiver reports: layers need them.
  const receiverReports = layers > 1 || o.receiverReports === true;
  const video = videoLabel(o, layers);
  const rows = await oneRoom(
    o,
    'fanout',
    o.subscribers,
    (n) => ({ publishers: 1, subscribers: n, layers, receiverReports }),
    `fanout: 1 publisher (${video} ${o.fps} fps + Opus 20 ms) → N subscribers${receiverReports ? ' sending receiver reports' : ''}, ${o.seconds} s window after ${o.warmup} s warm-up`,
    layers > 1
      ? async (run) => {
          // The window starts once every subscriber's allocation settled on the top layer
          // (probes done); if some never get there within 30 s, it starts anyway and the
          // keyframe sizes in the output say which layer each got.
          const top = layerShapes({ bitrate: o.videoBitrate, fps: o.fps, keyframeInterval: 2 }, layers).at(-1)!;
          const ok = await waitKeyframeWidth(run, top.width!, 30_000);
          note(ok ? `every subscriber on the top layer (${top.width}×${top.height})` : 'not every subscriber on the top layer after 30 s');
        }
      : undefined,
  );
  for (const target of ['weever', 'janus']) {
    // Slope between the two largest N: the cost of one more forwarded packet, without the fixed per-second costs.
    const mine = rows.filter((r) => r.target === target);
    if (mine.length < 2) continue;
    const [a, b] = mine.slice(-2) as [Row, Row];
    if (a.serverCpuUsPerPacket !== null && b.serverCpuUsPerPacket !== null && b.forwardedPacketsPerSecond !== a.forwardedPacketsPerSecond) {
      const marginal =
        (b.serverCpuUsPerPacket * b.forwardedPacketsPerSecond - a.serverCpuUsPerPacket * a.forwardedPacketsPerSecond) /
        (b.forwardedPacketsPerSecond - a.forwardedPacketsPerSecond);
      console.log(
        `${target}: marginal server CPU per extra forwarded packet (N=${a.subscribers}→${b.subscribers}): ${marginal.toFixed(2)} µs`,
      );
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

export async function conference(o: CommonOptions & { participants: number[]; layers?: number; manual?: number[] }): Promise<Row[]> {
  const layers = o.layers ?? 1;
  const manual = o.manual ? { top: o.manual[0]!, low: o.manual[1]! } : undefined;
  const video = videoLabel(o, layers);
  const receiving = manual
    ? `receiving ${manual.top} others at the quality the path carries and ${manual.low} at their smallest layer (manual subscription)`
    : 'receiving all others';
  return oneRoom(
    o,
    'conference',
    o.participants,
    (p) => ({
      publishers: p,
      subscribers: 0,
      conference: true,
      ...(layers > 1 ? { layers, receiverReports: true } : {}),
      ...(manual ? { manual } : {}),
    }),
    `conference: P participants, each publishing ${video} ${o.fps} fps + Opus and ${receiving}, ${o.seconds} s window after ${o.warmup} s warm-up`,
  );
}
