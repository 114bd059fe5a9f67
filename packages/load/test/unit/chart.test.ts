import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartSvg, niceScale, rowsOf, seriesOf } from '../../bench/chart.js';

describe('bench chart', () => {
  it('reads the JSON last line of a benchmark output: one row, results or capacity steps', () => {
    assert.equal(rowsOf('table\n{"scenario":"fanout","subscribers":5}').length, 1);
    assert.equal(rowsOf('{"scenario":"fanout","results":[{"subscribers":1},{"subscribers":2}]}\n').length, 2);
    assert.equal(rowsOf('{"scenario":"capacity","steps":[{"subscribers":1}]}').length, 1);
    assert.throws(() => rowsOf('no json'), /last line/);
  });

  it('one series per file, named by target when they differ, points sorted by subscribers', () => {
    const row = (target: string, n: number, cpu: number) => ({
      scenario: 'fanout',
      target,
      subscribers: n,
      serverCpuPercent: cpu,
      lossPercent: 0,
    });
    const s = seriesOf([
      { name: 'a.json', text: JSON.stringify({ scenario: 'fanout', results: [row('weever', 20, 4), row('weever', 10, 2)] }) },
      { name: 'b.json', text: JSON.stringify(row('janus', 10, 3)) },
    ]);
    assert.deepEqual(
      s.map((x) => x.name),
      ['weever (fanout)', 'janus (fanout)'],
    );
    assert.deepEqual(
      s[0]!.points.map((p) => p.subscribers),
      [10, 20],
    );
    const svg = chartSvg(s, 'cpu & loss');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /cpu &amp; loss/);
    assert.equal((svg.match(/<polyline/g) ?? []).length, 2); // CPU and loss of the 2-point series
    assert.equal((svg.match(/<circle/g) ?? []).length, 6);
  });

  it('splits a --target both output into one series per target', () => {
    const row = (target: string, n: number) => ({ scenario: 'fanout', target, subscribers: n, serverCpuPercent: 1, lossPercent: 0 });
    const both = { scenario: 'fanout', results: [row('weever', 5), row('weever', 20), row('janus', 5), row('janus', 20)], comparison: [] };
    const s = seriesOf([{ name: 'both.json', text: `table\n${JSON.stringify(both)}` }]);
    assert.deepEqual(
      s.map((x) => [x.name, x.points.length]),
      [
        ['weever (fanout)', 2],
        ['janus (fanout)', 2],
      ],
    );
  });

  it('nice axis scales', () => {
    assert.deepEqual(niceScale(7.3), { top: 8, step: 2 });
    assert.deepEqual(niceScale(100), { top: 100, step: 20 });
    assert.deepEqual(niceScale(0), { top: 1, step: 0.25 });
  });
});
