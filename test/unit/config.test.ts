import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { buildCommand, ConfigError, envName, legacyEnvNames, legacyEnvSet, parseConfig } from '../../src/config/config.js';

/** Asserts that parseConfig rejects with a commander error whose message names `option`. */
function rejectsOption(argv: string[], env: NodeJS.ProcessEnv, option: string, detail?: string): void {
  assert.throws(
    () => parseConfig(argv, env),
    (err: unknown) => {
      assert.ok(err instanceof CommanderError, `expected CommanderError, got ${String(err)}`);
      assert.equal(err.code, 'commander.invalidArgument');
      assert.match(err.message, new RegExp(`option '${option}[ '<[]`));
      if (detail) assert.ok(err.message.includes(detail), `${JSON.stringify(err.message)} should include ${JSON.stringify(detail)}`);
      return true;
    },
  );
}

function rejectsConfig(argv: string[], env: NodeJS.ProcessEnv, message: string | RegExp): void {
  assert.throws(
    () => parseConfig(argv, env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.equal(err.name, 'ConfigError');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('parseConfig defaults', () => {
  it('gives the documented defaults with no flags and an empty environment', () => {
    assert.deepEqual(parseConfig([], {}), {
      host: '0.0.0.0',
      port: 8443,
      privatePort: 9443,
      privateHost: '127.0.0.1',
      corsDomain: 'localhost',
      auth: false,
      debug: false,
      debugRemoteManagement: false,
      logLevel: 'info',
      maxVideoBitrate: 2_000_000,
      keyframeIntervalMs: 10_000,
      speakerThresholdDbov: -50,
      mediaTimeoutMs: 15_000,
      connectTimeoutMs: 15_000,
      answerTimeoutMs: 15_000,
      sessionTimeoutMs: 86_400_000,
      maxBodyBytes: 131_072,
      requestTimeoutMs: 10_000,
      supervise: false,
      maxPendingSessions: 200,
      postRatePerMinute: 600,
      drainTimeoutMs: 30_000,
      logPretty: false,
    });
  });

  it('--jwt-secret / WEEVER_JWT_SECRET: needs --auth and 32 characters, kept as bytes', () => {
    const secret = 'x'.repeat(32);
    assert.deepEqual(parseConfig(['--auth', '--jwt-secret', secret], {}).jwtSecret, new TextEncoder().encode(secret));
    assert.deepEqual(parseConfig([], { WEEVER_AUTH: 'true', WEEVER_JWT_SECRET: secret }).jwtSecret, new TextEncoder().encode(secret));
    rejectsConfig(['--jwt-secret', secret], {}, /^--jwt-secret needs --auth$/);
    rejectsConfig(['--auth', '--jwt-secret', 'short'], {}, /^--jwt-secret must be at least 32 characters$/);
  });

  it('reads --drain-timeout and DRAIN_TIMEOUT in seconds, 0 allowed', () => {
    assert.equal(parseConfig(['--drain-timeout', '0'], {}).drainTimeoutMs, 0);
    assert.equal(parseConfig([], { WEEVER_DRAIN_TIMEOUT: '120' }).drainTimeoutMs, 120_000);
    rejectsOption(['--drain-timeout', '-1'], {}, '--drain-timeout');
    rejectsOption(['--drain-timeout', '86401'], {}, '--drain-timeout');
  });

  it('does not read the real process environment when given one', () => {
    const saved = process.env.WEEVER_PORT;
    process.env.WEEVER_PORT = '4321';
    try {
      assert.equal(parseConfig([], {}).port, 8443);
      assert.equal(process.env.WEEVER_PORT, '4321');
    } finally {
      if (saved === undefined) delete process.env.WEEVER_PORT;
      else process.env.WEEVER_PORT = saved;
    }
  });

  it('restores process.env even when parsing fails', () => {
    const before = process.env;
    assert.throws(() => parseConfig(['--port', 'abc'], {}));
    assert.equal(process.env, before);
  });
});

describe('parseConfig environment and flags', () => {
  it('falls back to the environment', () => {
    const c = parseConfig([], {
      WEEVER_PORT: '1234',
      WEEVER_PRIVATE_PORT: '1235',
      WEEVER_HOST: '127.0.0.1',
      WEEVER_CORS_DOMAIN: 'example.com',
      WEEVER_AUTH: 'true',
      WEEVER_DEBUG: '1',
      WEEVER_KEYFRAME_INTERVAL: '3',
      POD_NAME: 'pod-7',
    });
    assert.equal(c.port, 1234);
    assert.equal(c.privatePort, 1235);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.corsDomain, 'example.com');
    assert.equal(c.auth, true);
    assert.equal(c.debug, true);
    assert.equal(c.keyframeIntervalMs, 3000);
  });

  it('lets the flag win over the environment', () => {
    const c = parseConfig(['--port', '999', '--host', '::', '--auth', 'false'], {
      WEEVER_PORT: '1234',
      WEEVER_HOST: '127.0.0.1',
      WEEVER_AUTH: 'true',
    });
    assert.equal(c.port, 999);
    assert.equal(c.host, '::');
    assert.equal(c.auth, false);
  });

  it('accepts the --flag=value form', () => {
    assert.equal(parseConfig(['--port=7000'], {}).port, 7000);
  });

  it('converts second-valued options to milliseconds', () => {
    const c = parseConfig(['--keyframe-interval', '0', '--media-timeout', '10', '--session-timeout', '60'], {});
    assert.equal(c.keyframeIntervalMs, 0);
    assert.equal(c.mediaTimeoutMs, 10_000);
    assert.equal(c.sessionTimeoutMs, 60_000);
  });

  it('parses boolean options with and without a value', () => {
    assert.equal(parseConfig(['--auth'], {}).auth, true);
    assert.equal(parseConfig(['--debug'], {}).debug, true);
    for (const v of ['1', 'true', 'YES', 'on']) assert.equal(parseConfig(['--auth', v], {}).auth, true, v);
    for (const v of ['0', 'false', 'No', 'off']) assert.equal(parseConfig(['--auth', v], {}).auth, false, v);
    assert.equal(parseConfig([], { WEEVER_AUTH: '' }).auth, false);
  });

  it('sets optional ICE and network options only when given', () => {
    const c = parseConfig(
      [
        '--stun',
        'stun:stun.example.org:3478',
        '--turn',
        'turns:turn.example.org:5349',
        '--turn-username',
        'u',
        '--turn-password',
        'p',
        '--public-ip',
        '203.0.113.7',
        '--rtc-port-range',
        '40000-40100',
        '--rtc-bind-address',
        '::1',
      ],
      {},
    );
    assert.equal(c.stun, 'stun:stun.example.org:3478');
    assert.deepEqual(c.turn, { urls: ['turns:turn.example.org:5349'], auth: { kind: 'password', username: 'u', credential: 'p' } });
    assert.equal(c.publicIp, '203.0.113.7');
    assert.deepEqual(c.rtcPortRange, { begin: 40000, end: 40100 });
    assert.equal(c.rtcBindAddress, '::1');
    assert.equal(c.rtcUdpPort, undefined);
    assert.equal(c.tls, undefined);
    const d = parseConfig([], { WEEVER_RTC_UDP_PORT: '50000' });
    assert.equal(d.rtcUdpPort, 50000);
    assert.equal(d.rtcPortRange, undefined);
    assert.equal('stun' in d, false);
    assert.equal('turn' in d, false);
    assert.equal('publicIp' in d, false);
  });

  it('accepts a one-port range', () => {
    assert.deepEqual(parseConfig(['--rtc-port-range', '5000-5000'], {}).rtcPortRange, { begin: 5000, end: 5000 });
  });

  it('allows port 0 for both servers (ephemeral ports)', () => {
    const c = parseConfig(['--port', '0', '--private-port', '0'], {});
    assert.equal(c.port, 0);
    assert.equal(c.privatePort, 0);
  });
});

describe('parseConfig bad values', () => {
  it('rejects a non-numeric port, naming --port', () => {
    rejectsOption(['--port', 'abc'], {}, '--port', 'must be an integer from 0 to 65535');
  });

  it('rejects a bad PORT from the environment, naming --port and WEEVER_PORT', () => {
    rejectsOption([], { WEEVER_PORT: 'abc' }, '--port', "from env 'WEEVER_PORT'");
  });

  it('rejects empty, hex, exponent and padded numbers instead of reading them as numbers', () => {
    rejectsOption([], { WEEVER_PORT: '' }, '--port');
    rejectsOption(['--port', '0x50'], {}, '--port');
    rejectsOption(['--port', '1e3'], {}, '--port');
    rejectsOption(['--port', ' 80 '], {}, '--port');
    rejectsOption([], { WEEVER_KEYFRAME_INTERVAL: '' }, '--keyframe-interval');
  });

  it('rejects out-of-range and fractional ports', () => {
    rejectsOption(['--port', '65536'], {}, '--port');
    rejectsOption(['--port', '-1'], {}, '--port');
    rejectsOption(['--private-port', '80.5'], {}, '--private-port');
  });

  it('rejects --private-port equal to --port', () => {
    rejectsConfig(['--port', '9443'], {}, '--private-port must differ from --port');
    rejectsConfig([], { WEEVER_PORT: '5000', WEEVER_PRIVATE_PORT: '5000' }, '--private-port must differ from --port');
  });

  it('rejects a bad boolean', () => {
    rejectsOption(['--auth', 'maybe'], {}, '--auth', 'must be true or false');
    rejectsOption([], { WEEVER_DEBUG: 'sometimes' }, '--debug');
  });

  it('rejects bad IP addresses', () => {
    rejectsOption(['--public-ip', 'example.com'], {}, '--public-ip', 'must be an IPv4 or IPv6 address');
    rejectsOption(['--rtc-bind-address', '1.2.3'], {}, '--rtc-bind-address');
  });

  it('rejects STUN/TURN URLs with the wrong scheme', () => {
    rejectsOption(['--stun', 'turn:x:3478'], {}, '--stun', 'must be a URL like stun:host:port');
    rejectsOption(['--turn', 'stun:x:3478'], {}, '--turn', 'stun:x:3478 is not a URL like turn:host:3478');
    rejectsOption(['--turn', 'turn:x:3478,turn:x:3478?transport=sctp'], {}, '--turn', 'turn:x:3478?transport=sctp is not a URL');
    rejectsOption(['--turn', ' , '], {}, '--turn', 'must list at least one URL');
    rejectsOption(['--stun', 'stun.example.org:3478'], {}, '--stun');
  });

  it('rejects --turn without credentials', () => {
    const need = '--turn needs --turn-secret (short-lived credentials), or --turn-username and --turn-password';
    rejectsConfig(['--turn', 'turn:x:3478'], {}, need);
    rejectsConfig(['--turn', 'turn:x:3478', '--turn-username', 'u'], {}, need);
    rejectsConfig(['--turn-username', 'u', '--turn-password', 'p'], {}, '--turn-username and --turn-password need --turn');
  });

  it('--turn: several URLs (UDP, TCP, TLS on 443, IPv6), comma separated', () => {
    const urls = [
      'turn:turn.example.org:3478',
      'turn:turn.example.org:3478?transport=tcp',
      'turns:turn.example.org:443?transport=tcp',
      'turn:[2001:db8::1]:3478',
    ];
    const c = parseConfig(['--turn', urls.join(', '), '--turn-username', 'u', '--turn-password', 'p'], {});
    assert.deepEqual(c.turn?.urls, urls);
  });

  it('--turn-secret / TURN_SECRET with --turn-ttl: REST API credentials, never with a static password', () => {
    const secret = 'a-long-shared-secret';
    const c = parseConfig(['--turn', 'turn:t:3478', '--turn-secret', secret], {});
    assert.deepEqual(c.turn, { urls: ['turn:t:3478'], auth: { kind: 'secret', secret, ttlSeconds: 86400 } });
    const e = parseConfig([], { WEEVER_TURN: 'turns:t:443?transport=tcp', WEEVER_TURN_SECRET: secret, WEEVER_TURN_TTL: '600' });
    assert.deepEqual(e.turn, { urls: ['turns:t:443?transport=tcp'], auth: { kind: 'secret', secret, ttlSeconds: 600 } });
    const both = /^--turn-secret and --turn-username\/--turn-password exclude each other/;
    rejectsConfig(['--turn', 'turn:t:3478', '--turn-secret', secret, '--turn-password', 'p'], {}, both);
    rejectsConfig(['--turn', 'turn:t:3478', '--turn-secret', secret, '--turn-username', 'u', '--turn-password', 'p'], {}, both);
    rejectsConfig(['--turn-secret', secret], {}, /^--turn-secret needs --turn/);
    rejectsConfig(
      ['--turn', 'turn:t:3478', '--turn-username', 'u', '--turn-password', 'p', '--turn-ttl', '600'],
      {},
      /^--turn-ttl needs --turn-secret/,
    );
    rejectsConfig([], { WEEVER_TURN_TTL: '600' }, /^--turn-ttl needs --turn-secret/);
    rejectsConfig(['--turn', 'turn:t:3478', '--turn-secret', 'short'], {}, '--turn-secret must be at least 16 characters');
    rejectsOption(['--turn', 'turn:t:3478', '--turn-secret', secret, '--turn-ttl', '59'], {}, '--turn-ttl');
    // no message names the secret
    for (const argv of [
      ['--turn-secret', secret],
      ['--turn', 'turn:t:3478', '--turn-secret', secret, '--turn-password', 'p'],
    ]) {
      assert.throws(
        () => parseConfig(argv, {}),
        (err: Error) => !err.message.includes(secret),
      );
    }
  });

  it('rejects an inverted, zero-based or malformed --rtc-port-range', () => {
    rejectsOption(['--rtc-port-range', '5-1'], {}, '--rtc-port-range', 'must be a non-empty range of ports above 0');
    rejectsOption(['--rtc-port-range', '0-10'], {}, '--rtc-port-range', 'must be a non-empty range of ports above 0');
    rejectsOption(['--rtc-port-range', '40000'], {}, '--rtc-port-range', 'must look like 40000-40100');
    rejectsOption(['--rtc-port-range', '1-70000'], {}, '--rtc-port-range', 'must be an integer from 0 to 65535');
  });

  it('rejects --rtc-port-range together with --rtc-udp-port', () => {
    rejectsConfig(
      ['--rtc-port-range', '40000-40100', '--rtc-udp-port', '50000'],
      {},
      '--rtc-port-range and --rtc-udp-port exclude each other',
    );
  });

  it('rejects --rtc-udp-port 0', () => {
    rejectsOption(['--rtc-udp-port', '0'], {}, '--rtc-udp-port', 'must be an integer from 1 to 65535');
  });

  it('rejects out-of-range numeric options', () => {
    rejectsOption(['--max-video-bitrate', '99999'], {}, '--max-video-bitrate');
    rejectsOption(['--keyframe-interval', '3601'], {}, '--keyframe-interval');
    rejectsOption(['--media-timeout', '1'], {}, '--media-timeout');
    rejectsOption(['--session-timeout', '9'], {}, '--session-timeout');
    rejectsOption(['--max-body', '1023'], {}, '--max-body');
  });

  it('accepts redis:// and rediss:// URLs from --redis or WEEVER_REDIS (flag wins)', () => {
    assert.equal(parseConfig(['--redis', 'redis://127.0.0.1:6379'], {}).redis, 'redis://127.0.0.1:6379');
    assert.equal(parseConfig([], { WEEVER_REDIS: 'rediss://:pw@cache.example:6380/2' }).redis, 'rediss://:pw@cache.example:6380/2');
    assert.equal(parseConfig(['--redis', 'redis://a:1'], { WEEVER_REDIS: 'redis://b:2' }).redis, 'redis://a:1');
    assert.equal(parseConfig([], {}).redis, undefined);
  });

  it('rejects a --redis value that is not a Redis URL', () => {
    rejectsOption(['--redis', 'x'], {}, '--redis');
    rejectsOption(['--redis', 'http://localhost:6379'], {}, '--redis');
    rejectsOption([], { WEEVER_REDIS: 'localhost:6379' }, '--redis');
  });

  it('splits --nats into URLs, own node first, and rejects malformed ones', () => {
    assert.deepEqual(parseConfig(['--nats', 'nats://127.0.0.1:4222, nats://127.0.0.1:4223,host-c:4224'], {}).nats, [
      'nats://127.0.0.1:4222',
      'nats://127.0.0.1:4223',
      'host-c:4224',
    ]);
    assert.deepEqual(parseConfig([], { WEEVER_NATS: 'tls://user:pw@nats.example:4222' }).nats, ['tls://user:pw@nats.example:4222']);
    assert.equal(parseConfig([], {}).nats, undefined);
    rejectsOption(['--nats', ','], {}, '--nats');
    rejectsOption(['--nats', 'http://x:4222'], {}, '--nats');
    rejectsOption(['--nats', 'nats://x:99999'], {}, '--nats');
    rejectsOption(['--nats', 'nats://a b:4222'], {}, '--nats');
  });

  it('rejects unknown options and stray arguments', () => {
    assert.throws(
      () => parseConfig(['--bogus'], {}),
      (err: unknown) => err instanceof CommanderError && err.code === 'commander.unknownOption' && err.message.includes("'--bogus'"),
    );
    assert.throws(
      () => parseConfig(['extra'], {}),
      (err: unknown) => err instanceof CommanderError && err.code === 'commander.excessArguments',
    );
  });
});

describe('parseConfig TLS files', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let otherKey: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weever-config-test-'));
    cert = join(dir, 'cert.pem');
    key = join(dir, 'key.pem');
    otherKey = join(dir, 'other-key.pem');
    // a real self-signed pair (Debian's openssl), and a key that belongs to no certificate
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
      {
        stdio: 'ignore',
      },
    );
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', otherKey], { stdio: 'ignore' });
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads both files', () => {
    const c = parseConfig(['--cert-file', cert, '--key-file', key], {});
    assert.deepEqual(c.tls, { cert: readFileSync(cert), key: readFileSync(key) });
  });

  it('reads them from WEEVER_CERT_FILE / WEEVER_KEY_FILE', () => {
    const c = parseConfig([], { WEEVER_CERT_FILE: cert, WEEVER_KEY_FILE: key });
    assert.match(c.tls!.cert.toString(), /^-----BEGIN CERTIFICATE-----/);
    assert.match(c.tls!.key.toString(), /^-----BEGIN PRIVATE KEY-----/);
  });

  it('names the option when a file is not PEM, or the key does not match the certificate', () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a pem file');
    rejectsConfig(['--cert-file', garbage, '--key-file', key], {}, `--cert-file: ${garbage} is not a PEM certificate`);
    rejectsConfig(['--cert-file', cert, '--key-file', garbage], {}, `--key-file: ${garbage} is not a PEM private key (unencrypted)`);
    rejectsConfig(['--cert-file', key, '--key-file', cert], {}, `--cert-file: ${key} is not a PEM certificate`);
    rejectsConfig(
      ['--cert-file', cert, '--key-file', otherKey],
      {},
      `--key-file: ${otherKey} does not match the certificate of --cert-file`,
    );
  });

  it('rejects --cert-file without --key-file and the other way round', () => {
    rejectsConfig(['--cert-file', cert], {}, '--cert-file and --key-file must be given together');
    rejectsConfig(['--key-file', key], {}, '--cert-file and --key-file must be given together');
  });

  it('names --cert-file when the certificate cannot be read', () => {
    const missing = join(dir, 'missing.pem');
    rejectsConfig(['--cert-file', missing, '--key-file', key], {}, `--cert-file: cannot read ${missing}: ENOENT`);
  });

  it('names --key-file when the key cannot be read', () => {
    rejectsConfig(['--cert-file', cert, '--key-file', dir], {}, `--key-file: cannot read ${dir}: EISDIR`);
  });
});

