/**
 * Network-facing options on the real process: ICE candidates (--public-ip,
 * --rtc-port-range, --rtc-udp-port), WHIP `Link` headers (--stun/--turn), TLS on the
 * public server (--cert-file/--key-file) and CORS (--cors-domain).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { Browser, Page } from 'playwright-core';
import {
  CLI,
  chromiumOffer,
  launchBrowser,
  mediaOf,
  openPage,
  publishFrom,
  type ServerProcess,
  startServer,
  subscribeFrom,
  subView,
  suiteServer,
  waitFor,
} from './harness.js';
import { freePort } from './services.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** header name (lower case) → every value, one per header line */
  raw: Record<string, string[]>;
  body: string;
  peerFingerprint?: string;
}

/** One HTTP(S) request with node:http(s): headers are seen line by line, and TLS can trust a given CA. */
function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; ca?: string | Buffer } = {},
): Promise<Reply> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, ...(opts.ca ? { ca: opts.ca } : {}), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw: Record<string, string[]> = {};
          for (let i = 0; i < res.rawHeaders.length; i += 2) (raw[res.rawHeaders[i]!.toLowerCase()] ??= []).push(res.rawHeaders[i + 1]!);
          const tls = res.socket as TLSSocket;
          const reply: Reply = { status: res.statusCode!, headers: res.headers, raw, body: Buffer.concat(chunks).toString('utf8') };
          if (typeof tls.getPeerCertificate === 'function') reply.peerFingerprint = tls.getPeerCertificate().fingerprint256;
          resolve(reply);
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

interface Candidate {
  line: string;
  transport: string;
  address: string;
  port: number;
  type: string;
}

/** Every `a=candidate` line of an SDP. */
function candidatesOf(sdp: string): Candidate[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+).*$/gm)].map((m) => ({
    line: m[0].trim(),
    transport: m[1]!.toLowerCase(),
    address: m[2]!,
    port: Number(m[3]),
    type: m[4]!,
  }));
}

interface Session {
  reply: Reply;
  answer: string;
  location: string;
  candidates: Candidate[];
}

