import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/config.js';

const SECRET = 's'.repeat(32);

describe('webhook options', () => {
  it('URLs (comma separated, flag or env) with a secret of at least 32 characters', () => {
    assert.deepEqual(
      parseConfig(['--webhook-url', 'http://127.0.0.1:8080/a, https://hooks.example/b', '--webhook-secret', SECRET], {}).webhooks,
      {
        urls: ['http://127.0.0.1:8080/a', 'https://hooks.example/b'],
        secret: SECRET,
      },
    );
    assert.deepEqual(parseConfig([], { WEEVER_WEBHOOK_URL: 'http://h/x', WEEVER_WEBHOOK_SECRET: SECRET }).webhooks, {
      urls: ['http://h/x'],
      secret: SECRET,
    });
    assert.equal(parseConfig([], {}).webhooks, undefined);
  });

  it('refuses a URL without a secret, a short secret, a secret alone and a non-http URL', () => {
    assert.throws(
      () => parseConfig(['--webhook-url', 'http://h/x'], {}),
      (e: Error) => e instanceof ConfigError && /needs --webhook-secret/.test(e.message),
    );
    assert.throws(() => parseConfig(['--webhook-url', 'http://h/x', '--webhook-secret', 'short'], {}), /at least 32 characters/);
    assert.throws(() => parseConfig(['--webhook-secret', SECRET], {}), /needs --webhook-url/);
    assert.throws(() => parseConfig(['--webhook-url', 'ftp://h/x', '--webhook-secret', SECRET], {}), /http or https/);
    assert.throws(() => parseConfig(['--webhook-url', 'not a url', '--webhook-secret', SECRET], {}), /is not a URL/);
  });
});
