/**
 * Debian's coturn for the TURN tests: each suite starts its own on free ports of 127.0.0.1
 * (UDP and TCP, optionally TLS) and stops it. Authentication is long-term credentials
 * (`--lt-cred-mech --user`) or the TURN REST API (`--use-auth-secret --static-auth-secret`,
 * what the server's --turn-secret mints credentials for).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
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

// ---- a TURN client, just enough for Allocate (RFC 5766 §6, RFC 5389 long-term credentials) ----

const MAGIC = 0x2112a442;

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const out = Buffer.alloc(4 + value.length + pad);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/** A STUN request; with `key`, MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to it, length including it). */
function request(type: number, attrs: Buffer[], key?: Buffer): Buffer {
  const tid = randomBytes(12);
  const body = Buffer.concat(attrs);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(body.length + (key ? 24 : 0), 2);
  header.writeUInt32BE(MAGIC, 4);
  tid.copy(header, 8);
  const msg = Buffer.concat([header, body]);
  if (!key) return msg;
  return Buffer.concat([msg, attr(0x0008, createHmac('sha1', key).update(msg).digest())]);
}

interface StunReply {
  type: number;
  attrs: Map<number, Buffer>;
}

function parse(buf: Buffer): StunReply {
  const attrs = new Map<number, Buffer>();
  let i = 20;
  const end = 20 + buf.readUInt16BE(2);
  while (i + 4 <= end) {
    const t = buf.readUInt16BE(i);
    const len = buf.readUInt16BE(i + 2);
    attrs.set(t, buf.subarray(i + 4, i + 4 + len));
    i += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { type: buf.readUInt16BE(0), attrs };
}

/**
 * Allocate (UDP relay) with long-term credentials, as a browser does: the unauthenticated
 * request's 401 gives realm and nonce, the second carries USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY (key MD5(username:realm:password); for REST credentials the password is
 * the base64 HMAC). Ok, or the error code coturn answered.
 */
export async function allocate(
  port: number,
  username: string,
  password: string,
  host = '127.0.0.1',
): Promise<{ ok: true } | { ok: false; code: number }> {
  const sock = createSocket('udp4');
  sock.bind(0);
  await once(sock, 'listening');
  const ask = async (msg: Buffer): Promise<StunReply> => {
    const reply = once(sock, 'message', { signal: AbortSignal.timeout(5000) }) as Promise<[Buffer]>;
    sock.send(msg, port, host);
    return parse((await reply)[0]);
  };
  const transport = attr(0x0019, Buffer.from([17, 0, 0, 0])); // REQUESTED-TRANSPORT: UDP
  try {
    const challenge = await ask(request(0x0003, [transport]));
    const realm = challenge.attrs.get(0x0014);
    const nonce = challenge.attrs.get(0x0015);
    if (challenge.type !== 0x0113 || !realm || !nonce)
      throw new Error('an unauthenticated Allocate was not challenged with realm and nonce');
    const key = createHash('md5').update(`${username}:${realm.toString()}:${password}`).digest();
    const reply = await ask(
      request(0x0003, [transport, attr(0x0006, Buffer.from(username)), attr(0x0014, realm), attr(0x0015, nonce)], key),
    );
    if (reply.type === 0x0103) return { ok: true };
    const err = reply.attrs.get(0x0009);
    if (reply.type !== 0x0113 || !err) throw new Error(`unexpected reply type ${reply.type.toString(16)}`);
    return { ok: false, code: (err[2]! & 7) * 100 + err[3]! };
  } finally {
    sock.close();
  }
}
