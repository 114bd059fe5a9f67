/** `npm run bench -- <scenario> [options]`: prints a table, then one JSON object as the last line. */
import { Command } from 'commander';
import { capacity } from './capacity.js';
import { chart } from './chart.js';
import { crossInstance } from './cross-instance.js';
import { fuzz } from './fuzz.js';
import { idle } from './idle.js';
import { join } from './join.js';
import { joinLoad } from './join-load.js';
import { commonOptions, int, intList } from './lib/load-bench.js';
import { lossy } from './lossy.js';
import { profile } from './profile.js';
import { audioRoom, conference, fanout, lastLine } from './rooms.js';
import { rooms } from './small-rooms.js';
import { soak } from './soak.js';

const program = new Command('bench').description('Weever Streaming benchmarks (clients: the weever-load tool, packages/load/src)');
commonOptions(
  program.command('fanout').description('1 publisher (VP8 ~1 Mbit/s + Opus) → N subscribers: server CPU µs per forwarded packet, loss'),
  true,
)
  .option('--subscribers <list>', 'values of N, comma separated', intList, [1, 5, 10, 20])
  .option(
    '--layers <n>',
    'VP8 simulcast layers the publisher sends (SSRCs in a SIM group; top at --video-bitrate, then 50 % and 15 %); implies --receiver-reports',
    int,
    1,
  )
  .option('--receiver-reports', 'subscribers send an RTCP receiver report per track every second (the downlink estimate needs them)', false)
  .action(async (o) => {
    if (o.layers < 1 || o.layers > 3) throw new Error('--layers: 1 to 3');
    if (o.layers > 1 && o.target !== 'weever') throw new Error('--layers: weever only');
    console.log(lastLine('fanout', await fanout(o)));
  });
commonOptions(program.command('audio-room').description('K audio-only publishers → N subscribers ("Clubhouse" room)'), true)
  .option('--publishers <k>', 'audio-only publishers', int, 10)
  .option('--subscribers <list>', 'values of N, comma separated', intList, [10, 50])
  .action(async (o) => {
    console.log(lastLine('audio-room', await audioRoom(o)));
  });
commonOptions(program.command('conference').description('P participants, each publishing and subscribing to all others'), false)
  .option('--participants <list>', 'values of P, comma separated', intList, [3, 5, 8])
  .option('--layers <n>', 'VP8 simulcast layers each participant sends (implies receiver reports)', int, 1)
  .option(
    '--manual <top,low>',
    'manual subscription: each receives `top` others at full quality and `low` others at the smallest layer (a paged grid), e.g. 1,8',
    intList,
  )
  .option(
    '--instances <n>',
    'our server as n instances of one cluster (redis-server + 3-node NATS), participant i on instance i mod n',
    int,
    1,
  )
  .action(async (o) => {
    if (o.layers < 1 || o.layers > 3) throw new Error('--layers: 1 to 3');
    if (o.instances < 1 || o.instances > 8) throw new Error('--instances: 1 to 8');
    if (o.instances > 1 && o.url) throw new Error('--instances starts its own cluster: not with --url');
    if (o.manual && (o.manual.length !== 2 || o.target !== 'weever')) throw new Error('--manual <top,low>: two numbers; weever only');
    console.log(lastLine('conference', await conference(o)));
  });
commonOptions(
  program
    .command('rooms')
    .description('R small rooms at once (default 20 × 2: 1:1 calls), everyone publishing VP8 + Opus and receiving the others'),
  true,
)
  .option('--rooms <n>', 'rooms', int, 20)
  .option('--participants <n>', 'participants per room', int, 2)
  .action(async (o) => {
    console.log(lastLine('rooms', await rooms(o)));
  });
commonOptions(program.command('capacity').description('raise N until loss > --max-loss % or server CPU saturates; reports the knee'), false)
  .option('--start <n>', 'first N', int, 10)
  .option('--step <n>', 'subscribers added per step', int, 10)
  .option('--max <n>', 'largest N tried', int, 200)
  .option('--max-loss <percent>', 'loss that ends the search', Number, 1)
  .option('--max-cpu <percent>', 'server CPU (% of its core) that ends the search', Number, 90)
  .action(async (o) => {
    console.log(JSON.stringify(await capacity(o)));
  });
commonOptions(program.command('join').description('join → first packet / first keyframe latency under load (protocol clients)'), false)
  .option('--joins <n>', 'subscribers joining one after the other', int, 20)
  .option('--subscribers <n>', 'subscribers already in the room (the load)', int, 10)
  .option('--gap <ms>', "pause after a joiner's first keyframe (the server spaces keyframe requests 500 ms)", int, 600)
  .action(async (o) => {
    console.log(JSON.stringify(await joinLoad(o)));
  });
