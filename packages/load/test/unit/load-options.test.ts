import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { LoadOptionError, parseBitrate, parseLoadArgs } from '../../src/options.js';

const quiet = (c: import('commander').Command) => c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
const parse = (...argv: string[]) => parseLoadArgs(argv, quiet);

describe('weever-load options', () => {
  it('defaults: 1 publisher with VP8 1 Mbit/s 30 fps + Opus, 1 subscriber, 10 s, our server', () => {
    const o = parse('--url', 'http://127.0.0.1:8080/');
    assert.equal(o.url, 'http://127.0.0.1:8080');
    assert.deepEqual(
      [o.publishers, o.subscribers, o.video, o.audio, o.videoBitrate, o.fps, o.keyframeInterval, o.duration, o.workers, o.target, o.json],
      [1, 1, true, true, 1_000_000, 30, 2, 10, 1, 'weever', false],
    );
  });

  it('several instances: comma-separated --url (and one --private-url each), the weever target only', () => {
    const o = parse(
      '--url',
      'http://127.0.0.1:1/,http://127.0.0.1:2',
      '--private-url',
      'http://127.0.0.1:11,http://127.0.0.1:12',
      '--conference',
    );
    assert.equal(o.url, 'http://127.0.0.1:1');
    assert.deepEqual(o.urls, ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    assert.equal(o.privateUrl, 'http://127.0.0.1:11');
    assert.deepEqual(o.privateUrls, ['http://127.0.0.1:11', 'http://127.0.0.1:12']);
    assert.equal(parse('--url', 'http://127.0.0.1:1').urls, undefined, 'one URL: no spread');
    assert.throws(() => parse('--url', 'http://a:1,http://b:2', '--private-url', 'http://a:3,http://b:4,http://c:5'), LoadOptionError);
    assert.throws(() => parse('--url', 'http://a:1,http://b:2', '--target', 'janus'), /weever target only/);
    assert.throws(() => parse('--url', 'http://a:1,ftp://b:2'), CommanderError);
  });

  it('parses every option', () => {
    const o = parse(
      '--url',
      'http://127.0.0.1:8088/janus',
      '--target',
      'janus',
      '--room',
      'r1',
      '--publishers',
      '3',
      '--subscribers',
      '40',
      '--no-video',
      '--video-bitrate',
      '1.5M',
      '--fps',
      '15',
      '--keyframe-interval',
      '0',
      '--duration',
      '2.5',
      '--workers',
      '2',
      '--json',
    );
    assert.deepEqual(
      [
        o.target,
        o.room,
        o.publishers,
        o.subscribers,
        o.video,
        o.audio,
        o.videoBitrate,
        o.fps,
        o.keyframeInterval,
        o.duration,
        o.workers,
        o.json,
      ],
      ['janus', 'r1', 3, 40, false, true, 1_500_000, 15, 0, 2.5, 2, true],
    );
  });

  it('bitrates: plain, k and M suffixes; out of range refused', () => {
    assert.equal(parseBitrate('800k'), 800_000);
    assert.equal(parseBitrate('2M'), 2_000_000);
    assert.equal(parseBitrate('64000'), 64_000);
    assert.throws(() => parseBitrate('1G'));
    assert.throws(() => parseBitrate('5k'));
  });

  it('refuses bad values with a commander error', () => {
    for (const argv of [
      [],
      ['--url', 'ftp://x'],
      ['--url', 'http://x', '--subscribers', '-1'],
      ['--url', 'http://x', '--publishers', 'two'],
      ['--url', 'http://x', '--duration', '0'],
      ['--url', 'http://x', '--target', 'mediasoup'],
    ]) {
      assert.throws(() => parse(...argv), CommanderError, argv.join(' '));
    }
  });

  it('refuses combinations that cannot run', () => {
    assert.throws(() => parse('--url', 'http://x', '--no-video', '--no-audio'), LoadOptionError);
    assert.throws(() => parse('--url', 'http://x', '--workers', '0'), LoadOptionError);
    assert.throws(() => parse('--url', 'http://x', '--room', 'a.b'), /must not contain '\.'/);
  });
});