describe('parseConfig: config file, WEEVER_ environment, precedence', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weever-config-file-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads the YAML file named by --config or WEEVER_CONFIG: kebab-case keys, lists, booleans', () => {
    const path = file(
      'all.yaml',
      'port: 7000\nprivate-port: 7001\ncors-domain: example.org\ndebug: true\nnats:\n  - nats://a:4222\n  - nats://b:4222\nlog-level: warn\n',
    );
    for (const c of [parseConfig(['--config', path], {}), parseConfig([], { WEEVER_CONFIG: path })]) {
      assert.equal(c.port, 7000);
      assert.equal(c.privatePort, 7001);
      assert.equal(c.corsDomain, 'example.org');
      assert.equal(c.debug, true);
      assert.deepEqual(c.nats, ['nats://a:4222', 'nats://b:4222']);
      assert.equal(c.logLevel, 'warn');
    }
    assert.equal(parseConfig(['--config', file('empty.yaml', '')], {}).port, 8443);
  });

  it('precedence: flag > environment > file > default', () => {
    const path = file('prec.yaml', 'port: 7000\nprivate-port: 7001\nmax-pending: 50\n');
    const c = parseConfig(['--config', path, '--port', '7100'], { WEEVER_PORT: '7200', WEEVER_PRIVATE_PORT: '7201' });
    assert.equal(c.port, 7100, 'flag over env and file');
    assert.equal(c.privatePort, 7201, 'env over file');
    assert.equal(c.maxPendingSessions, 50, 'file over default');
    assert.equal(c.postRatePerMinute, 600, 'default when nobody says');
  });

  it('an invalid file value names the key, the file and what is allowed', () => {
    const path = file('bad-port.yaml', 'port: "abc"\n');
    rejectsConfig(['--config', path], {}, `port: "abc" in ${path}: must be an integer from 0 to 65535`);
    const range = file('bad-range.yaml', 'rtc-port-range: 5-1\n');
    rejectsConfig(['--config', range], {}, `rtc-port-range: "5-1" in ${range}: must be a non-empty range of ports above 0`);
    const level = file('bad-level.yaml', 'log-level: loud\n');
    rejectsConfig(['--config', level], {}, /^log-level: "loud" in .*bad-level\.yaml: Allowed choices are fatal, error/);
    const map = file('bad-map.yaml', 'port:\n  a: 1\n');
    rejectsConfig(['--config', map], {}, /^port: \{"a":1\} in .*bad-map\.yaml: must be a string, number, boolean or list/);
    // the flag wins, so the file's value is never read
    assert.equal(parseConfig(['--config', path, '--port', '1'], {}).port, 1);
  });

  it('rejects unknown keys, naming the key and the file (and the kebab-case spelling of a camelCase key)', () => {
    const path = file('unknown.yaml', 'port: 1\nfrobnicate: 2\n');
    rejectsConfig(['--config', path], {}, new RegExp(`^frobnicate: unknown key in ${path}`));
    const camel = file('camel.yaml', 'privatePort: 1\n');
    rejectsConfig(['--config', camel], {}, /^privatePort: unknown key in .*camel\.yaml \(did you mean private-port\?\)/);
    rejectsConfig(['--config', file('self.yaml', 'config: other.yaml\n')], {}, /^config: unknown key/);
  });

  it('a missing file, bad YAML or a non-mapping is a clear error', () => {
    rejectsConfig(['--config', join(dir, 'nope.yaml')], {}, /^--config: cannot read .*nope\.yaml: ENOENT$/);
    rejectsConfig(['--config', file('broken.yaml', 'port: [1,\n')], {}, /^--config: .*broken\.yaml is not valid YAML: /);
    rejectsConfig(['--config', file('list.yaml', '- 1\n- 2\n')], {}, /^--config: .*list\.yaml must be a mapping of option: value$/);
  });

  it('secrets may come from the file and are never quoted in an error', () => {
    const secret = 's3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t!';
    const ok = file('jwt.yaml', `auth: true\njwt-secret: ${secret}\n`);
    assert.deepEqual(parseConfig(['--config', ok], {}).jwtSecret, new TextEncoder().encode(secret));
    const turn = file('turn.yaml', `turn: [turn:t.example:3478]\nturn-secret: ${secret}\n`);
    assert.deepEqual(parseConfig(['--config', turn], {}).turn?.auth, { kind: 'secret', secret, ttlSeconds: 86400 });
    const bad = file('jwt-map.yaml', `jwt-secret: { v: ${secret} }\n`);
    assert.throws(
      () => parseConfig(['--config', bad], {}),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith('jwt-secret: in ') && !err.message.includes(secret),
    );
    const badRedis = file('redis.yaml', 'redis: "ftp://:hunter2@x"\n');
    assert.throws(
      () => parseConfig(['--config', badRedis], {}),
      (err: unknown) => err instanceof ConfigError && err.message.includes('redis:// or rediss://') && !err.message.includes('hunter2'),
    );
  });

  it('old unprefixed variables are not read; legacyEnvSet names them with their new names, never a value', () => {
    const env = { PORT: '1234', DEBUG: '*', LOG_LEVEL: 'debug', JWT_SECRET: 'x'.repeat(40), PATH: '/bin' };
    const c = parseConfig([], env);
    assert.equal(c.port, 8443);
    assert.equal(c.debug, false);
    assert.deepEqual(
      legacyEnvSet(env).sort((a, b) => a.old.localeCompare(b.old)),
      [
        { old: 'DEBUG', new: 'WEEVER_DEBUG' },
        { old: 'JWT_SECRET', new: 'WEEVER_JWT_SECRET' },
        { old: 'LOG_LEVEL', new: 'WEEVER_LOG_LEVEL' },
        { old: 'PORT', new: 'WEEVER_PORT' },
      ],
    );
    assert.deepEqual(legacyEnvSet({ WEEVER_PORT: '1', PATH: '/bin' }), []);
  });

  it('every option has exactly one WEEVER_ variable derived from its flag', () => {
    for (const o of buildCommand().options) {
      if (o.long === '--version') continue;
      assert.equal(o.envVar, envName(o.long!), o.long);
      assert.match(o.envVar!, /^WEEVER_[A-Z0-9_]+$/);
    }
    assert.equal(envName('--private-port'), 'WEEVER_PRIVATE_PORT');
  });

  it('--log-level / WEEVER_LOG_LEVEL: one of the pino levels', () => {
    assert.equal(parseConfig([], { WEEVER_LOG_LEVEL: 'debug' }).logLevel, 'debug');
    assert.equal(parseConfig(['--log-level', 'silent'], {}).logLevel, 'silent');
    assert.throws(() => parseConfig(['--log-level', 'loud'], {}), /Allowed choices are fatal, error, warn, info, debug, trace, silent/);
  });

  it('--debug-remote-management needs --debug and is off by default', () => {
    assert.equal(parseConfig(['--debug'], {}).debugRemoteManagement, false);
    assert.equal(parseConfig(['--debug', '--debug-remote-management'], {}).debugRemoteManagement, true);
    rejectsConfig(['--debug-remote-management'], {}, '--debug-remote-management needs --debug');
  });
});

describe('the migration list of old environment names', () => {
  it('maps each old name to an option that still exists', () => {
    const current = new Set(buildCommand().options.map((o) => o.envVar));
    for (const [old, now] of legacyEnvNames()) {
      assert.equal(now, `WEEVER_${old}`);
      assert.ok(current.has(now), `${old} → ${now} names no option`);
    }
  });
});