program
  .command('join-browser')
  .description('join → first decoded frame latency, Chromium publisher and subscriber')
  .option('--joins <n>', 'number of joins', int, 20)
  .option('--keyframe-interval <s>', 'server periodic keyframe fallback (long: joins must not wait for it)', int, 3600)
  .action(async (o) => {
    console.log(JSON.stringify(await join({ joins: o.joins, keyframeInterval: o.keyframeInterval })));
  });
commonOptions(
  program
    .command('cross-instance')
    .description('the fanout with subscribers on another instance (Redis + NATS): CPU per packet and added latency'),
  false,
)
  .option('--subscribers <n>', 'number of subscribers', int, 5)
  .action(async (o) => {
    console.log(JSON.stringify(await crossInstance(o)));
  });
program
  .command('lossy')
  .description(
    'loss per loopback hop (nftables, root): Chromium through the SFU vs a direct Chromium call — fps, freezes, NACKs, retransmissions, keyframes/min',
  )
  .option('--loss <list>', 'loss per hop in %, comma separated', (v: string) => v.split(',').map(Number), [0, 1, 3, 10])
  .option('--seconds <s>', 'window per loss rate', int, 30)
  .option('--settle <s>', 'pause after setting a rate, before its window', int, 2)
  .action(async (o) => {
    if (o.loss.some((x: number) => !Number.isFinite(x) || x < 0 || x > 100)) throw new Error('--loss: percentages 0–100');
    console.log(JSON.stringify(await lossy({ loss: o.loss, seconds: o.seconds, settle: o.settle })));
  });
program
  .command('profile')
  .description('fanout with perf sampling of the server: where the CPU per forwarded packet goes')
  .option('--subscribers <n>', 'number of subscribers', int, 20)
  .option('--seconds <s>', 'sampling window', int, 10)
  .option('--warmup <s>', 'warm-up before the window', int, 3)
  .option('--cpu-prof', 'also write a V8 .cpuprofile of the JS thread', false)
  .action(async (o) => {
    console.log(JSON.stringify(await profile(o)));
  });
program
  .command('soak')
  .description(
    'churn for N minutes (cohorts leaving by DELETE, STOP, vanish, kill -9 of their process), then idle: server RSS, fds, threads, timers, peers, store keys',
  )
  .option('--minutes <n>', 'minutes of churn', Number, 10)
  .option('--publishers <n>', 'publishers per cohort (VP8 + Opus)', int, 2)
  .option('--subscribers <n>', 'subscribers per cohort', int, 3)
  .option('--max-cohorts <n>', 'cohorts (processes) at once', int, 6)
  .option('--life-min <s>', 'shortest cohort life', int, 4)
  .option('--life-max <s>', 'longest cohort life', int, 12)
  .option('--sample <s>', 'sampling period', int, 5)
  .option('--idle <s>', 'idle time after the churn, sampled', int, 45)
  .option('--settle <s>', 'idle time after starting the server, before the baseline', int, 5)
  .option('--video-bitrate <bps>', 'VP8 bitrate per publisher', int, 300_000)
  .option('--fps <n>', 'video frames per second', int, 15)
  .action(async (o) => {
    if (!(o.minutes > 0 && o.minutes <= 120)) throw new Error('--minutes: more than 0, at most 120');
    if (o.lifeMax < o.lifeMin || o.maxCohorts < 1 || o.maxCohorts > 32) throw new Error('--life-max ≥ --life-min, --max-cohorts 1–32');
    console.log(JSON.stringify(await soak(o)));
  });
program
  .command('fuzz')
  .description('seeded random RTP/RTCP attacks on an instance under --supervise: after each, ms until a fresh pair gets video')
  .option('--minutes <n>', 'minutes of attacks', Number, 10)
  .option('--seed <n>', 'replay a run', int)
  .action(async (o) => {
    console.log(JSON.stringify(await fuzz(o)));
  });
program
  .command('idle')
  .description('CPU of an instance with no peer (plain and --supervise; fresh, and after peers came and went): ms per second')
  .option('--seconds <s>', 'measuring window', int, 30)
  .option('--settle <s>', 'wait after start', int, 10)
  .action(async (o) => {
    console.log(JSON.stringify(await idle(o)));
  });
program
  .command('chart')
  .description('SVG chart of server CPU % and loss % vs subscribers from benchmark outputs (one series per file)')
  .argument('<files...>', 'benchmark outputs (their last line is the JSON object)')
  .requiredOption('--out <file.svg>', 'SVG to write')
  .option('--title <text>', 'chart title', 'fanout: server CPU and loss vs subscribers')
  .action((files: string[], o: { out: string; title: string }) => {
    const series = chart(files, o.out, o.title);
    console.log(JSON.stringify({ chart: o.out, series: series.map((s) => ({ name: s.name, points: s.points.length })) }));
  });
await program.parseAsync(process.argv);
// The load clients' native threads must not keep the benchmark alive once it printed.
process.exit(0);
