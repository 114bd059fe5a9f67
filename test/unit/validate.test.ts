import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkName, checkRoomAndFullId, idOf, MAX_NAME_LENGTH, ownerOf } from 'weever-protocol';

const PRINTABLE = 'printable ASCII (0x21-0x7E) without spaces';

describe('checkName', () => {
  it('accepts ordinary names and the whole allowed character range', () => {
    assert.equal(checkName('room', 'myroom'), null);
    assert.equal(checkName('room', 'a'), null);
    assert.equal(checkName('room', '!'), null);
    assert.equal(checkName('room', '~'), null);
    assert.equal(checkName('id', 'alice+x1'), null);
    assert.equal(checkName('id', 'a#b-c_d+e/f:g@h'), null);
  });

  it('rejects the empty string', () => {
    assert.equal(checkName('room', ''), 'room must not be empty');
  });

  it('accepts exactly 128 characters and rejects 129', () => {
    assert.equal(MAX_NAME_LENGTH, 128);
    assert.equal(checkName('room', 'a'.repeat(128)), null);
    assert.equal(checkName('room', 'a'.repeat(129)), 'room must be at most 128 characters');
  });

  it('rejects spaces, control characters, DEL and non-ASCII', () => {
    const expected = `id must be ${PRINTABLE}`;
    assert.equal(checkName('id', 'a b'), expected);
    assert.equal(checkName('id', ' '), expected);
    assert.equal(checkName('id', 'a\tb'), expected);
    assert.equal(checkName('id', 'a\nb'), expected);
    assert.equal(checkName('id', 'a\u0000b'), expected);
    assert.equal(checkName('id', 'a\u001fb'), expected);
    assert.equal(checkName('id', 'a\u007fb'), expected);
    assert.equal(checkName('id', 'caf\u00e9'), expected);
    assert.equal(checkName('id', '\u{1f600}'), expected);
  });

  it("rejects '.' (NATS subject separator)", () => {
    assert.equal(checkName('room', 'a.b'), "room must not contain '.' (NATS subject separator)");
    assert.equal(checkName('room', '.'), "room must not contain '.' (NATS subject separator)");
  });

  it("rejects '*' and '>' (NATS wildcards)", () => {
    const expected = "room must not contain '*' or '>' (NATS wildcards)";
    assert.equal(checkName('room', '*'), expected);
    assert.equal(checkName('room', '>'), expected);
    assert.equal(checkName('room', 'a*b'), expected);
    assert.equal(checkName('room', 'a>'), expected);
    assert.equal(checkName('room', '<'), null);
  });

  it('names the field given by the caller', () => {
    assert.equal(checkName('full id', ''), 'full id must not be empty');
  });
});

describe('idOf', () => {
  it('returns everything before the first +', () => {
    assert.equal(idOf('alice+x1'), 'alice');
    assert.equal(idOf('alice+x1+y2'), 'alice');
    assert.equal(idOf('alice-screen+x7'), 'alice-screen');
  });

  it('returns the full id when it has no +', () => {
    assert.equal(idOf('alice'), 'alice');
  });

  it('returns an empty id for a full id starting with +', () => {
    assert.equal(idOf('+abc'), '');
  });
});

describe('ownerOf', () => {
  it('strips a trailing -screen', () => {
    assert.equal(ownerOf('alice-screen'), 'alice');
    assert.equal(ownerOf('alice'), 'alice');
  });

  it('strips -screen only at the end and only once', () => {
    assert.equal(ownerOf('alice-screenx'), 'alice-screenx');
    assert.equal(ownerOf('alice-screen-screen'), 'alice-screen');
    // a bare suffix names no user before it: it is its own user (one rule for server and SDK)
    assert.equal(ownerOf('-screen'), '-screen');
  });
});

describe('checkRoomAndFullId', () => {
  it('accepts a valid room and full id', () => {
    assert.equal(checkRoomAndFullId('myroom', 'alice+x1'), null);
    assert.equal(checkRoomAndFullId('myroom', 'alice'), null);
  });

  it('checks the room first', () => {
    assert.equal(checkRoomAndFullId('', 'a b'), 'room must not be empty');
    assert.equal(checkRoomAndFullId('a.b', 'alice+x1'), "room must not contain '.' (NATS subject separator)");
  });

  it('checks the full id', () => {
    assert.equal(checkRoomAndFullId('r', ''), 'full id must not be empty');
    assert.equal(checkRoomAndFullId('r', 'alice+x.1'), "full id must not contain '.' (NATS subject separator)");
    assert.equal(checkRoomAndFullId('r', `alice+${'x'.repeat(123)}`), 'full id must be at most 128 characters');
  });

  it('rejects a full id whose id part is empty', () => {
    assert.equal(checkRoomAndFullId('r', '+abc'), 'id must not be empty');
    assert.equal(checkRoomAndFullId('r', '+'), 'id must not be empty');
  });
});
