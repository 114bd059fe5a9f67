/** `weever-load` command line: parsed into LoadOptions, with a clear error for bad values. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { checkName } from 'weever-protocol';
import type { LoadOptions } from './run.js';
import { TARGETS } from './targets.js';

const positiveInt = (max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 0 || n > max)
    throw new InvalidArgumentError(`must be an integer from 0 to ${max}`);
  return n;
};
const seconds = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new InvalidArgumentError('must be a number of seconds, > 0 and ≤ 86400');
  return n;
};
/** 1000000, 1000k, 1.5M */
export function parseBitrate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('must be bits per second, e.g. 1000000, 800k or 1.5M');
  const n = Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6);
  if (n < 10_000 || n > 50e6) throw new InvalidArgumentError('must be from 10k to 50M');
  return Math.round(n);
}
const httpUrl = (v: string) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError('must be an http(s) URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('must be an http(s) URL');
  return v.replace(/\/+$/, '');
};
/** One URL, or several comma separated (the instances of one cluster). */
const httpUrls = (v: string) => v.split(',').map((x) => httpUrl(x.trim()));

/** A combination of options that cannot run (each option was valid alone). */
export class LoadOptionError extends Error {}

export interface CliOptions extends LoadOptions {
  json: boolean;
}

export function loadCommand(): Command {
  return new Command('weever-load')
    .description(
      'Load generator for Weever Streaming (and Janus): N publishers sending VP8 + Opus, M subscribers measuring loss, jitter and delay',
    )
    .requiredOption(
      '--url <url>',
      'server to load: our public base URL (http://host:port) or, with --target janus, the Janus HTTP API (http://host:8088/janus); several instances of one cluster comma separated: participant i (publisher and subscriber) joins the (i mod n)-th',
      httpUrls,
    )
    .option(
      '--private-url <url>',
      'our private API (http://host:port): input loss per publisher and server CPU; with several --url, each instance’s, comma separated (the counters are summed)',
      httpUrls,
    )
    .option('--room <room>', 'room name', 'load')
    .option('--publishers <n>', 'publishers', positiveInt(10_000), 1)
    .option('--subscribers <n>', 'subscribers', positiveInt(100_000), 1)
    .option('--video', 'publishers send VP8', true)
    .option('--no-video', 'publishers send no video')
    .option('--audio', 'publishers send Opus', true)
    .option('--no-audio', 'publishers send no audio')
    .option('--video-bitrate <bps>', 'VP8 bitrate per publisher, e.g. 1M or 800k', parseBitrate, 1_000_000)
    .option('--fps <n>', 'video frames per second', positiveInt(120), 30)
    .option(
      '--layers <n>',
      'VP8 simulcast layers per publisher (one SSRC each, a=ssrc-group:SIM; the top one at --video-bitrate, the others 50 % and 15 %; weever only)',
      positiveInt(3),
      1,
    )
    .option('--receiver-reports', 'subscribers send an RTCP receiver report per track every second (as browsers do)', false)
    .option('--keyframe-interval <s>', 'seconds between periodic keyframes (0: only on PLI/FIR)', positiveInt(3600), 2)
    .option('--duration <s>', 'seconds of media after everyone connected; the tool always stops', seconds, 10)
    .option('--workers <n>', 'worker processes for the clients (1: all in this process)', positiveInt(64), 1)
    .option('--concurrency <n>', 'connections opened at the same time per worker', positiveInt(256), 4)
    .option('--conference', 'every participant publishes and subscribes to the others (--publishers participants)', false)
    .option('--json', 'print one JSON object instead of the table', false)
    .addOption(new Option('--target <name>', 'server type').choices([...TARGETS]).default('weever'));
}

/** Parses `argv` (without node and script); throws CommanderError on bad input. */
export function parseLoadArgs(argv: string[], configure?: (c: Command) => void): CliOptions {
  const c = loadCommand();
  configure?.(c);
  c.parse(argv, { from: 'user' });
  // The command's options are LoadOptions' fields (minus the internal subscribeUrl) plus --json.
  const o = c.opts<
    Required<Omit<LoadOptions, 'subscribeUrl' | 'privateUrl' | 'url' | 'urls' | 'privateUrls'>> & {
      url: string[];
      privateUrl?: string[];
      json: boolean;
    }
  >();
  if (o.url.length > 1 && o.target !== 'weever') throw new LoadOptionError('several --url: the weever target only');
  if (o.privateUrl && o.privateUrl.length !== 1 && o.privateUrl.length !== o.url.length)
    throw new LoadOptionError(`--private-url: one per --url (${o.url.length})`);
  if (!o.video && !o.audio) throw new LoadOptionError('--no-video and --no-audio: nothing to send');
  if (o.fps < 1) throw new LoadOptionError('--fps must be at least 1');
  if (o.layers < 1) throw new LoadOptionError('--layers must be at least 1');
  if (o.layers > 1 && o.target !== 'weever') throw new LoadOptionError('--layers: the Janus target publishes one layer');
  if (o.workers < 1) throw new LoadOptionError('--workers must be at least 1');
  if (o.concurrency < 1) throw new LoadOptionError('--concurrency must be at least 1');
  if (o.publishers < 1 && o.subscribers < 1) throw new LoadOptionError('nothing to run: --publishers and --subscribers are 0');
  const invalid = checkName('--room', o.room);
  if (invalid) throw new LoadOptionError(invalid);
  return {
    url: o.url[0]!,
    ...(o.url.length > 1 ? { urls: o.url } : {}),
    ...(o.privateUrl ? { privateUrl: o.privateUrl[0]! } : {}),
    ...(o.privateUrl && o.privateUrl.length > 1 ? { privateUrls: o.privateUrl } : {}),
    room: o.room,
    publishers: o.publishers,
    subscribers: o.subscribers,
    video: o.video,
    audio: o.audio,
    videoBitrate: o.videoBitrate,
    fps: o.fps,
    keyframeInterval: o.keyframeInterval,
    ...(o.layers > 1 ? { layers: o.layers } : {}),
    ...(o.receiverReports ? { receiverReports: true } : {}),
    duration: o.duration,
    workers: o.workers,
    concurrency: o.concurrency,
    conference: o.conference,
    json: o.json,
    target: o.target,
    progress: true,
  };
}
