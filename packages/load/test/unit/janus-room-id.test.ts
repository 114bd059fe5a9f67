/** The Janus target maps our string rooms to numeric Janus room ids: the same everywhere, valid, spread. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { janusRoomId } from '../../src/janus-target.js';

describe('janusRoomId', () => {
  it('is deterministic: every worker and run maps a room to the same Janus room', () => {
    assert.equal(janusRoomId('bench'), janusRoomId('bench'));
    assert.equal(janusRoomId(''), janusRoomId(''));
  });

  it('is a positive integer below 2^31 (Janus rejects room 0)', () => {
    for (const room of ['', 'a', 'bench', 'room-with-a-long-name-0123456789', 'ü']) {
      const id = janusRoomId(room);
      assert.ok(Number.isInteger(id) && id >= 1 && id < 2 ** 31, `${room} → ${id}`);
    }
  });

  it('gives distinct ids to the rooms of a benchmark run', () => {
    const ids = new Set(Array.from({ length: 1000 }, (_, i) => janusRoomId(`room-${i}`)));
    assert.equal(ids.size, 1000);
  });
});
