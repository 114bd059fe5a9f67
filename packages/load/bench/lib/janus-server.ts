/**
 * Starts Debian's Janus (`apt-get install janus`) as the comparison server: copies the
 * config of bench/janus/ to a temp dir with a free HTTP port, runs `janus -F <dir>`
 * (optionally pinned with `taskset -c <cpus>`), and waits until its HTTP API answers.
 *
 * ICE: Janus never gathers candidates on a loopback interface (its ice.c skips
 * IFF_LOOPBACK), so it gets the machine's own IPv4 address instead (`-E <ip> -i <ip>`):
 * packets between the host's own addresses stay in the kernel, like loopback ones. The
 * Janus target binds its clients to that address too (Janus' info `local-ip`): a client on
 * 127.0.0.1 does not complete ICE with Janus on another local address.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '#server-harness';

/** bench/janus of this package's sources (this file runs from dist/bench/lib/). */
export const JANUS_CONFIG_DIR = fileURLToPath(new URL('../../../bench/janus/', import.meta.url));

const START_TIMEOUT_MS = 15_000;

export interface JanusServer {
  /** HTTP API base, for `new JanusTarget({ url })` */
  url: string;
  port: number;
  /** of the janus process itself (taskset execs it): read /proc/<pid>/stat for its CPU */
  pid: number;
  /** Janus' version string from its info answer, e.g. "1.1.2" */
  version: string;
  /** Janus' last output lines, for error reports */
  output(): string;
  stop(): Promise<void>;
}

/** The machine's first non-internal IPv4 address: where Janus gathers its ICE candidates. */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('janus: no non-loopback IPv4 address on this machine for its ICE candidates');
}

/**
 * `cpus`: a taskset CPU list such as "0" or "0,1"; the server runs on those cores only.
 * `address`: where Janus gathers candidates (default: `hostAddress()`).
 */
export async function startJanus(opts: { cpus?: string; address?: string } = {}): Promise<JanusServer> {
  const address = opts.address ?? hostAddress();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'weever-janus-'));
  for (const f of readdirSync(JANUS_CONFIG_DIR)) {
    if (f.endsWith('.jcfg')) copyFileSync(join(JANUS_CONFIG_DIR, f), join(dir, f));
  }
  const http = join(dir, 'janus.transport.http.jcfg');
  const cfg = readFileSync(http, 'utf8');
  if (!/^\s*port = \d+/m.test(cfg)) throw new Error(`${http}: no 'port = N' line to set`);
  writeFileSync(http, cfg.replace(/^(\s*)port = \d+/m, `$1port = ${port}`));

  const args = ['-F', dir, '--ice-enforce-list', address, '--interface', address];
  const proc: ChildProcess = opts.cpus
    ? spawn('taskset', ['-c', opts.cpus, 'janus', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('janus', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(l);
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  proc.once('error', (err) => {
    spawnError = err;
  });
  const output = () => lines.join('\n');
  // Janus does not die with its parent: kill it when this process exits without stop()
  // (process.exit, an uncaught error; a native abort still leaves it running).
  const killOnExit = () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await once(proc, 'exit').catch(() => undefined);
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}/janus`;
  const started = Date.now();
  for (;;) {
    if (spawnError || proc.exitCode !== null || proc.signalCode !== null) {
      await stop();
      const why = spawnError
        ? `${spawnError.message} (is janus installed? apt-get install janus)`
        : `exited ${proc.exitCode ?? proc.signalCode}`;
      throw new Error(`janus did not start: ${why}\n${output()}`);
    }
    const info = await fetch(`${url}/info`, { signal: AbortSignal.timeout(1_000) })
      .then((r) => (r.ok ? (r.json() as Promise<{ janus?: string; version_string?: string }>) : undefined))
      .catch(() => undefined);
    if (info?.janus === 'server_info') {
      return { url, port, pid: proc.pid!, version: info.version_string ?? 'unknown', output, stop };
    }
    if (Date.now() - started > START_TIMEOUT_MS) {
      await stop();
      throw new Error(`janus did not answer on ${url} within ${START_TIMEOUT_MS} ms\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
