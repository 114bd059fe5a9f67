/**
 * Safe by default (docs/security.md, "Defaults"): the README's first command (--debug
 * --supervise, public server on 0.0.0.0) from another host's point of view. Traffic to this
 * machine's own non-loopback address stays on the machine but arrives from that address, not
 * from loopback: every management route must be refused (connection refused or 404) while
 * the public API and the demo pages work; from 127.0.0.1 the management routes work.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { CLI, waitFor } from './harness.js';

/** The first non-internal IPv4 address of this machine; none is a broken test machine, not a skip. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address: the test needs one to play "another host"');
}

/** Every route of the private API (src/signalling/private-api.ts), as the public server mounts it under --debug. */
const MANAGEMENT: { method: 'GET' | 'POST'; path: string; body?: string }[] = [
  { method: 'POST', path: '/create/pub', body: JSON.stringify({ room: 'r', id: 'a', token: 'secret-token' }) },
  { method: 'POST', path: '/create/sub', body: JSON.stringify({ room: 'r', id: 'a', token: 'secret-token' }) },
  { method: 'GET', path: '/list/pub/r' },
  { method: 'GET', path: '/list/sub/r' },
  { method: 'GET', path: '/liveness' },
  { method: 'GET', path: '/readiness' },
  { method: 'GET', path: '/debug/room/r' },
  { method: 'GET', path: '/debug/traffic/r' },
  { method: 'GET', path: '/debug/resources' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/preStop' },
];

interface Answer {
  status: number;
  body: string;
}

/** One HTTP request; `refused` when nothing listens there (ECONNREFUSED). */
function call(
  url: string,
  method: string,
  body?: string,
  type = 'application/json',
  headers: Record<string, string> = {},
): Promise<Answer | 'refused'> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...(body ? { 'content-type': type } : {}), ...headers }, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 10 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve('refused') : reject(err)));
    req.end(body);
  });
}

describe('safe by default: the README first command seen from another host', () => {
  const external = externalAddress();
  let proc: ChildProcess;
  let publicPort: string;
  let privatePort: string;
  let out = '';

  before(async () => {
    // As the README's first command (`--debug --supervise`, default --host 0.0.0.0), on free ports.
    proc = spawn(process.execPath, [CLI, '--debug', '--supervise', '--port', '0', '--private-port', '0'], {
      env: { PATH: process.env.PATH, WEEVER_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const line = await waitFor('the listening line', () => out.split('\n').find((l) => l.includes('weever-streaming listening')), 20_000);
    const urls = JSON.parse(line) as { public: string; private: string };
    publicPort = new URL(urls.public).port;
    privatePort = new URL(urls.private).port;
  });

  after(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGINT');
      await once(proc, 'exit');
    }
  });

  it('refuses every management route from a non-loopback address (404 on the public port, refused on the private one)', async () => {
    for (const r of MANAGEMENT) {
      const pub = await call(`http://${external}:${publicPort}${r.path}`, r.method, r.body);
      assert.notEqual(pub, 'refused', `${r.method} ${r.path}: the public port listens on every interface`);
      assert.equal((pub as Answer).status, 404, `${r.method} ${r.path} from ${external}: ${JSON.stringify(pub)}`);
      assert.equal((pub as Answer).body, `no route for ${r.method} ${r.path}\n`, 'the same answer as an unknown route');
      // X-Forwarded-For is written by the client: it must not open the door.
      const forwarded = await call(`http://${external}:${publicPort}${r.path}`, r.method, r.body, 'application/json', {
        'x-forwarded-for': '127.0.0.1',
      });
      assert.equal((forwarded as Answer).status, 404, `${r.method} ${r.path} with X-Forwarded-For: 127.0.0.1`);
      assert.equal(await call(`http://${external}:${privatePort}${r.path}`, r.method, r.body), 'refused', `private ${r.path}`);
    }
  });

  it('serves the public API, the SDK and the demo pages to that address', async () => {
    const base = `http://${external}:${publicPort}`;
    const offer = await call(`${base}/pub/r/a`, 'POST', 'not an sdp offer', 'application/sdp');
    assert.notEqual(offer, 'refused');
    assert.ok((offer as Answer).status >= 400 && (offer as Answer).status < 500 && (offer as Answer).status !== 404, JSON.stringify(offer));
    for (const path of ['/sdk/weever.js', '/', '/management.html', '/manage.js']) {
      const r = await call(`${base}${path}`, 'GET');
      assert.equal((r as Answer).status, 200, `GET ${path}: ${JSON.stringify(r)}`);
    }
  });

  it('answers the management routes from loopback, on both ports', async () => {
    for (const base of [`http://127.0.0.1:${publicPort}`, `http://127.0.0.1:${privatePort}`]) {
      for (const r of MANAGEMENT) {
        if (r.path === '/preStop') continue; // it would drain the instance
        const a = await call(`${base}${r.path}`, r.method, r.body);
        assert.notEqual(a, 'refused', `${base}${r.path}`);
        assert.equal((a as Answer).status, 200, `${r.method} ${base}${r.path}: ${JSON.stringify(a)}`);
      }
    }
    const listed = await call(`http://127.0.0.1:${publicPort}/list/pub/r`, 'GET');
    assert.equal((listed as Answer).body, '', 'a token was set, no publisher is listed');
  });

  it('refuses a DNS-rebinding page on loopback: the Host header must name localhost or an address', async () => {
    const a = await call(`http://127.0.0.1:${publicPort}/debug/resources`, 'GET', undefined, undefined, {
      host: `evil.example:${publicPort}`,
    });
    assert.equal((a as Answer).status, 404);
    const ok = await call(`http://127.0.0.1:${publicPort}/debug/resources`, 'GET', undefined, undefined, {
      host: `localhost:${publicPort}`,
    });
    assert.equal((ok as Answer).status, 200);
  });

  it('opens them to other hosts only with --debug-remote-management', async () => {
    const open = spawn(process.execPath, [CLI, '--debug', '--debug-remote-management', '--port', '0', '--private-port', '0'], {
      env: { PATH: process.env.PATH, WEEVER_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    open.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
    });
    try {
      const line = await waitFor(
        'the listening line',
        () => text.split('\n').find((l) => l.includes('weever-streaming listening')),
        20_000,
      );
      const port = new URL((JSON.parse(line) as { public: string }).public).port;
      const a = await call(`http://${external}:${port}/debug/resources`, 'GET');
      assert.equal((a as Answer).status, 200, JSON.stringify(a));
    } finally {
      open.kill('SIGINT');
      await once(open, 'exit');
    }
  });
});
