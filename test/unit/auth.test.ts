import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, tokensEqual } from '../../src/signalling/auth.js';

describe('tokensEqual', () => {
  it('is true for equal tokens', () => {
    assert.equal(tokensEqual('s3cret', 's3cret'), true);
    assert.equal(tokensEqual('', ''), true);
  });

  it('is false for different tokens, including prefixes and different lengths', () => {
    assert.equal(tokensEqual('s3cret', 's3creT'), false);
    assert.equal(tokensEqual('s3cre', 's3cret'), false);
    assert.equal(tokensEqual('s3cret', 's3cret '), false);
    assert.equal(tokensEqual('', 's3cret'), false);
    assert.equal(tokensEqual('x'.repeat(1000), 'x'.repeat(999)), false);
  });
});

describe('bearer', () => {
  it('extracts the token of a Bearer header', () => {
    assert.equal(bearer('Bearer abc'), 'abc');
    assert.equal(bearer('Bearer   abc.def-ghi'), 'abc.def-ghi');
    assert.equal(bearer('Bearer abc  '), 'abc');
  });

  it('matches the scheme case-insensitively', () => {
    assert.equal(bearer('bearer abc'), 'abc');
    assert.equal(bearer('BEARER abc'), 'abc');
  });

  it('returns undefined for a missing or empty header', () => {
    assert.equal(bearer(undefined), undefined);
    assert.equal(bearer(''), undefined);
  });

  it('returns undefined for other schemes and malformed values', () => {
    assert.equal(bearer('Basic YWxhZGRpbjpvcGVu'), undefined);
    assert.equal(bearer('Bearer'), undefined);
    assert.equal(bearer('Bearer '), undefined);
    assert.equal(bearer('Bearerabc'), undefined);
    assert.equal(bearer('Bearer abc def'), undefined);
    assert.equal(bearer(' Bearer abc'), undefined);
    assert.equal(bearer('Token abc'), undefined);
  });
});
