/** The human summary of a load run: a Markdown table per kind, input and output loss apart. */
import type { LoadReport } from './run.js';

const f = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));

export function summaryTable(r: LoadReport): string {
  const lines = [
    `target ${r.target}, room ${r.room}: ${r.publishers.connected}/${r.publishers.requested} publishers, ${r.subscribers.connected}/${r.subscribers.requested} subscribers, ${r.seconds} s`,
    '',
    '| track | sent pkt/s | input loss % | received pkt/s | output loss % | jitter ms (mean/max) | delay ms p50 | p95 | p99 | keyframes |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const k of ['video', 'audio'] as const) {
    const x = r[k];
    if (!x) continue;
    lines.push(
      `| ${k} | ${f(x.sentPacketsPerSecond, 1)} | ${f(x.inputLossPercent, 3)} | ${f(x.receivedPacketsPerSecond, 1)} | ${f(x.outputLossPercent, 3)} | ${f(x.jitterMsMean, 3)} / ${f(x.jitterMsMax, 3)} | ${f(x.delayMs?.p50, 3)} | ${f(x.delayMs?.p95, 3)} | ${f(x.delayMs?.p99, 3)} | ${x.keyframes} |`,
    );
  }
  lines.push('', `keyframes sent ${r.keyframesSent} (requested by the server: ${r.keyframeRequests}); output loss counts input loss too`);
  if (r.server) {
    lines.push(
      `server: ${r.server.cpuPercent} % of a core, ${r.server.cpuUsPerForwardedPacket} µs CPU per forwarded packet, ${r.server.forwardedPacketsPerSecond} forwarded pkt/s, RSS ${r.server.rssMiB} MiB`,
    );
  }
  if (r.failures.length) lines.push(`failures (${r.failures.length}):`, ...r.failures.map((x) => `  ${x}`));
  return lines.join('\n');
}
