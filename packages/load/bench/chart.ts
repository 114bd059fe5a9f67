/**
 * chart: server CPU % and loss % against subscribers, one series per input file (e.g.
 * weever and janus), two panels in one SVG written by hand (no dependency).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface Point {
  subscribers: number;
  cpuPercent: number | null;
  lossPercent: number | null;
}

export interface Series {
  name: string;
  points: Point[];
}

interface ResultRow {
  scenario?: string;
  target?: string;
  subscribers?: number;
  serverCpuPercent?: number | null;
  lossPercent?: number | null;
}

/** The rows of a benchmark output: the JSON last line (one row, `results`, or capacity `steps`). */
export function rowsOf(text: string): ResultRow[] {
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  let j: ResultRow & { results?: ResultRow[]; steps?: ResultRow[] };
  try {
    j = JSON.parse(last);
  } catch {
    throw new Error('the last line is not a JSON object (a benchmark output or its JSON line)');
  }
  return j.results ?? j.steps ?? [j];
}

/** One series per file and target (a `--target both` output holds two). */
export function seriesOf(files: { name: string; text: string }[]): Series[] {
  const groups: { file: string; target: string; scenario: string; rows: ResultRow[] }[] = [];
  for (const f of files) {
    const file = basename(f.name).replace(/\.json$/, '');
    const rows = rowsOf(f.text);
    for (const target of new Set(rows.map((r) => r.target ?? ''))) {
      const mine = rows.filter((r) => (r.target ?? '') === target);
      groups.push({ file, target, scenario: mine[0]?.scenario ?? '', rows: mine });
    }
  }
  const labels = groups.map((g) => `${g.target} (${g.scenario})`);
  const distinct = new Set(labels).size === groups.length && groups.every((g) => g.target);
  return groups.map((g, i) => ({
    name: distinct ? labels[i]! : g.target ? `${g.file}: ${g.target}` : g.file,
    points: g.rows
      .filter((r) => typeof r.subscribers === 'number')
      .map((r) => ({ subscribers: r.subscribers!, cpuPercent: r.serverCpuPercent ?? null, lossPercent: r.lossPercent ?? null }))
      .sort((x, y) => x.subscribers - y.subscribers),
  }));
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" upper bound and step for an axis from 0 to `max`. */
export function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

export function chartSvg(series: Series[], title: string): string {
  const W = 760;
  const panelH = 230;
  const left = 70;
  const right = 20;
  const top = 50;
  const gap = 60;
  const H = top + 2 * panelH + gap + 70;
  const xs = series.flatMap((s) => s.points.map((p) => p.subscribers));
  const x = niceScale(Math.max(1, ...xs));
  const px = (v: number) => left + ((W - left - right) * v) / x.top;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  const panel = (y0: number, label: string, pick: (p: Point) => number | null) => {
    const ys = series.flatMap((s) => s.points.map(pick).filter((v): v is number => v !== null));
    const y = niceScale(Math.max(0, ...ys));
    const py = (v: number) => y0 + panelH - (panelH * v) / y.top;
    for (let v = 0; v <= y.top + 1e-9; v += y.step) {
      out.push(`<line x1="${left}" x2="${W - right}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`);
      out.push(`<text x="${left - 6}" y="${py(v) + 4}" text-anchor="end">${Number(v.toFixed(3))}</text>`);
    }
    for (let v = 0; v <= x.top + 1e-9; v += x.step) {
      out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${y0}" y2="${y0 + panelH}" stroke="#eee"/>`);
      out.push(`<text x="${px(v)}" y="${y0 + panelH + 16}" text-anchor="middle">${Number(v.toFixed(3))}</text>`);
    }
    out.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${panelH}" fill="none" stroke="#888"/>`);
    out.push(`<text transform="translate(18 ${y0 + panelH / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`);
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length]!;
      const pts = s.points.filter((p) => pick(p) !== null).map((p) => `${px(p.subscribers).toFixed(1)},${py(pick(p)!).toFixed(1)}`);
      if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
      for (const p of pts) {
        const [cx, cy] = p.split(',');
        out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"/>`);
      }
    });
  };
  panel(top, 'server CPU, % of a core', (p) => p.cpuPercent);
  panel(top + panelH + gap, 'loss at the subscribers, %', (p) => p.lossPercent);
  out.push(`<text x="${(left + W - right) / 2}" y="${top + 2 * panelH + gap + 36}" text-anchor="middle">subscribers</text>`);
  series.forEach((s, i) => {
    const lx = left + 10 + i * 200;
    const ly = H - 12;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="4" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly - 5}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function chart(files: string[], outFile: string, title: string): Series[] {
  const series = seriesOf(files.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })));
  writeFileSync(outFile, chartSvg(series, title));
  return series;
}
