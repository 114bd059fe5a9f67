/**
 * capacity: the fanout room grows by --step subscribers until the loss at the subscribers
 * goes over --max-loss, the server's CPU reaches --max-cpu % of a core (it is pinned to
 * one), the median one-way delay passes 50 ms (a queue: someone is saturated), the clients'
 * CPU reaches 85 % (then the limit is theirs, not the server's), or --max subscribers.
 * The knee is the last size that passed.
 */
import { LoadRun } from '../src/run.js';
import { type CommonOptions, loadOptions, note, printRows, type Row, serverUnderTest, steadyWindow } from './lib/load-bench.js';
import { machine } from './lib/machine.js';

export interface CapacityOptions extends CommonOptions {
  start: number;
  step: number;
  max: number;
  maxLoss: number;
  maxCpu: number;
}

export interface CapacityResult {
  scenario: 'capacity';
  /** the largest N that passed (0: none) */
  knee: number;
  /** why the search stopped */
  stoppedBy: 'loss' | 'server-cpu' | 'client-cpu' | 'delay' | 'max' | 'failures';
  steps: Row[];
}

export async function capacity(o: CapacityOptions): Promise<CapacityResult> {
  const sut = await serverUnderTest(o);
  const steps: Row[] = [];
  let knee = 0;
  let stoppedBy: CapacityResult['stoppedBy'] = 'max';
  const room = `capacity-${Date.now()}`;
  const run = await LoadRun.start(loadOptions(o, sut, room, { publishers: 1, subscribers: o.start, concurrency: 8 }));
  try {
    note(`machine: ${machine()}\nserver pinned to core 0, clients to core 1: ${sut.pinned}`);
    for (let n = o.start; n <= o.max; n += o.step) {
      if (n > o.start) await run.addSubscribers(o.step);
      const { row } = await steadyWindow(run, sut, o, 'capacity');
      steps.push(row);
      note(`capacity N=${row.subscribers}: ${JSON.stringify(row)}`);
      if (row.failures > 0 && row.subscribers < n) {
        stoppedBy = 'failures';
        break;
      }
      if (row.lossPercent > o.maxLoss) {
        stoppedBy = 'loss';
        break;
      }
      if ((row.serverCpuPercent ?? 0) >= o.maxCpu) {
        stoppedBy = 'server-cpu';
        break;
      }
      // Packets queue somewhere (server or clients) long before they are lost: a median
      // one-way delay of 50 ms on loopback is saturation.
      if ((row.delayP50Ms ?? 0) > 50) {
        stoppedBy = 'delay';
        break;
      }
      knee = row.subscribers;
      // On a 2-core machine the clients saturate their core too: then the limit found is theirs.
      if (row.clientCpuPercent >= 85 * Math.max(1, o.workers)) {
        stoppedBy = 'client-cpu';
        break;
      }
    }
  } finally {
    await run.close();
    await sut.stop();
  }
  printRows(
    `capacity: 1 publisher (VP8 ${o.videoBitrate / 1000} kbit/s + Opus) → N subscribers, +${o.step} per step until loss > ${o.maxLoss} % or server CPU ≥ ${o.maxCpu} %`,
    sut,
    steps,
  );
  console.log(`knee: ${knee} subscribers (stopped by ${stoppedBy})`);
  return { scenario: 'capacity', knee, stoppedBy, steps };
}
