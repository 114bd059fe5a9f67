import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrackInfo } from 'weever-protocol';
import { CODECS, H264 } from '../../src/media/sdp.js';
import { type PlayerLine, planWhep } from '../../src/media/whep-subscriber.js';
import { tracksOf } from '../helpers/tracks.js';

const audio = (): PlayerLine => ({ kind: 'audio', accepts: [CODECS.audio] });
const vp8 = (): PlayerLine => ({ kind: 'video', accepts: [CODECS.video] });
const show = (fills: ReturnType<typeof planWhep>) => fills.map((f) => (f ? `${f.pub}/${f.info.trackId}` : '-'));

describe('planWhep (which track goes on which player m-line)', () => {
  it('fills lines with publishers in arrival order, their tracks in order, by kind', () => {
    const desired = new Map([
      ['a+1', tracksOf(1, 1)],
      ['b+1', tracksOf(1, 1)],
    ]);
    assert.deepEqual(show(planWhep(desired, [vp8(), audio(), vp8()], false)), ['a+1/video0', 'a+1/audio0', 'b+1/video0']);
  });

  it('the per-publisher endpoint takes one track per kind of one publisher', () => {
    const desired = new Map([['a+1', tracksOf(0, 2)]]);
    assert.deepEqual(show(planWhep(desired, [vp8(), vp8()], true)), ['a+1/video0', '-']);
  });

  it('skips lines that cannot take the codec, and lines that are busy or unusable', () => {
    const h264: TrackInfo[] = [{ kind: 'video', trackId: 'video0', codec: 'H264' }];
    const desired = new Map([
      ['obs+1', h264],
      ['a+1', tracksOf(0, 1)],
    ]);
    const lines: PlayerLine[] = [vp8(), { kind: 'video', accepts: [H264] }, { ...vp8(), unusable: true }];
    assert.deepEqual(show(planWhep(desired, lines, false)), ['a+1/video0', 'obs+1/video0', '-']);
    const busy: PlayerLine[] = [{ ...vp8(), pub: 'a+1', trackId: 'video0' }, vp8()];
    assert.deepEqual(show(planWhep(new Map([['a+1', tracksOf(0, 1)]]), busy, false)), ['-', '-']);
  });

  it('per publisher: while one publisher is on a line, another waits', () => {
    const lines: PlayerLine[] = [{ ...vp8(), pub: 'a+1', trackId: 'video0' }, audio()];
    const desired = new Map([['a+2', tracksOf(1, 1)]]);
    assert.deepEqual(show(planWhep(desired, lines, true)), ['-', '-']);
  });
});
