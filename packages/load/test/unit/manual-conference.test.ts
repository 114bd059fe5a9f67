import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualChoice } from '../../src/clients.js';

describe('manualChoice (a conference with manual subscription)', () => {
  it('participant i takes the `top` after it at full quality, the `low` after those at the smallest layer, wrapping', () => {
    const m = { participants: 30, top: 1, low: 8 };
    const choose = manualChoice(m, 'p28+sub-x1');
    assert.equal(choose('p29+pub-y'), 'high');
    for (let j = 0; j < 8; j++) assert.equal(choose(`p${j}+pub-z`), 'low', `p${j}`);
    assert.equal(choose('p8+pub'), undefined);
    assert.equal(choose('p28+pub'), undefined, 'never its own');
    assert.equal(choose('p27+pub'), undefined);
    assert.equal(choose('somebody+x'), undefined, 'not a conference publisher');
    const count = { high: 0, low: 0 };
    for (let j = 0; j < 30; j++) {
      const q = choose(`p${j}+pub`);
      if (q) count[q]++;
    }
    assert.deepEqual(count, { high: 1, low: 8 });
  });
});
