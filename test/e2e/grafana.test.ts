/**
 * deploy/grafana/weever-streaming.json: every query (panels and variables) parses as PromQL
 * (the Prometheus project's own parser) and every metric it names is one a real server
 * exports (`# TYPE` lines of its /metrics; a histogram's _bucket/_sum/_count series count).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { suiteServer } from './harness.js';

const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/weever-streaming.json', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: a dashboard is untyped JSON
type Obj = Record<string, any>;

/** Each query of the dashboard with where it is: panel targets and query variables. */
export function queries(dashboard: Obj): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: Obj[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels ?? []);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q: string = typeof v.query === 'string' ? v.query : v.query.query;
    // label_values(metric, label) is Grafana's, not PromQL: its first argument is a selector
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q);
    out.push({ where: `variable ${v.name}`, expr: m ? m[1]! : q });
  }
  return out;
}

/** Grafana's variables replaced by values PromQL accepts. */
const substitute = (expr: string) =>
  expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?(\w+)\}?/g, (_m, name: string) => `x_${name}`);

/** The metric names one expression selects, or the parse error. */
export function metricNames(expr: string): { names: string[]; error?: string } {
  const text = substitute(expr);
  const names: string[] = [];
  let error: string | undefined;
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) error ??= `cannot parse at ${node.from}: ${text.slice(Math.max(0, node.from - 10), node.from + 10)}`;
      if (node.type.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(text.slice(id.from, id.to));
      }
    },
  });
  return error ? { names, error } : { names };
}

/** Problems of a dashboard against the exported metric families. */
export function problems(dashboard: Obj, exported: Set<string>): string[] {
  const known = (name: string) => exported.has(name) || exported.has(name.replace(/_(bucket|sum|count)$/, ''));
  const out: string[] = [];
  for (const { where, expr } of queries(dashboard)) {
    if (typeof expr !== 'string' || expr.trim() === '') {
      out.push(`${where}: no query`);
      continue;
    }
    const { names, error } = metricNames(expr);
    if (error) out.push(`${where}: ${error}`);
    if (names.length === 0) out.push(`${where}: names no metric`);
    for (const n of names) if (!known(n)) out.push(`${where}: ${n} is not exported`);
  }
  return out;
}

describe('Grafana dashboard', () => {
  const ctx = suiteServer();

  it('every query parses and names a metric the server exports; a misspelled or unknown one is caught', async () => {
    const text = await (await fetch(`${ctx.server.privateUrl}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!));
    assert.ok(exported.has('sfu_room_tracks') && exported.has('sfu_pod_peer_count'), [...exported].join(' '));
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Obj;
    const all = queries(dashboard);
    assert.ok(all.length >= 20, `${all.length} queries`);
    assert.deepEqual(problems(dashboard, exported), []);
    // every sfu_ family we export is on the dashboard
    const used = new Set(all.flatMap((q) => metricNames(q.expr).names.flatMap((n) => [n, n.replace(/_(bucket|sum|count)$/, '')])));
    assert.deepEqual(
      [...exported].filter((n) => n.startsWith('sfu_') && !used.has(n)),
      [],
    );

    const broken = structuredClone(dashboard);
    broken.panels[1].targets[0].expr = 'sum by (room) (sfu_pod_peers_count)';
    broken.panels[2].targets[0].expr = 'rate(sfu_forwarded_bytes_total[5m]';
    assert.deepEqual(
      problems(broken, exported).map((p) => p.replace(/: cannot parse .*/, ': cannot parse')),
      [`panel "${broken.panels[1].title}" A: sfu_pod_peers_count is not exported`, `panel "${broken.panels[2].title}" A: cannot parse`],
    );
  });
});
