import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLocalHostHeader, isLoopback } from '../../src/signalling/loopback-only.js';

describe('loopback-only guard', () => {
  it('isLoopback: 127.0.0.0/8, ::1 and IPv4-mapped 127.x only', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of [undefined, '', '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', '::', '0.0.0.0', 'fe80::1', '128.0.0.1', 'localhost']) {
      assert.equal(isLoopback(a), false, String(a));
    }
  });

  it('isLocalHostHeader: localhost names and IP literals, not a DNS name (rebinding)', () => {
    for (const h of ['localhost', 'localhost:8443', 'demo.localhost:1', '127.0.0.1:8443', '[::1]:8443', '[::1]', '10.1.2.3']) {
      assert.equal(isLocalHostHeader(h), true, h);
    }
    for (const h of [undefined, '', 'evil.example', 'evil.example:8443', 'localhost.evil.example', '127.0.0.1.nip.io']) {
      assert.equal(isLocalHostHeader(h), false, String(h));
    }
  });
});
