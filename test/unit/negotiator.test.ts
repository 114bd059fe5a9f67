import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrackInfo } from 'weever-protocol';
import { keepDtlsRole } from '../../src/media/control-subscriber.js';
import { type Action, LineState, Negotiator } from '../../src/media/negotiator.js';
import { tracksOf } from '../helpers/tracks.js';

/** Actions as short strings: `join a`, `attach 1 a/video0 new`, `retire 1`, `left a`. */
function show(actions: Action[]): string[] {
  return actions.map((a) => {
    if (a.type === 'pub-join') return `join ${a.pub}`;
    if (a.type === 'pub-left') return `left ${a.pub}`;
    if (a.type === 'retire') return `retire ${a.line.mid}`;
    return `attach ${a.line.mid} ${a.line.pub}/${a.line.info!.trackId}${a.fresh ? ' new' : ''}`;
  });
}

const room = (...entries: [string, TrackInfo[]][]) => new Map(entries);

describe('Negotiator', () => {
  it('offers nothing for an empty room', () => {
    const n = new Negotiator(new Set(['0']));
    assert.deepEqual(n.next(room()), []);
    assert.equal(n.offerOutstanding, false);
  });

  it('joins a publisher: PUB_JOIN, then one new m-line per track, mids skipping the client’s', () => {
    const n = new Negotiator(new Set(['1']));
    assert.deepEqual(show(n.next(room(['a+1', tracksOf(1, 1)]))), ['join a+1', 'attach 2 a+1/audio0 new', 'attach 3 a+1/video0 new']);
    assert.equal(n.offerOutstanding, true);
    assert.deepEqual(
      n.all().map((l) => [l.mid, l.kind, l.state]),
      [
        ['2', 'audio', LineState.Offered],
        ['3', 'video', LineState.Offered],
      ],
    );
  });

  it('coalesces every change during an outstanding offer into ONE follow-up', () => {
    const n = new Negotiator(new Set(['0']));
    n.next(room(['a+1', tracksOf(0, 1)]));
    // two publishers come and one goes while the offer is out
    assert.deepEqual(n.next(room(['a+1', tracksOf(0, 1)], ['b+1', tracksOf(0, 1)])), []);
    assert.deepEqual(n.next(room(['b+1', tracksOf(0, 1)], ['c+1', tracksOf(1, 0)])), []);
    const { live, again } = n.answered();
    assert.deepEqual(
      live.map((l) => l.mid),
      ['1'],
    );
    assert.equal(again, true);
    assert.deepEqual(show(n.next(room(['b+1', tracksOf(0, 1)], ['c+1', tracksOf(1, 0)]))), [
      'left a+1',
      'retire 1',
      'join b+1',
      'attach 2 b+1/video0 new',
      'join c+1',
      'attach 3 c+1/audio0 new',
    ]);
  });

  it('reuses a retired m-line only after the offer that retired it is answered', () => {
    const n = new Negotiator(new Set(['0']));
    n.next(room(['a+1', tracksOf(0, 1)]));
    n.answered();
    // a leaves; b joins in the same offer: b cannot take a's m-line yet
    assert.deepEqual(show(n.next(room(['b+1', tracksOf(0, 1)]))), ['left a+1', 'retire 1', 'join b+1', 'attach 2 b+1/video0 new']);
    assert.equal(n.all()[0]!.state, LineState.Retiring);
    n.answered();
    assert.equal(n.all()[0]!.state, LineState.Idle);
    // now c recycles m-line 1 (same kind), not a new one
    assert.deepEqual(show(n.next(room(['b+1', tracksOf(0, 1)], ['c+1', tracksOf(0, 1)]))), ['join c+1', 'attach 1 c+1/video0']);
  });

  it('a recycled m-line is only of the same kind', () => {
    const n = new Negotiator(new Set());
    n.next(room(['a+1', tracksOf(1, 0)]));
    n.answered();
    n.next(room());
    n.answered();
    assert.deepEqual(show(n.next(room(['b+1', tracksOf(0, 1)]))), ['join b+1', 'attach 2 b+1/video0 new']);
  });

  it('a publisher whose track changes id gets the old m-line retired and the new one attached, no second PUB_JOIN', () => {
    const n = new Negotiator(new Set());
    n.next(room(['a+1', tracksOf(1, 1)]));
    n.answered();
    const later: TrackInfo[] = [
      { kind: 'audio', trackId: 'audio0' },
      { kind: 'video', trackId: 'video1' },
    ];
    assert.deepEqual(show(n.next(room(['a+1', later]))), ['retire 2', 'attach 3 a+1/video1 new']);
    const { live } = n.answered();
    assert.deepEqual(
      live.map((l) => [l.mid, l.info?.trackId]),
      [['3', 'video1']],
    );
    assert.equal(n.attachedCount(), 2);
  });

  it('announces every publisher of the room but gives m-lines only to the tracks received (manual mode)', () => {
    const n = new Negotiator(new Set(['0']));
    const all = room(['a+1', tracksOf(1, 1)], ['b+2', tracksOf(1, 1)]);
    assert.deepEqual(show(n.next(all, room())), ['join a+1', 'join b+2']);
    assert.equal(n.offerOutstanding, false, 'announcements alone need no offer');
    assert.deepEqual(show(n.next(all, room(['b+2', tracksOf(0, 1)]))), ['attach 1 b+2/video0 new']);
    n.answered();
    // b's audio too, then nothing of b: its lines are retired, b stays announced
    assert.deepEqual(show(n.next(all, room(['b+2', tracksOf(1, 1)]))), ['attach 2 b+2/audio0 new']);
    n.answered();
    assert.deepEqual(show(n.next(all, room())), ['retire 1', 'retire 2']);
    assert.equal(n.isJoined('b+2'), true);
  });

  it('an unchanged room after an answer needs no offer', () => {
    const n = new Negotiator(new Set());
    const r = room(['a+1', tracksOf(1, 1)]);
    n.next(r);
    assert.deepEqual(n.answered().again, false);
    assert.deepEqual(n.next(r), []);
    assert.equal(n.offerOutstanding, false);
  });
});

describe('keepDtlsRole (our offers keep the DTLS role of our first answer)', () => {
  it('replaces actpass by the role we have, on every m-line, and nothing else', () => {
    const sdp = 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:actpass\r\n';
    assert.equal(keepDtlsRole(sdp, 'active'), sdp.replaceAll('a=setup:actpass', 'a=setup:active'));
    assert.equal(keepDtlsRole(sdp, 'passive').match(/a=setup:passive/g)?.length, 2);
    assert.equal(keepDtlsRole(sdp, undefined), sdp, 'no role known (no answer yet): as the engine wrote it');
    assert.equal(keepDtlsRole('a=setup:actpassx\r\n', 'active'), 'a=setup:actpassx\r\n');
  });
});