/** POST /sub/<room>/<fullId> with the data-channel-only Chromium offer; expects 201. */
async function subscribe(
  server: ServerProcess,
  offer: string,
  room: string,
  fullId: string,
  extra: { headers?: Record<string, string>; ca?: string } = {},
): Promise<Session> {
  const reply = await send(`${server.publicUrl}/sub/${room}/${fullId}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', ...extra.headers },
    body: offer,
    ...(extra.ca ? { ca: extra.ca } : {}),
  });
  assert.equal(reply.status, 201, `POST /sub/${room}/${fullId}: ${reply.body}`);
  assert.match(String(reply.headers['content-type']), /^application\/sdp/);
  const location = reply.headers.location;
  assert.match(String(location), /^\/session\/\S+$/);
  return { reply, answer: reply.body, location: location!, candidates: candidatesOf(reply.body) };
}

async function end(server: ServerProcess, session: Session, ca?: string): Promise<void> {
  const r = await send(`${server.publicUrl}${session.location}`, { method: 'DELETE', ...(ca ? { ca } : {}) });
  assert.equal(r.status, 200, `DELETE ${session.location}: ${r.body}`);
}

/**
 * The process is alive and logged nothing at error level or above (pino: 50 error, 60
 * fatal), except lines matching `expected`.
 */
function assertNoCrash(server: ServerProcess, expected: RegExp[] = []): void {
  assert.equal(server.proc.exitCode, null, 'server process still running');
  assert.equal(server.proc.signalCode, null, 'server process not killed');
  const bad = server.logs.filter((l) => {
    if (expected.some((re) => re.test(l))) return false;
    try {
      return (JSON.parse(l) as { level?: number }).level! >= 50;
    } catch {
      return /fatal|abort|segmentation|uncaught/i.test(l);
    }
  });
  assert.deepEqual(bad, [], 'no error or fatal log line');
}

let browser: Browser;
/** The default server (no option under test): hosts the page the offer comes from, and the default-CORS checks. */
let plain: ServerProcess;
/** A real, complete data-channel-only Chromium offer; sessions made from it never connect, they only show the answer. */
let offer: string;

// One top-level hook, not serverAndBrowser() + a second one: top-level hooks of a file do
// not wait for each other.
before(async () => {
  [browser, plain] = await Promise.all([launchBrowser(), startServer()]);
  const page = await openPage(browser, plain);
  offer = await chromiumOffer(page, false);
  await page.close();
  assert.ok(candidatesOf(offer).length > 0, 'the Chromium offer carries its candidates');
});
after(async () => {
  await browser?.close();
  await plain?.stop();
});

describe('--public-ip: the announced address', () => {
  const ctx = suiteServer(['--public-ip', '203.0.113.7']);

  it('every candidate of the answer names 203.0.113.7 and nothing else; no Link header without STUN/TURN; no crash', async () => {
    const s = await subscribe(ctx.server, offer, 'pip', 'alice+1');
    assert.ok(s.candidates.length > 0, `answer has candidates:\n${s.answer}`);
    assert.equal(s.candidates.length, s.answer.match(/^a=candidate:/gm)!.length, 'every a=candidate line parsed');
    for (const c of s.candidates) {
      assert.equal(c.address, '203.0.113.7', c.line);
      assert.equal(c.type, 'host', c.line);
    }
    const ports = s.candidates.map((c) => c.line.split(' ')[5]);
    assert.equal(new Set(ports).size, ports.length, 'one public candidate per local port, not one per local address');
    assert.deepEqual(
      s.answer.match(/^c=.*$/gm)!.map((l) => l.trim()),
      ['c=IN IP4 203.0.113.7'],
      'the connection address is the public one too',
    );
    assert.equal(s.reply.raw.link, undefined, 'no Link header when no STUN/TURN is configured');
    // the un-announced server shows its own addresses instead
    const own = await subscribe(plain, offer, 'pip', 'alice+2');
    assert.ok(own.candidates.length > 0);
    assert.ok(
      own.candidates.every((c) => c.address !== '203.0.113.7'),
      'without --public-ip the real address is announced',
    );
    assert.equal(own.reply.raw.link, undefined);
    await end(plain, own);
    await end(ctx.server, s);
    assert.deepEqual(await ctx.server.list('sub', 'pip'), []);
    assertNoCrash(ctx.server);
  });
});

describe('--rtc-port-range: host candidates within the range', () => {
  const ctx = suiteServer(['--rtc-port-range', '41000-41009']);

  it('3 simultaneous sessions: every candidate port is in 41000–41009, one socket each', async () => {
    const sessions = await Promise.all(['a+1', 'b+1', 'c+1'].map((id) => subscribe(ctx.server, offer, 'range', id)));
    const ports = new Set<number>();
    for (const s of sessions) {
      const host = s.candidates.filter((c) => c.type === 'host');
      assert.ok(host.length > 0, `host candidates in:\n${s.answer}`);
      assert.equal(host.length, s.candidates.length, 'only host candidates without STUN/TURN');
      for (const c of s.candidates) {
        assert.equal(c.transport, 'udp', c.line);
        assert.ok(c.port >= 41000 && c.port <= 41009, `port in range: ${c.line}`);
      }
      const own = new Set(s.candidates.map((c) => c.port));
      assert.equal(own.size, 1, `one local port per session: ${[...own]}`);
      ports.add([...own][0]!);
    }
    assert.equal(ports.size, 3, `each session has its own port without UDP mux: ${[...ports]}`);
    await Promise.all(sessions.map((s) => end(ctx.server, s)));
    assertNoCrash(ctx.server);
  });
});

describe('--rtc-udp-port: every peer on one multiplexed UDP port', () => {
  let port: number;
  const pages: Page[] = [];
  const ctx = suiteServer(async () => {
    port = await freePort('udp');
    return ['--rtc-udp-port', String(port)];
  });
  after(async () => {
    await Promise.all(pages.map((p) => p.close()));
  });

  it('two simultaneous sessions announce exactly that port', async () => {
    const sessions = await Promise.all(['a+1', 'b+1'].map((id) => subscribe(ctx.server, offer, 'mux', id)));
    for (const s of sessions) {
      assert.ok(s.candidates.length > 0, `answer has candidates:\n${s.answer}`);
      for (const c of s.candidates) assert.equal(c.port, port, c.line);
    }
    await Promise.all(sessions.map((s) => end(ctx.server, s)));
    assertNoCrash(ctx.server);
  });

  it('media flows: a Chromium subscriber decodes a Chromium publisher’s video through the shared port', async () => {
    const pubPage = await openPage(browser, ctx.server);
    pages.push(pubPage);
    const pubId = await publishFrom(pubPage, 'muxmedia', 'alice');
    const subPage = await openPage(browser, ctx.server);
    pages.push(subPage);
    await subscribeFrom(subPage, 'muxmedia', 'viewer');
    const view = await waitFor('video frames decoded by the subscriber', async () => {
      const v = await subView(subPage);
      return mediaOf(v).videoFrames > 30 ? v : undefined;
    });
    assert.deepEqual(Object.keys(view.streams), [pubId]);
    assert.deepEqual(view.state.errors, []);
    // Both browsers' selected candidate pairs end at the server's one port.
    for (const [page, who] of [
      [pubPage, 'pub'],
      [subPage, 'sub'],
    ] as const) {
      const remotePort = await page.evaluate(async (who) => {
        const pc = (window as unknown as Record<string, { pc: RTCPeerConnection }>)[who]!.pc;
        const stats = [...(await pc.getStats()).values()] as Record<string, unknown>[];
        const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
        const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
        const remote = stats.find((s) => s.id === pair?.remoteCandidateId);
        return remote?.port as number | undefined;
      }, who);
      assert.equal(remotePort, port, `${who}: selected pair's remote port`);
    }
    assertNoCrash(ctx.server);
  });
});

