import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayerWants, OFF_AFTER_MS, WANT_TTL_MS } from '../../src/media/layer-wants.js';

describe('LayerWants (dynacast)', () => {
  it('sends every layer until a report, then switches off what nobody wants after OFF_AFTER_MS', () => {
    const w = new LayerWants(3);
    assert.equal(w.mask, 0b111);
    assert.equal(w.update(1000), undefined, 'no report: as offered');
    assert.equal(w.onReport('A', 0, 1000), undefined, 'not at once');
    assert.equal(w.nextCheck(), 1000 + OFF_AFTER_MS);
    assert.equal(w.update(1000 + OFF_AFTER_MS - 1), undefined);
    assert.equal(w.update(1000 + OFF_AFTER_MS), 0b001, 'only the smallest layer is wanted');
    assert.equal(w.nextCheck(), undefined, 'nothing more to switch off');
  });

  it('switches a layer on at once when one instance wants it, or a keyframe of it is asked for', () => {
    const w = new LayerWants(3);
    w.onReport('A', 0, 0);
    w.onReport('B', 0, 0);
    assert.equal(w.update(OFF_AFTER_MS), 0b001);
    assert.equal(w.onReport('B', 2, 2000), 0b111, 'B shows it large');
    assert.equal(w.onReport('B', 1, 2100), undefined, 'down again: not at once');
    assert.equal(w.update(2100 + OFF_AFTER_MS), 0b011);
    assert.equal(w.onKeyframeRequest(2, 5000), 0b111, 'a subscriber switching up asks for its keyframe');
    assert.equal(w.onKeyframeRequest(2, 5001), undefined, 'already on');
    assert.equal(w.onKeyframeRequest(7, 5001), undefined, 'no such layer');
  });

  it('forgets an instance that stopped reporting; −1 (nobody shows it) keeps layer 0', () => {
    const w = new LayerWants(3);
    w.onReport('A', 2, 0);
    w.onReport('B', -1, 0);
    assert.equal(w.update(WANT_TTL_MS), undefined, 'A still counts at its TTL');
    assert.equal(w.update(WANT_TTL_MS + 1), undefined, 'A is forgotten; the top waits OFF_AFTER_MS from its last want');
    assert.equal(w.update(WANT_TTL_MS + OFF_AFTER_MS), 0b001);
  });

  it('two layers: the mask has two bits', () => {
    const w = new LayerWants(2);
    assert.equal(w.mask, 0b11);
    w.onReport('A', -1, 0);
    assert.equal(w.update(OFF_AFTER_MS), 0b01);
  });
});
