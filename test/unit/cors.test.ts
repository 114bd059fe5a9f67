import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { corsAllows } from '../../src/signalling/cors.js';

describe('corsAllows', () => {
  const table: [origin: string, domain: string, allowed: boolean][] = [
    ['http://localhost:3000', 'example.com', true],
    ['https://localhost', 'example.com', true],
    ['http://localhost', 'localhost', true],
    ['https://app.example.com', 'example.com', true],
    ['https://a.b.example.com:8443', 'example.com', true],
    ['http://app.example.com', 'example.com', true],
    ['https://APP.EXAMPLE.COM', 'example.com', true],
    ['https://app.example.com', 'Example.COM', true],
    ['https://example.com', 'example.com', false],
    ['https://example.com.evil.org', 'example.com', false],
    ['https://evilexample.com', 'example.com', false],
    ['https://app.example.com.evil.org', 'example.com', false],
    ['http://localhost.evil.org', 'example.com', false],
    ['http://127.0.0.1:3000', 'example.com', false],
    ['garbage', 'example.com', false],
    ['', 'example.com', false],
    ['null', 'example.com', false],
    ['//app.example.com', 'example.com', false],
  ];
  for (const [origin, domain, allowed] of table) {
    it(`${JSON.stringify(origin)} with domain ${domain} → ${allowed}`, () => {
      assert.equal(corsAllows(origin, domain), allowed);
    });
  }
});