describe('--stun/--turn: WHIP Link headers', () => {
  const ctx = suiteServer([
    '--stun',
    'stun:stun.example.org:3478',
    '--turn',
    'turn:turn.example.org:3478',
    '--turn-username',
    'u',
    '--turn-password',
    'p',
  ]);

  it('the 201 carries one Link per ICE server, TURN with its username and credential', async () => {
    const s = await subscribe(ctx.server, offer, 'links', 'alice+1');
    assert.deepEqual(s.reply.raw.link, [
      '<stun:stun.example.org:3478>; rel="ice-server"',
      '<turn:turn.example.org:3478>; rel="ice-server"; username="u"; credential="p"; credential-type="password"',
    ]);
    await end(ctx.server, s);
    // The example.org names do not resolve here: the engine says so, and nothing worse.
    assertNoCrash(ctx.server, [/"engine":true.*juice: (STUN server|TURN) address resolution failed/]);
  });
});

describe('--cert-file/--key-file: HTTPS on the public server', () => {
  let dir: string;
  let certPem: string;
  let server: ServerProcess;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weever-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    server = await startServer(['--cert-file', join(dir, 'cert.pem'), '--key-file', join(dir, 'key.pem')]);
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API over HTTPS with the given certificate; private port stays plain HTTP', async () => {
    assert.match(server.publicUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.privateUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const s = await subscribe(server, offer, 'tls', 'alice+1', { ca: certPem });
    assert.equal(s.reply.peerFingerprint, new X509Certificate(certPem).fingerprint256, 'the server presents the given certificate');
    assert.ok(s.candidates.length > 0);
    assert.deepEqual(await server.list('sub', 'tls'), ['alice+1']);
    await end(server, s, certPem);
    assert.deepEqual(await server.list('sub', 'tls'), []);
    assertNoCrash(server);
  });

  it('an untrusted client and plain HTTP to the same port get no answer', async () => {
    const post = { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer };
    await assert.rejects(send(`${server.publicUrl}/sub/tls/bob+1`, post), /self[- ]signed/i);
    const httpUrl = server.publicUrl.replace(/^https:/, 'http:');
    await assert.rejects(send(`${httpUrl}/sub/tls/bob+2`, post), 'plain HTTP to the TLS port gets no HTTP answer');
    assert.deepEqual(await server.list('sub', 'tls'), [], 'no session was created');
    assertNoCrash(server);
  });

  it('a certificate file that is not PEM stops the start with a non-zero exit', () => {
    // (an unreadable --cert-file is covered in cli.test.ts)
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, 'not a certificate\n');
    const r = spawnSync(
      process.execPath,
      [CLI, '--host', '127.0.0.1', '--port', '0', '--private-port', '0', '--cert-file', bad, '--key-file', join(dir, 'key.pem')],
      { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 10_000 },
    );
    assert.notEqual(r.status, 0, `exit status ${r.status}; stderr: ${r.stderr}`);
    assert.equal(r.signal, null);
    assert.doesNotMatch(r.stdout, /weever-streaming listening/);
  });
});

