import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keys, mediaValue, ownedEntry, parseMediaHash, parseOwnedEntry, type TrackInfo } from 'weever-protocol';
import { tracksOf } from '../helpers/tracks.js';

describe('keys', () => {
  it('uses the original project key names', () => {
    assert.equal(keys.list('pub', 'r1'), 'room#r1#pub_list');
    assert.equal(keys.list('sub', 'r1'), 'room#r1#sub_list');
    assert.equal(keys.media('r1'), 'room#r1#media');
    assert.equal(keys.token('pub', 'r1', 'alice'), 'token#pub#r1#alice');
    assert.equal(keys.token('sub', 'r1', 'bob'), 'token#sub#r1#bob');
    assert.equal(keys.mediaField('alice+x1', 'video'), 'alice+x1#video');
    assert.equal(keys.heartbeat('i1'), 'instance#i1');
    assert.equal(keys.owned('i1'), 'instance#i1#peers');
  });

  it('names with # or % never make two keys the same (room a#b, id c is not room a, id b#c)', () => {
    assert.notEqual(keys.token('pub', 'a#b', 'c'), keys.token('pub', 'a', 'b#c'));
    assert.equal(keys.token('pub', 'a#b', 'c'), 'token#pub#a%23b#c');
    assert.equal(keys.token('pub', 'a', 'b#c'), 'token#pub#a#b%23c');
    assert.notEqual(keys.list('pub', 'x%23'), keys.list('pub', 'x#'));
    assert.equal(keys.media('plain-room'), 'room#plain-room#media', 'ordinary names keep the original keys');
    assert.deepEqual(parseOwnedEntry(ownedEntry('sub', 'r#%1', 'a#b+1')), { role: 'sub', room: 'r#%1', fullId: 'a#b+1' });
  });

  it('owned entries round-trip', () => {
    assert.equal(ownedEntry('pub', 'r', 'a+1'), 'pub r a+1');
    assert.deepEqual(parseOwnedEntry('sub r#1 a+1'), { role: 'sub', room: 'r#1', fullId: 'a+1' });
    assert.equal(parseOwnedEntry('xx r a'), null);
    assert.equal(parseOwnedEntry('pub r'), null);
  });
});

describe('mediaValue', () => {
  it('is the count, then the stable track ids with their codec when named', () => {
    const tracks: TrackInfo[] = [
      { kind: 'audio', trackId: 'audio0' },
      { kind: 'video', trackId: 'video1' },
      { kind: 'video', trackId: 'video4', codec: 'H264' },
    ];
    assert.equal(mediaValue(tracks, 'video'), '2;video1,video4/H264');
    assert.equal(mediaValue(tracks, 'audio'), '1;audio0');
    assert.equal(mediaValue([], 'video'), '0;');
  });

  it('round-trips through parseMediaHash, keeping ids that are not positions', () => {
    const tracks: TrackInfo[] = [
      { kind: 'audio', trackId: 'audio2' },
      { kind: 'video', trackId: 'video1' },
    ];
    const hash = {
      [keys.mediaField('p+1', 'audio')]: mediaValue(tracks, 'audio'),
      [keys.mediaField('p+1', 'video')]: mediaValue(tracks, 'video'),
    };
    assert.deepEqual(parseMediaHash(hash), new Map([['p+1', tracks]]));
  });
});

describe('parseMediaHash', () => {
  it('groups audio and video fields per publisher, audio first', () => {
    assert.deepEqual(
      parseMediaHash({ 'alice+1#video': '2;video0,video1', 'alice+1#audio': '1;audio0', 'bob+2#audio': '1;audio3' }),
      new Map([
        ['alice+1', tracksOf(1, 2)],
        ['bob+2', [{ kind: 'audio', trackId: 'audio3' }]],
      ]),
    );
  });

  it('reads values of earlier versions (a bare count, or count;codecs) by position', () => {
    assert.deepEqual(
      parseMediaHash({ 'a+1#audio': '1', 'a+1#video': '2', 'obs+1#video': '2;H264,VP8', 'x+1#video': '1;AV2' }),
      new Map([
        ['a+1', tracksOf(1, 2)],
        [
          'obs+1',
          [
            { kind: 'video', trackId: 'video0', codec: 'H264' },
            { kind: 'video', trackId: 'video1' },
          ],
        ],
        ['x+1', tracksOf(0, 1)],
      ]),
    );
  });

  it('splits at the last #, so publisher ids may contain #', () => {
    assert.deepEqual(
      parseMediaHash({ 'a#b+c#audio': '1', 'a#b+c#video': '3', '#x#video': '1' }),
      new Map([
        ['a#b+c', tracksOf(1, 3)],
        ['#x', tracksOf(0, 1)],
      ]),
    );
  });

  it('ignores malformed fields and values, and publishers left with no track', () => {
    assert.deepEqual(
      parseMediaHash({
        'alice+1': '1', // no #
        '#audio': '1', // empty publisher id
        'alice+1#data': '1', // unknown kind
        'alice+1#Audio': '1', // kinds are case-sensitive
        'alice+1#': '1',
        'a+1#audio': 'abc',
        'a+1#video': '',
        'b+2#audio': '-1',
        'c+3#video': 'NaN',
        'd+4#video': '0;',
      }),
      new Map(),
    );
  });

  it('falls back to positions when the ids do not match the count or the kind', () => {
    assert.deepEqual(parseMediaHash({ 'a+1#video': '2;video5' }), new Map([['a+1', tracksOf(0, 2)]]));
    assert.deepEqual(parseMediaHash({ 'a+1#video': '1;audio5' }), new Map([['a+1', tracksOf(0, 1)]]));
  });

  it('keeps a publisher with a good field when its other field is bad', () => {
    assert.deepEqual(parseMediaHash({ 'a+1#audio': 'x', 'a+1#video': '2' }), new Map([['a+1', tracksOf(0, 2)]]));
  });
});
