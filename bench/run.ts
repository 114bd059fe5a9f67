/** `npm run bench -- <scenario> [options]`: prints a table, then one JSON object as the last line. */
import { Command, InvalidArgumentError } from 'commander';
import { crossInstance } from './cross-instance.js';
import { fanout } from './fanout.js';
import { join } from './join.js';
import { profile } from './profile.js';

const intList = (v: string) => {
  const xs = v.split(',').map((x) => Number(x));
  if (xs.some((x) => !Number.isInteger(x) || x < 1)) throw new InvalidArgumentError('must be positive integers, comma separated');
  return xs;
};
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

const program = new Command('bench').description('Weever Streaming benchmarks');
program
  .command('fanout')
  .description('1 publisher → N subscribers: server CPU µs per forwarded packet')
  .option('--subscribers <list>', 'values of N', intList, [1, 5, 10, 20])
  .option('--seconds <s>', 'measurement window', int, 10)
  .option('--warmup <s>', 'warm-up before the window', int, 3)
  .option('--pps <n>', 'publisher packets per second', int, 300)
  .option('--size <bytes>', 'RTP packet size', int, 1100)
  .action(async (o) => {
    const results = await fanout(o);
    console.log(JSON.stringify(results.length === 1 ? results[0] : { scenario: 'fanout', results }));
  });
program
  .command('join')
  .description('join → first decoded frame latency, Chromium subscriber')
  .option('--joins <n>', 'number of joins', int, 20)
  .option('--keyframe-interval <s>', 'server periodic keyframe fallback (long: joins must not wait for it)', int, 3600)
  .action(async (o) => {
    console.log(JSON.stringify(await join({ joins: o.joins, keyframeInterval: o.keyframeInterval })));
  });
program
  .command('cross-instance')
  .description('the fanout with subscribers on another instance (Redis + NATS): CPU per packet and added latency')
  .option('--subscribers <n>', 'number of subscribers', int, 5)
  .option('--seconds <s>', 'measurement window per phase', int, 10)
  .option('--warmup <s>', 'warm-up before each window', int, 3)
  .option('--pps <n>', 'publisher packets per second', int, 300)
  .option('--size <bytes>', 'RTP packet size', int, 1100)
  .action(async (o) => {
    console.log(JSON.stringify(await crossInstance(o)));
  });
program
  .command('profile')
  .description('fanout with perf sampling of the server: where the CPU per forwarded packet goes')
  .option('--subscribers <n>', 'number of subscribers', int, 20)
  .option('--seconds <s>', 'sampling window', int, 10)
  .option('--warmup <s>', 'warm-up before the window', int, 3)
  .option('--pps <n>', 'publisher packets per second', int, 300)
  .option('--size <bytes>', 'RTP packet size', int, 1100)
  .option('--cpu-prof', 'also write a V8 .cpuprofile of the JS thread', false)
  .action(async (o) => {
    console.log(JSON.stringify(await profile(o)));
    // The engine's threads would keep the process alive.
    process.exit(0);
  });
await program.parseAsync(process.argv);
