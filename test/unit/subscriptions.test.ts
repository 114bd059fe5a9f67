import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrackInfo } from 'weever-protocol';
import { MAX_SUBSCRIPTIONS, PENDING_MS, Subscriptions } from '../../src/media/subscriptions.js';
import { tracksOf } from '../helpers/tracks.js';

const room = (...entries: [string, TrackInfo[]][]) => new Map(entries);
/** `pub/trackId` of what is received */
const shown = (m: ReadonlyMap<string, readonly TrackInfo[]>) => [...m].flatMap(([pub, ts]) => ts.map((t) => `${pub}/${t.trackId}`));

describe('Subscriptions', () => {
  it('auto: everything, and SUB/UNSUB are refused', () => {
    const s = new Subscriptions();
    const r = room(['a+1', tracksOf(1, 1)]);
    assert.equal(s.select(r), r);
    assert.equal(s.set('a+1', ['video'], true, true), 'SUB needs SUB_MODE manual');
    assert.equal(s.set('a+1', ['video'], false, true), 'UNSUB needs SUB_MODE manual');
  });

  it('manual: nothing until SUB, then the kinds named; UNSUB takes them back', () => {
    const s = new Subscriptions('manual');
    const r = room(['a+1', tracksOf(1, 1)], ['b+2', tracksOf(1, 1)]);
    assert.deepEqual(shown(s.select(r)), []);
    assert.equal(s.set('b+2', ['video'], true, true), undefined);
    assert.deepEqual(shown(s.select(r)), ['b+2/video0']);
    s.set('b+2', ['audio', 'video'], true, true);
    s.set('a+1', ['audio'], true, true);
    assert.deepEqual(shown(s.select(r)), ['a+1/audio0', 'b+2/audio0', 'b+2/video0']);
    s.set('b+2', ['video'], false, true);
    s.set('a+1', ['audio', 'video'], false, true);
    assert.deepEqual(shown(s.select(r)), ['b+2/audio0']);
    assert.deepEqual(s.list(), ['b+2']);
    assert.equal(s.set('nobody+9', ['audio'], false, false), undefined, 'UNSUB of what was never subscribed is no error');
  });

  it('a SUB racing the PUB_JOIN waits PENDING_MS for its publisher; one that left is forgotten', () => {
    let now = 1000;
    const s = new Subscriptions('manual', () => now);
    s.set('c+3', ['audio', 'video'], true, false);
    now += PENDING_MS - 1;
    assert.deepEqual(shown(s.select(room())), []);
    assert.deepEqual(s.list(), ['c+3'], 'still waiting');
    assert.deepEqual(shown(s.select(room(['c+3', tracksOf(1, 0)]))), ['c+3/audio0'], 'it came in time');
    now += 60_000;
    assert.deepEqual(shown(s.select(room(['c+3', tracksOf(1, 0)]))), ['c+3/audio0'], 'a known publisher does not expire');
    assert.deepEqual(shown(s.select(room())), [], 'it left');
    assert.deepEqual(s.list(), []);
    assert.deepEqual(shown(s.select(room(['c+3', tracksOf(1, 0)]))), [], 'and is not received if it came back under that id');

    s.set('d+4', ['video'], true, false);
    now += PENDING_MS;
    assert.deepEqual(shown(s.select(room(['d+4', tracksOf(0, 1)]))), [], 'too late');
  });

  it('auto → manual keeps what is received; manual → auto receives everything', () => {
    const s = new Subscriptions();
    const r = room(['a+1', tracksOf(1, 1)]);
    s.setMode('manual', r);
    assert.equal(s.mode, 'manual');
    assert.deepEqual(shown(s.select(r)), ['a+1/audio0', 'a+1/video0']);
    s.set('a+1', ['video'], false, true);
    s.setMode('auto', r);
    assert.deepEqual(shown(s.select(r)), ['a+1/audio0', 'a+1/video0']);
  });

  it('bounds how many publishers one subscriber names', () => {
    const s = new Subscriptions('manual');
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) assert.equal(s.set(`p${i}+x`, ['audio'], true, false), undefined);
    assert.equal(s.set('one-more+x', ['audio'], true, false), `SUB: at most ${MAX_SUBSCRIPTIONS} publishers`);
    assert.equal(s.set('p0+x', ['video'], true, false), undefined, 'a publisher already named may still change');
  });
});
