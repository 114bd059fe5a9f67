/**
 * The container image (issue 22): `npm run image` builds it with no daemon, `umoci unpack`
 * makes an OCI bundle, `runc` runs it; a publisher and a subscriber of the load tool get
 * media through the container's ports, and SIGTERM drains it: readiness 503 while the
 * peers stay, exit 0 once they left. Needs root (mmdebstrap, runc), like the loss tests.
 *
 * The container shares the host's network namespace (no bridge to set up), so the test
 * appends flags that bind both APIs and ICE to 127.0.0.1 on free ports (the last of a flag
 * wins over the image's `--host 0.0.0.0 --private-host 0.0.0.0`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, waitFor } from './harness.js';

const LOAD_CLI = join(ROOT, 'packages', 'load', 'dist', 'src', 'cli.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const APP_UID = 10001;

/** What the test reads of the load tool's --json report. */
interface LoadReport {
  failures: unknown[];
  subscribers: { connected: number };
  tracks?: { subscriber: string; kind: 'audio' | 'video'; packets: number }[];
}

/** Runs a command to its end (killed after `ms`); its output, asserting exit 0. */
async function run(cmd: string, args: string[], ms: number): Promise<{ stdout: string; stderr: string }> {
  const proc = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  const [code, signal] = (await once(proc, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(code, 0, `${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${stderr}`);
  return { stdout, stderr };
}

/** One load-tool run (1 publisher, 1 subscriber, VP8 + Opus) against the container. */
async function load(publicUrl: string, privateUrl: string, room: string, seconds: number): Promise<LoadReport> {
  const args = ['--url', publicUrl, '--private-url', privateUrl, '--room', room, '--duration', String(seconds), '--json'];
  const { stdout } = await run(process.execPath, [LOAD_CLI, ...args], 60_000);
  return JSON.parse(stdout.trim()) as LoadReport;
}

function assertMedia(r: LoadReport): void {
  assert.deepEqual(r.failures, []);
  assert.equal(r.subscribers.connected, 1);
  for (const kind of ['audio', 'video'] as const) {
    const t = r.tracks?.find((x) => x.kind === kind);
    assert.ok(t && t.packets > 0, `the subscriber received ${kind}: ${JSON.stringify(r.tracks)}`);
  }
}

describe('container image (npm run image, runc)', { timeout: 360_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weever-image-test-'));
  const bundle = join(dir, 'bundle');
  const runcRoot = join(dir, 'runc'); // runc's state of this test only, not /run/runc
  const id = `weever-image-test-${process.pid}`;
  const runc = (...args: string[]) => spawnSync('runc', ['--root', runcRoot, ...args], { encoding: 'utf8', timeout: 30_000 });
  let container: ChildProcess | undefined;
  let exited: Promise<[number | null, string | null]> | undefined;
  let logs = '';
  let publicUrl = '';
  let privateUrl = '';

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'this test needs root (mmdebstrap, umoci, runc)');
    const t0 = Date.now();
    // the suite has just built dist/ (rebuilding it here would pull it from under the test runner)
    const { stderr } = await run('npm', ['run', '-s', 'image', '--', '--no-build'], 300_000);
    const size = /(\d+) MB compressed/.exec(stderr);
    assert.ok(size, stderr);
    process.stderr.write(`image built in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${size[1]} MB compressed\n`);
    await run('umoci', ['unpack', '--image', `build/image/oci:${VERSION}`, bundle], 120_000);

    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as {
      process: { terminal: boolean; user: { uid: number }; args: string[] };
      linux: { namespaces: { type: string }[] };
    };
    // what the image says (umoci turned the OCI config into this runtime config)
    assert.equal(config.process.user.uid, APP_UID, 'runs as the non-root user');
    assert.deepEqual(config.process.args.slice(0, 2), ['node', 'dist/src/cli.js']);
    config.process.terminal = false; // our pipes are its stdout and stderr
    config.linux.namespaces = config.linux.namespaces.filter((ns) => ns.type !== 'network');
    config.process.args.push(
      ...['--host', '127.0.0.1', '--private-host', '127.0.0.1', '--port', '0', '--private-port', '0'],
      ...['--rtc-bind-address', '127.0.0.1', '--drain-timeout', '60'],
    );
    writeFileSync(configPath, JSON.stringify(config));

    container = spawn('runc', ['--root', runcRoot, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    exited = once(container, 'exit') as Promise<[number | null, string | null]>;
    container.stderr!.on('data', (d: Buffer) => {
      logs += d;
    });
    const listening = new Promise<{ public: string; private: string }>((resolve, reject) => {
      container!.once('exit', (code) => reject(new Error(`the container exited (${code}) before it listened:\n${logs}`)));
      let buf = '';
      container!.stdout!.on('data', (d: Buffer) => {
        logs += d;
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('"weever-streaming listening"')) resolve(JSON.parse(line) as { public: string; private: string });
        }
      });
    });
    const urls = await Promise.race([
      listening,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not listening after 30 s:\n${logs}`)), 30_000).unref()),
    ]);
    publicUrl = urls.public;
    privateUrl = urls.private;
  });

  after(() => {
    // also after a failure: no container, no state, no bundle left behind
    if (container && container.exitCode === null) runc('kill', id, 'KILL');
    runc('delete', '--force', id);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs as uid 10001 with the patched engine; serves the SDK; its health check passes', async () => {
    const state = JSON.parse(runc('state', id).stdout) as { pid: number; status: string };
    assert.equal(state.status, 'running');
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${state.pid}/status`, 'utf8'));
    assert.equal(Number(uid?.[1]), APP_UID);
    const check = runc('exec', '--cwd', '/app', id, 'node', 'scripts/patch-engine.mjs', '--check');
    assert.equal(check.status, 0, check.stderr + check.stdout);
    const health = runc('exec', '--cwd', '/app', id, 'node', 'scripts/healthcheck.mjs', new URL(privateUrl).port);
    assert.equal(health.status, 0, health.stderr);
    const res = await fetch(`${publicUrl}/sdk/weever.js`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /WeeverClient/);
  });

  it('a publisher and a subscriber get VP8 + Opus through the container', async () => {
    assertMedia(await load(publicUrl, privateUrl, 'image', 3));
  });

  it('SIGTERM drains: readiness 503 while the peers stay, their media goes on, exit 0 once they left', async () => {
    const call = load(publicUrl, privateUrl, 'drain', 6);
    // both peers admitted (their POSTs answered) before the signal, so draining refuses neither
    await waitFor('publisher and subscriber listed', async () => {
      const list = async (role: string) =>
        (await (await fetch(`${privateUrl}/list/${role}/drain`, { headers: { Accept: 'application/json' } })).json()) as string[];
      return (await list('pub')).length > 0 && (await list('sub')).length > 0;
    });
    const kill = runc('kill', id, 'TERM');
    assert.equal(kill.status, 0, kill.stderr);
    await waitFor('readiness 503 while draining', async () => (await fetch(`${privateUrl}/readiness`)).status === 503);
    assert.equal(container!.exitCode, null, 'still running while its peers stay');
    assertMedia(await call);
    const [code, signal] = await Promise.race([
      exited!,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit 20 s after the peers left:\n${logs}`)), 20_000).unref()),
    ]);
    assert.equal(code, 0, `exit ${code ?? signal}:\n${logs}`);
    assert.match(logs, /"signal":"SIGTERM"/);
    assert.match(logs, /draining: no new peers/);
  });
});
