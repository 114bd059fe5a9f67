/**
 * Debian's coturn for the TURN tests: each suite starts its own on free ports of 127.0.0.1
 * (UDP and TCP, optionally TLS) and stops it. Authentication is long-term credentials
 * (`--lt-cred-mech --user`) or the TURN REST API (`--use-auth-secret --static-auth-secret`,
 * what the server's --turn-secret mints credentials for).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './harness.js';

export const TURNSERVER = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';
export const TURN_REALM = 'test';

/** A port free on 127.0.0.1 for both TCP and UDP (coturn listens on both). */
export async function freeTcpUdpPort(): Promise<number> {
  for (;;) {
    const srv = createServer().listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as { port: number }).port;
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    srv.close();
    if (ok) return port;
  }
}

export interface CoturnOptions {
  /** long-term user `u:p` (default), or the TURN REST API secret */
  auth?: { user: string; password: string } | { secret: string };
  /** PEM files: adds a TLS listener (`turns:`) */
  tls?: { cert: string; key: string };
}

export interface Turn {
  /** UDP and TCP listener */
  port: number;
  /** TLS listener, with `tls` */
  tlsPort?: number;
  /** coturn's relay ports (the addresses it talks to peers from) */
  relay: { min: number; max: number };
  proc: ChildProcess;
  log: string[];
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function startCoturn(o: CoturnOptions = {}): Promise<Turn> {
  const port = await freeTcpUdpPort();
  const tlsPort = o.tls ? await freeTcpUdpPort() : undefined;
  const min = 40000 + Math.floor(Math.random() * 20000);
  const relay = { min, max: min + 200 };
  const auth = o.auth ?? { user: 'u', password: 'p' };
  const proc = spawn(
    TURNSERVER,
    [
      '-n',
      '--no-cli', // coturn refuses --allow-loopback-peers with an open CLI without a password
      ...('secret' in auth
        ? ['--use-auth-secret', `--static-auth-secret=${auth.secret}`]
        : ['--lt-cred-mech', `--user=${auth.user}:${auth.password}`]),
      `--realm=${TURN_REALM}`,
      '--allow-loopback-peers',
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      `--min-port=${relay.min}`,
      `--max-port=${relay.max}`,
      ...(o.tls && tlsPort ? [`--tls-listening-port=${tlsPort}`, `--cert=${o.tls.cert}`, `--pkey=${o.tls.key}`] : ['--no-tls']),
      '--no-dtls',
      '--log-file=stdout',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  // listening once a TCP connection is accepted (on each listener)
  for (const p of tlsPort ? [port, tlsPort] : [port]) {
    await waitFor(
      `coturn listening on ${p}`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`coturn exited: ${log.join('')}`);
        return listening(p);
      },
      10_000,
    );
  }
  return { port, ...(tlsPort ? { tlsPort } : {}), relay, proc, log };
}

export async function stopCoturn(t: Turn | undefined): Promise<void> {
  if (!t || t.proc.exitCode !== null || t.proc.signalCode !== null) return;
  t.proc.kill('SIGTERM');
  const timer = setTimeout(() => t.proc.kill('SIGKILL'), 3000);
  await once(t.proc, 'exit');
  clearTimeout(timer);
}

/** A self-signed certificate for 127.0.0.1 made by openssl in a temporary directory; `remove()` deletes it. */
export function selfSignedCert(): { cert: string; key: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'weever-turn-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
