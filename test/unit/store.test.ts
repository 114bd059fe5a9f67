import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keys, mediaValue, parseMediaHash } from '../../src/state/store.js';

describe('keys', () => {
  it('uses the reference key names', () => {
    assert.equal(keys.list('pub', 'r1'), 'room#r1#pub_list');
    assert.equal(keys.list('sub', 'r1'), 'room#r1#sub_list');
    assert.equal(keys.media('r1'), 'room#r1#media');
    assert.equal(keys.token('pub', 'r1', 'alice'), 'token#pub#r1#alice');
    assert.equal(keys.token('sub', 'r1', 'bob'), 'token#sub#r1#bob');
    assert.equal(keys.mediaField('alice+x1', 'video'), 'alice+x1#video');
  });
});

describe('parseMediaHash', () => {
  it('groups audio and video fields per publisher', () => {
    assert.deepEqual(
      parseMediaHash({ 'alice+1#audio': '1', 'alice+1#video': '2', 'bob+2#audio': '1' }),
      new Map([
        ['alice+1', { audio: 1, video: 2 }],
        ['bob+2', { audio: 1, video: 0 }],
      ]),
    );
  });

  it('splits at the last #, so publisher ids may contain #', () => {
    assert.deepEqual(
      parseMediaHash({ 'a#b+c#audio': '1', 'a#b+c#video': '3', '#x#video': '1' }),
      new Map([
        ['a#b+c', { audio: 1, video: 3 }],
        ['#x', { audio: 0, video: 1 }],
      ]),
    );
  });

  it('round-trips keys.mediaField', () => {
    const hash = { [keys.mediaField('p#1+z', 'audio')]: '0', [keys.mediaField('p#1+z', 'video')]: '1' };
    assert.deepEqual(parseMediaHash(hash), new Map([['p#1+z', { audio: 0, video: 1 }]]));
  });

  it('ignores malformed fields', () => {
    assert.deepEqual(
      parseMediaHash({
        'alice+1': '1', // no #
        '#audio': '1', // empty publisher id
        'alice+1#data': '1', // unknown kind
        'alice+1#Audio': '1', // kinds are case-sensitive
        'alice+1#': '1',
      }),
      new Map(),
    );
  });

  it('ignores values that are not non-negative integers', () => {
    assert.deepEqual(
      parseMediaHash({
        'a+1#audio': 'abc',
        'a+1#video': '',
        'b+2#audio': '-1',
        'c+3#video': 'NaN',
      }),
      new Map(),
    );
  });

  it('keeps a publisher with a good field when its other field is bad', () => {
    assert.deepEqual(parseMediaHash({ 'a+1#audio': 'x', 'a+1#video': '2' }), new Map([['a+1', { audio: 0, video: 2 }]]));
  });

  it('returns an empty map for an empty hash', () => {
    assert.deepEqual(parseMediaHash({}), new Map());
  });

  it('reads the video codecs after the count (H264 from WHIP clients), ignores unknown ones', () => {
    assert.deepEqual(
      parseMediaHash({ 'obs+1#audio': '1', 'obs+1#video': '2;H264,VP8', 'x+1#video': '1;AV2' }),
      new Map([
        ['obs+1', { audio: 1, video: 2, videoCodecs: ['H264', 'VP8'] }],
        ['x+1', { audio: 0, video: 1 }],
      ]),
    );
  });
});

describe('mediaValue', () => {
  it('is the bare count unless a video track is not VP8 (compatible with the reference)', () => {
    assert.equal(mediaValue({ audio: 1, video: 2 }, 'video'), '2');
    assert.equal(mediaValue({ audio: 1, video: 1, videoCodecs: ['VP8'] }, 'video'), '1');
    assert.equal(mediaValue({ audio: 1, video: 1, videoCodecs: ['H264'] }, 'video'), '1;H264');
    assert.equal(mediaValue({ audio: 1, video: 1, videoCodecs: ['H264'] }, 'audio'), '1');
  });
});
