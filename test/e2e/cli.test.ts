import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, waitFor } from './harness.js';

const ROOT = join(dirname(CLI), '..', '..');

/** Starts the CLI, waits for its listening line; returns it (parsed), every stdout line so far, and a stop. */
async function started(args: string[], env: NodeJS.ProcessEnv) {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGINT');
      await once(proc, 'exit');
    }
  };
  try {
    const line = await waitFor(
      'the listening line',
      () => {
        if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode}: ${err}`);
        return out.split('\n').find((l) => l.includes('weever-streaming listening'));
      },
      20_000,
    );
    return { listening: JSON.parse(line) as { public: string; private: string }, lines: () => out.split('\n'), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10_000 });

describe('command line', () => {
  it('--help lists every option with its WEEVER_ environment variable and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const [flag, env] of [
      ['--config', 'WEEVER_CONFIG'],
      ['--log-level', 'WEEVER_LOG_LEVEL'],
      ['--debug-remote-management', 'WEEVER_DEBUG_REMOTE_MANAGEMENT'],
      ['--host', 'WEEVER_HOST'],
      ['--port', 'WEEVER_PORT'],
      ['--private-port', 'WEEVER_PRIVATE_PORT'],
      ['--cors-domain', 'WEEVER_CORS_DOMAIN'],
      ['--stun', 'WEEVER_STUN'],
      ['--turn', 'WEEVER_TURN'],
      ['--turn-username', 'WEEVER_TURN_USERNAME'],
      ['--turn-password', 'WEEVER_TURN_PASSWORD'],
      ['--cert-file', 'WEEVER_CERT_FILE'],
      ['--key-file', 'WEEVER_KEY_FILE'],
      ['--public-ip', 'WEEVER_PUBLIC_IP'],
      ['--auth', 'WEEVER_AUTH'],
      ['--debug', 'WEEVER_DEBUG'],
      ['--redis', 'WEEVER_REDIS'],
      ['--nats', 'WEEVER_NATS'],
      ['--max-video-bitrate', 'WEEVER_MAX_VIDEO_BITRATE'],
      ['--keyframe-interval', 'WEEVER_KEYFRAME_INTERVAL'],
    ]) {
      assert.match(r.stdout, new RegExp(`${flag}\\b[\\s\\S]*?env:\\s+${env}\\)`), flag);
    }
  });

  it('--log-pretty prints human-readable lines instead of JSON', async () => {
    const proc = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', '--private-port', '0', '--log-pretty'], {
      env: { PATH: process.env.PATH, WEEVER_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor('the listening line', () => out.includes('weever-streaming listening'), 10_000);
    proc.kill('SIGINT');
    await once(proc, 'exit');
    const line = out.split('\n').find((l) => l.includes('weever-streaming listening'))!;
    assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: weever-streaming listening/);
    assert.throws(() => JSON.parse(line));
  });

  it('the README documents exactly the options --help lists', () => {
    const help = run(['--help'], { COLUMNS: '80' });
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- options:begin[^\n]*-->\n```text\n([\s\S]*?)\n```\n<!-- options:end -->/.exec(readme);
    assert.ok(block, 'README.md has the options block');
    assert.equal(block[1], help.stdout.trimEnd(), 'README options differ from --help: run `node scripts/sync-readme-options.mjs`');
  });

  it('the private API listens on loopback unless --private-host / WEEVER_PRIVATE_HOST says otherwise', async () => {
    /** The local addresses the process's two listening TCP sockets are bound to, as `ss` sees them. */
    const bound = async (args: string[], env: Record<string, string> = {}) => {
      const proc = spawn(process.execPath, [CLI, '--port', '0', '--private-port', '0', ...args], {
        env: { PATH: process.env.PATH, WEEVER_LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      try {
        await waitFor('the listening line', () => out.includes('weever-streaming listening'), 10_000);
        const line = JSON.parse(out.split('\n').find((l) => l.includes('weever-streaming listening'))!) as {
          public: string;
          private: string;
        };
        const ss = execFileSync('ss', ['-Hltn']).toString();
        const addressOf = (url: string) => {
          const port = new URL(url).port;
          return ss
            .split('\n')
            .map((l) => l.trim().split(/\s+/)[3] ?? '')
            .find((local) => local.endsWith(`:${port}`))
            ?.slice(0, -(port.length + 1));
        };
        return { public: addressOf(line.public), private: addressOf(line.private) };
      } finally {
        proc.kill('SIGINT');
        await once(proc, 'exit');
      }
    };
    assert.deepEqual(await bound([]), { public: '0.0.0.0', private: '127.0.0.1' });
    assert.deepEqual(await bound(['--private-host', '0.0.0.0']), { public: '0.0.0.0', private: '0.0.0.0' });
    assert.deepEqual(await bound([], { WEEVER_PRIVATE_HOST: '0.0.0.0' }), { public: '0.0.0.0', private: '0.0.0.0' });
  });

  it('a bad value stops the start with a message naming the option (flag and environment)', () => {
    const flag = run(['--port', 'abc']);
    assert.notEqual(flag.status, 0);
    assert.match(flag.stderr, /--port/);
    const env = run([], { WEEVER_PRIVATE_PORT: '70000' });
    assert.notEqual(env.status, 0);
    assert.match(env.stderr, /--private-port/);
    assert.match(env.stderr, /from env 'WEEVER_PRIVATE_PORT'/);
    // a refused value that may hold a password is not echoed
    const redis = run([], { WEEVER_REDIS: 'ftp://:hunter2@cache' });
    assert.equal(redis.status, 1);
    assert.match(
      redis.stderr,
      /--redis <url>' value '<redacted>' from env 'WEEVER_REDIS' is invalid\. must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    assert.doesNotMatch(redis.stderr + redis.stdout, /hunter2/);
    const nats = run(['--nats=nats://u:hunter2@x:99999']);
    assert.notEqual(nats.status, 0);
    assert.match(nats.stderr, /--nats <urls>/);
    assert.doesNotMatch(nats.stderr + nats.stdout, /hunter2/);
    const missing = run(['--cert-file', '/nonexistent.pem', '--key-file', '/nonexistent.key']);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /--cert-file: cannot read \/nonexistent\.pem/);
  });

  it('--version prints the package version', () => {
    const r = run(['--version']);
    assert.equal(r.status, 0);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  it('DEBUG=* and other old unprefixed variables do not stop the README first command; one warning names the new names, no value', async () => {
    const secret = 'legacy-secret-that-must-never-be-logged-0123456789';
    const s = await started(['--debug', '--supervise', '--host', '127.0.0.1', '--port', '0', '--private-port', '0'], {
      WEEVER_LOG_LEVEL: 'info',
      DEBUG: '*',
      PORT: '1', // would fail to bind (not root) if it were still read
      JWT_SECRET: secret,
    });
    try {
      const sdk = await fetch(`${s.listening.public}/sdk/weever.js`);
      assert.equal(sdk.status, 200);
      await sdk.arrayBuffer();
      assert.notEqual(new URL(s.listening.public).port, '1');
      const warnings = s.lines().filter((l) => l.includes('without the WEEVER_ prefix are not read'));
      assert.equal(warnings.length, 1, warnings.join('\n'));
      const w = JSON.parse(warnings[0]!) as { level: number; ignored: string[]; use: string[] };
      assert.equal(w.level, 40, 'a warning');
      assert.deepEqual(w.ignored.sort(), ['DEBUG', 'JWT_SECRET', 'PORT']);
      assert.deepEqual(w.use.sort(), ['WEEVER_DEBUG', 'WEEVER_JWT_SECRET', 'WEEVER_PORT']);
      assert.ok(!s.lines().join('\n').includes(secret), 'the value of an old variable is never logged');
    } finally {
      await s.stop();
    }
  });

  it('a config file, an environment variable and a flag: flag > env > file > default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weever-cli-config-'));
    try {
      const file = join(dir, 'weever.yaml');
      // Each layer that must lose holds a value that could not start (ports 1-3 need root) or would hide the listening line.
      writeFileSync(file, 'host: 127.0.0.1\nport: 1\nprivate-port: 2\nlog-level: error\n');
      const s = await started(['--private-port', '0', '--log-level', 'info'], {
        WEEVER_CONFIG: file,
        WEEVER_PORT: '0', // env over the file's 1
        WEEVER_PRIVATE_PORT: '3', // the flag's 0 over env
        WEEVER_LOG_LEVEL: 'silent', // the flag's info over env: the listening line shows
      });
      try {
        assert.equal(new URL(s.listening.public).hostname, '127.0.0.1', 'the file gives host (default 0.0.0.0)');
        assert.ok(Number(new URL(s.listening.public).port) > 3);
        assert.ok(Number(new URL(s.listening.private).port) > 3);
      } finally {
        await s.stop();
      }
      // An invalid file value names the key, the file and what is allowed; the process exits 2.
      writeFileSync(file, 'port: "abc"\n');
      const bad = run(['--config', file]);
      assert.equal(bad.status, 2);
      assert.equal(bad.stderr, `error: port: "abc" in ${file}: must be an integer from 0 to 65535\n`);
      writeFileSync(file, 'prot: 1\n');
      const unknown = run([], { WEEVER_CONFIG: file });
      assert.equal(unknown.status, 2);
      assert.match(unknown.stderr, new RegExp(`^error: prot: unknown key in ${file}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
