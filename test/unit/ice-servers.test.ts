/**
 * ICE servers handed to clients (docs/protocol.md, "ICE servers"): TURN REST API
 * credentials derived exactly as coturn checks them, fresh per call, and the long-term
 * secret never in the output (JSON or Link headers).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { TurnConfig } from '../../src/config/config.js';
import { iceLinks, iceServersFor, turnRestCredentials } from '../../src/signalling/ice-servers.js';

const SECRET = 'north-wind-secret-0123';

describe('turnRestCredentials', () => {
  it('matches a fixed vector: base64(HMAC-SHA1(secret, "<expiry>:<id>"))', () => {
    // printf %s "1700000000:alice" | openssl dgst -sha1 -hmac "north-wind-secret-0123" -binary | base64
    assert.deepEqual(turnRestCredentials(SECRET, 1_700_000_000, 'alice'), {
      username: '1700000000:alice',
      credential: 's0SQRI+SV6HZXj/zo4FG30PZScY=',
    });
  });

  it('matches openssl for another secret and username', () => {
    const secret = 'Another secret: with spaces & symbols!';
    const { username, credential } = turnRestCredentials(secret, 2_000_000_000, '9f86d081884c7d65');
    const hmac = execFileSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-binary'], { input: username });
    assert.equal(credential, hmac.toString('base64'));
  });
});

describe('iceServersFor', () => {
  const urls = ['turn:turn.example.org:3478', 'turn:turn.example.org:3478?transport=tcp', 'turns:turn.example.org:443?transport=tcp'];
  const secretTurn: TurnConfig = { urls, auth: { kind: 'secret', secret: SECRET, ttlSeconds: 3600 } };

  it('nothing configured: an empty list and no Link header', () => {
    assert.deepEqual(iceServersFor({}), []);
    assert.deepEqual(iceLinks([]), []);
  });

  it('--turn-secret: every URL with a username expiring --turn-ttl from now and its HMAC; fresh per call; no secret anywhere', () => {
    const now = Date.UTC(2026, 0, 1);
    const servers = iceServersFor({ stun: 'stun:stun.example.org:3478', turn: secretTurn }, now);
    assert.equal(servers.length, 2);
    assert.deepEqual(servers[0], { urls: ['stun:stun.example.org:3478'] });
    const turn = servers[1]!;
    assert.deepEqual(turn.urls, urls);
    const m = /^(\d+):([0-9a-f]{16})$/.exec(turn.username!);
    assert.ok(m, turn.username);
    assert.equal(Number(m[1]), now / 1000 + 3600);
    assert.deepEqual(turnRestCredentials(SECRET, Number(m[1]), m[2]!), { username: turn.username, credential: turn.credential });
    const again = iceServersFor({ turn: secretTurn }, now)[0]!;
    assert.notEqual(again.username, turn.username, 'each call mints its own username');

    const links = iceLinks(servers);
    assert.deepEqual(links, [
      '<stun:stun.example.org:3478>; rel="ice-server"',
      ...urls.map(
        (u) => `<${u}>; rel="ice-server"; username="${turn.username}"; credential="${turn.credential}"; credential-type="password"`,
      ),
    ]);
    const out = JSON.stringify(servers) + links.join('\n');
    assert.ok(!out.includes(SECRET), 'the secret must not leave the server');
    assert.ok(!out.includes(Buffer.from(SECRET).toString('base64')), 'not even base64-encoded');
  });

  it('long-term credentials (--turn-username/--turn-password) are served as configured, quoted in Link', () => {
    const servers = iceServersFor({ turn: { urls: ['turn:t:3478'], auth: { kind: 'password', username: 'u"x', credential: 'p\\' } } });
    assert.deepEqual(servers, [{ urls: ['turn:t:3478'], username: 'u"x', credential: 'p\\' }]);
    assert.deepEqual(iceLinks(servers), [
      '<turn:t:3478>; rel="ice-server"; username="u\\"x"; credential="p\\\\"; credential-type="password"',
    ]);
  });
});