describe('CORS on the public server', () => {
  const example = suiteServer(['--cors-domain', 'example.com']);

  const preflight = (server: ServerProcess, origin: string) =>
    send(`${server.publicUrl}/pub/r/a`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });

  const list = (v: string | string[] | undefined) =>
    String(v ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);

  const assertAllowed = async (server: ServerProcess, origin: string) => {
    const r = await preflight(server, origin);
    assert.ok(r.status >= 200 && r.status < 300, `${origin}: preflight status ${r.status}`);
    assert.equal(r.headers['access-control-allow-origin'], origin, `${origin} allowed`);
    const methods = list(r.headers['access-control-allow-methods']);
    for (const m of ['post', 'delete', 'patch']) assert.ok(methods.includes(m), `${origin}: ${m} in ${methods}`);
    const headers = list(r.headers['access-control-allow-headers']);
    for (const h of ['authorization', 'content-type']) assert.ok(headers.includes(h), `${origin}: ${h} in ${headers}`);
    assert.ok(list(r.headers.vary).includes('origin'), `${origin}: Vary: Origin`);
  };

  const assertDenied = async (server: ServerProcess, origin: string) => {
    const r = await preflight(server, origin);
    assert.equal(r.headers['access-control-allow-origin'], undefined, `${origin} denied`);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  };

  it('default --cors-domain localhost: localhost origins allowed, others denied', async () => {
    for (const origin of ['http://localhost:3000', 'https://localhost']) await assertAllowed(plain, origin);
    for (const origin of ['https://app.example.com', 'https://evil.com', 'http://127.0.0.1:3000']) await assertDenied(plain, origin);
  });

  it('--cors-domain example.com: subdomains and localhost allowed; look-alikes denied', async () => {
    for (const origin of ['http://localhost:3000', 'https://localhost', 'https://app.example.com'])
      await assertAllowed(example.server, origin);
    for (const origin of ['https://evil.com', 'https://example.com.evil.com', 'https://notexample.com'])
      await assertDenied(example.server, origin);
  });

  it('a real POST from an allowed origin exposes Location, ETag and Link; a denied origin gets no CORS headers', async () => {
    const s = await subscribe(example.server, offer, 'cors', 'alice+1', { headers: { Origin: 'https://app.example.com' } });
    assert.equal(s.reply.headers['access-control-allow-origin'], 'https://app.example.com');
    const exposed = list(s.reply.headers['access-control-expose-headers']);
    for (const h of ['location', 'etag', 'link']) assert.ok(exposed.includes(h), `${h} in ${exposed}`);
    await end(example.server, s);

    const denied = await subscribe(example.server, offer, 'cors', 'bob+1', { headers: { Origin: 'https://evil.com' } });
    assert.equal(denied.reply.headers['access-control-allow-origin'], undefined);
    assert.equal(denied.reply.headers['access-control-expose-headers'], undefined);
    await end(example.server, denied);
    assertNoCrash(example.server);
    assertNoCrash(plain);
  });
});
