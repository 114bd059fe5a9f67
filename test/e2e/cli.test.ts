import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, waitFor } from './harness.js';

const ROOT = join(dirname(CLI), '..', '..');

const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10_000 });

describe('command line', () => {
  it('--help lists every option with its environment variable and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const [flag, env] of [
      ['--host', 'HOST'],
      ['--port', 'PORT'],
      ['--private-port', 'PRIVATE_PORT'],
      ['--cors-domain', 'CORS_DOMAIN'],
      ['--stun', 'STUN'],
      ['--turn', 'TURN'],
      ['--turn-username', 'TURN_USERNAME'],
      ['--turn-password', 'TURN_PASSWORD'],
      ['--cert-file', 'CERT_FILE'],
      ['--key-file', 'KEY_FILE'],
      ['--public-ip', 'PUBLIC_IP'],
      ['--auth', 'AUTH'],
      ['--debug', 'DEBUG'],
      ['--redis', 'REDIS'],
      ['--nats', 'NATS'],
      ['--max-video-bitrate', 'MAX_VIDEO_BITRATE'],
      ['--keyframe-interval', 'KEYFRAME_INTERVAL'],
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

  it('the private API listens on loopback unless --private-host / PRIVATE_HOST says otherwise', async () => {
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
    assert.deepEqual(await bound([], { PRIVATE_HOST: '0.0.0.0' }), { public: '0.0.0.0', private: '0.0.0.0' });
  });

  it('a bad value stops the start with a message naming the option (flag and environment)', () => {
    const flag = run(['--port', 'abc']);
    assert.notEqual(flag.status, 0);
    assert.match(flag.stderr, /--port/);
    const env = run([], { PRIVATE_PORT: '70000' });
    assert.notEqual(env.status, 0);
    assert.match(env.stderr, /--private-port/);
    const missing = run(['--cert-file', '/nonexistent.pem', '--key-file', '/nonexistent.key']);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /--cert-file: cannot read \/nonexistent\.pem/);
  });
});
