/**
 * Relayed participants with short-lived TURN credentials (issue 17): the server runs with
 * `--turn-secret` and coturn with `--use-auth-secret --static-auth-secret` (the TURN REST
 * API). Clients get the servers from `GET /ice-servers/…` before their offer; the SDK does
 * so by itself when the app passes no ICE servers.
 *
 * - the endpoint: auth as the POST, fresh credentials coturn's scheme accepts, the secret in
 *   no output (JSON, Link headers, logs);
 * - coturn refuses expired credentials and accepts fresh ones (a hand-built TURN Allocate);
 * - the SDK in the demo page (`?ice=relay`), no ICE servers from the app: relay-only
 *   publisher and subscriber over TURN/TCP and TURN/UDP, a WHEP player with the endpoint's
 *   servers; the demo shows `relay` per connection;
 * - TURN over TLS (`turns:`, a self-signed certificate made by openssl);
 * - UDP between the browser and the server's media ports dropped by nftables (and UDP to
 *   the relay: a network that blocks UDP), the relay's own UDP to the server allowed: the
 *   SDK (policy `all`) connects through TURN/TCP.
 *
 * Each suite starts and stops its own coturn and server; the server binds ICE to
 * 127.0.0.1 (see turn.test.ts).
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { paths } from 'weever-protocol';
import { allocate, type CoturnOptions, selfSignedCert, startCoturn, stopCoturn, type Turn } from './coturn.js';
import { joinIn } from './demo.js';
import { chromiumOffer, launchBrowser, openPage, type ServerProcess, startServer, waitFor } from './harness.js';
import { NftTable } from './lossy.js';
import { playerView, stopPlayer, whepPlay } from './whep-player.js';

/** The long-term secret shared by coturn and the server: it must never leave the server. */
const SECRET = `turn-secret-${randomBytes(12).toString('hex')}`;

interface Ctx {
  turn: Turn;
  server: ServerProcess;
  browser: Browser;
}

/**
 * Registers the suite's hooks: coturn first, then the server (its args know coturn's
 * ports) and a browser; everything stopped after, also when a start failed.
 */
function relaySuite(serverArgs: (turn: Turn) => string[] | Promise<string[]>, coturn: CoturnOptions = {}, browserArgs: string[] = []): Ctx {
  const ctx = {} as Ctx;
  before(async () => {
    ctx.turn = await startCoturn({ auth: { secret: SECRET }, ...coturn });
    ctx.server = await startServer(['--rtc-bind-address', '127.0.0.1', '--turn-secret', SECRET, ...(await serverArgs(ctx.turn))]);
    ctx.browser = await launchBrowser(browserArgs);
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
    await stopCoturn(ctx.turn);
  });
  return ctx;
}

/** The demo page joined as `name` in `mode`; `ice=relay` makes the SDK use relays only. */
async function demoJoin(ctx: Ctx, o: { room: string; name: string; mode: 'publish' | 'subscribe'; relayOnly: boolean }): Promise<Page> {
  const page = await ctx.browser.newPage();
  page.on('pageerror', (err) => console.error(`[${o.name}] page error: ${err.message}`));
  await page.goto(`${ctx.server.publicUrl}/${o.relayOnly ? '?ice=relay' : ''}`);
  await joinIn(page, { room: o.room, name: o.name, mode: o.mode });
  return page;
}

interface DemoView {
  /** inbound: frames decoded, audio packets received */
  videoFrames: number;
  audioPackets: number;
  /** what the SDK reports per connection */
  icePaths: Record<string, { candidateType: string; protocol: string; relayProtocol?: string }>;
  /** what the demo shows */
  shown: string;
  /** the ICE servers each connection of the SDK was made with */
  usernames: string[];
}

async function demoView(page: Page): Promise<DemoView> {
  return page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the demo's client, from the page
    const client = (window as any).demo.client;
    let videoFrames = 0;
    let audioPackets = 0;
    for (const s of await client.getStats()) {
      if (s.direction !== 'inbound') continue;
      videoFrames += s.video?.frames ?? 0;
      audioPackets += s.audio?.packets ?? 0;
    }
    const usernames: string[] = [];
    for (const link of client.links.values()) {
      for (const server of link.conn?.pc.getConfiguration().iceServers ?? []) if (server.username) usernames.push(server.username);
    }
    return {
      videoFrames,
      audioPackets,
      icePaths: await client.getIcePaths(),
      shown: document.getElementById('paths')!.textContent ?? '',
      usernames,
    };
  });
}

/** A relay-only publisher and subscriber through the demo + SDK; the subscriber decodes video and receives audio. */
async function sdkThroughRelay(ctx: Ctx, room: string, relayProtocol: string, relayOnly = true): Promise<void> {
  const pub = await demoJoin(ctx, { room, name: 'alice', mode: 'publish', relayOnly });
  const sub = await demoJoin(ctx, { room, name: 'bob', mode: 'subscribe', relayOnly });
  try {
    const got = await waitFor(
      'video frames and audio through the relay',
      async () => {
        const v = await demoView(sub);
        return v.videoFrames > 30 && v.audioPackets > 50 ? v : undefined;
      },
      30_000,
    );
    const relayed = { candidateType: 'relay', protocol: 'udp', relayProtocol };
    assert.deepEqual(got.icePaths, { subscriber: relayed });
    const pubView = await demoView(pub);
    assert.deepEqual(pubView.icePaths, { camera: relayed });
    // the credentials came from the server's endpoint: `<expiry>:<random>`, expiring in about --turn-ttl
    for (const u of [...got.usernames, ...pubView.usernames]) {
      const expiry = Number(/^(\d+):[0-9a-f]{16}$/.exec(u)?.[1]);
      assert.ok(Math.abs(expiry - (Date.now() / 1000 + 600)) < 120, u);
    }
    assert.equal(got.usernames.length, 1);
    // the demo shows how each connection reaches the server
    await waitFor('the demo shows the relayed paths', async () => {
      const [p, s] = [(await demoView(pub)).shown, (await demoView(sub)).shown];
      return p === `camera: relay ${relayProtocol} (relayed)` && s === `subscriber: relay ${relayProtocol} (relayed)`;
    });
  } finally {
    await Promise.all([leaveDemo(pub), leaveDemo(sub)]);
  }
}

async function leaveDemo(page: Page): Promise<void> {
  await page
    .getByRole('button', { name: 'Leave' })
    .click({ timeout: 5000 })
    .catch(() => {});
  await waitFor(
    'left',
    async () => (await page.getByRole('status').first().textContent())?.startsWith('left') || page.isClosed(),
    5000,
  ).catch(() => {});
  await page.close();
}

/** In `page`, RTCPeerConnections use only `servers`, through relays (for the plain WHEP player). */
async function relayOnlyWith(page: Page, servers: unknown): Promise<void> {
  await page.evaluate((servers) => {
    const Native = window.RTCPeerConnection;
    const Relayed = function (this: unknown, cfg?: RTCConfiguration) {
      return new Native({ ...cfg, iceServers: servers as RTCIceServer[], iceTransportPolicy: 'relay' });
    } as unknown as typeof RTCPeerConnection;
    Relayed.prototype = Native.prototype;
    window.RTCPeerConnection = Relayed;
  }, servers);
}

/** The secret in no log line of the server. */
function assertSecretNotLogged(server: ServerProcess): void {
  assert.equal(server.logs.filter((l) => l.includes(SECRET)).length, 0, 'the TURN secret appears in the server log');
}

describe('GET /ice-servers: short-lived TURN credentials, authorised like the POST', () => {
  const urls = ['turn:turn.example.org:3478', 'turn:turn.example.org:3478?transport=tcp', 'turns:turn.example.org:443?transport=tcp'];
  let server: ServerProcess;
  let browser: Browser;
  before(async () => {
    server = await startServer(
      ['--auth', '--stun', 'stun:stun.example.org:3478', '--turn', urls.join(','), '--turn-secret', SECRET, '--turn-ttl', '600'],
      { WEEVER_LOG_LEVEL: 'debug' },
    );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const get = (path: string, token?: string) =>
    fetch(`${server.publicUrl}${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

  /** Checks one TURN entry: coturn's REST scheme under SECRET, expiring --turn-ttl from now. */
  const checkTurn = (s: { urls: string[]; username?: string; credential?: string }) => {
    assert.deepEqual(s.urls, urls);
    const m = /^(\d+):[0-9a-f]{16}$/.exec(s.username ?? '');
    assert.ok(m, `username ${s.username}`);
    assert.ok(Math.abs(Number(m[1]) - (Date.now() / 1000 + 600)) < 30, `expiry ${m[1]}`);
    assert.equal(s.credential, createHmac('sha1', SECRET).update(s.username!).digest('base64'));
  };

  it('serves STUN and TURN with fresh credentials (no-store), per kind; bad input gets 400/404; the secret is in no output', async () => {
    const outputs: string[] = [];
    const seen = new Set<string>();
    for (const path of [
      paths.iceServers('pub', 'r1', 'alice+1'),
      paths.iceServers('sub', 'r1', 'bob+1'),
      paths.iceServers('whep', 'r1', 'alice'),
    ]) {
      const r = await get(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      const text = await r.text();
      outputs.push(text, JSON.stringify([...r.headers]));
      const servers = JSON.parse(text) as { urls: string[]; username?: string; credential?: string }[];
      assert.equal(servers.length, 2);
      assert.deepEqual(servers[0], { urls: ['stun:stun.example.org:3478'] });
      checkTurn(servers[1]!);
      seen.add(servers[1]!.username!);
    }
    assert.equal(seen.size, 3, 'each response mints its own username');
    const bad = await get('/ice-servers/pub/r.1/alice+1');
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /room/);
    assert.equal((await get('/ice-servers/admin/r1/alice')).status, 404);
    const post = await fetch(`${server.publicUrl}${paths.iceServers('pub', 'r1', 'alice+1')}`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, OPTIONS');

    // the 201's Link headers carry the same kind of fresh credentials
    const page = await openPage(browser, server);
    const offer = await chromiumOffer(page, false);
    await page.close();
    const res = await fetch(`${server.publicUrl}/sub/r1/bob+2`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.equal(res.status, 201, await res.clone().text());
    const link = res.headers.get('link') ?? '';
    outputs.push(await res.text(), JSON.stringify([...res.headers]));
    const links = link.split(/,\s*(?=<)/);
    assert.equal(links[0], '<stun:stun.example.org:3478>; rel="ice-server"');
    assert.equal(links.length, 1 + urls.length);
    const username = /username="([^"]+)"/.exec(links[1]!)?.[1];
    const credential = /credential="([^"]+)"/.exec(links[1]!)?.[1];
    checkTurn({ urls, ...(username ? { username } : {}), ...(credential ? { credential } : {}) });
    for (const [i, url] of urls.entries()) {
      assert.equal(
        links[i + 1],
        `<${url}>; rel="ice-server"; username="${username}"; credential="${credential}"; credential-type="password"`,
      );
    }
    assert.equal((await fetch(new URL(res.headers.get('location')!, server.publicUrl), { method: 'DELETE' })).status, 200);

    for (const out of outputs) assert.ok(!out.includes(SECRET), 'the TURN secret left the server');
    assertSecretNotLogged(server);
  });

  it('--auth: with a token set for the peer, missing or wrong → 401 and no credentials; right → 200', async () => {
    const set = await fetch(`${server.privateUrl}/create/pub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'vip', id: 'alice', token: 'tok-ice-5ecret' }),
    });
    assert.equal(set.status, 200);
    const path = paths.iceServers('pub', 'vip', 'alice+1');
    const missing = await get(path);
    assert.deepEqual([missing.status, await missing.text()], [401, 'missing bearer token\n']);
    const wrong = await get(path, 'tok-ice-wrong');
    assert.deepEqual([wrong.status, await wrong.text()], [401, 'bad token\n']);
    // alice's screen share is hers: the same token
    for (const id of ['alice+2', 'alice-screen+3']) {
      const ok = await get(paths.iceServers('pub', 'vip', id), 'tok-ice-5ecret');
      assert.equal(ok.status, 200, id);
      checkTurn((await ok.json())[1]);
    }
    assert.ok(!server.logs.some((l) => l.includes('tok-ice-5ecret')), 'the token is never logged');
    assertSecretNotLogged(server);
  });
});

/** The REST API password of `username` (what the server computes, written again here). */
const restPassword = (username: string, secret = SECRET) => createHmac('sha1', secret).update(username).digest('base64');

describe('coturn refuses expired REST credentials (a hand-built TURN Allocate over UDP)', () => {
  let turn: Turn;
  before(async () => {
    turn = await startCoturn({ auth: { secret: SECRET } });
  });
  after(() => stopCoturn(turn));

  it('expired (expiry 1 s in the past) → 401; the same request with an unexpired username → allocated', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await allocate(turn.port, `${now - 1}:expired`, restPassword(`${now - 1}:expired`));
    assert.deepEqual(expired, { ok: false, code: 401 }, 'coturn must refuse expired credentials');
    const fresh = await allocate(turn.port, `${now + 600}:fresh`, restPassword(`${now + 600}:fresh`));
    assert.deepEqual(fresh, { ok: true });
    const wrongSecret = await allocate(turn.port, `${now + 600}:forged`, restPassword(`${now + 600}:forged`, 'not-the-secret-at-all'));
    assert.deepEqual(wrongSecret, { ok: false, code: 401 }, 'credentials under another secret are refused');
  });
});

for (const transport of ['tcp', 'udp'] as const) {
  describe(`SDK with no ICE servers from the app: relay-only through coturn (REST credentials), TURN over ${transport.toUpperCase()}`, () => {
    const ctx = relaySuite((turn) => ['--turn', `turn:127.0.0.1:${turn.port}?transport=${transport}`, '--turn-ttl', '600']);

    it('the SDK gets the servers from the server; subscriber decodes video and receives audio; a WHEP player too; the demo shows relay', async () => {
      await sdkThroughRelay(ctx, `rest-${transport}`, transport);
      // the WHEP player (not our SDK) with the endpoint's servers
      const pub = await demoJoin(ctx, { room: `rest-${transport}`, name: 'carol', mode: 'publish', relayOnly: true });
      const player = await ctx.browser.newPage();
      try {
        await player.goto(`${ctx.server.publicUrl}/`);
        const servers = await player.evaluate(
          async (path) => (await fetch(path)).json(),
          paths.iceServers('whep', `rest-${transport}`, 'carol'),
        );
        await relayOnlyWith(player, servers);
        const played = await whepPlay(player, `${ctx.server.publicUrl}${paths.whep(`rest-${transport}`, 'carol')}`);
        assert.equal(played.status, 201, played.text);
        await waitFor('WHEP player frames through the relay', async () => {
          const v = await playerView(player);
          return v.videoFrames > 30 && v.audioPackets > 50;
        });
        assert.equal(await stopPlayer(player), 200);
      } finally {
        await Promise.all([leaveDemo(pub), player.close()]);
      }
      assertSecretNotLogged(ctx.server);
    });
  });
}

describe('TURN over TLS (turns:, self-signed certificate): relay-only SDK publisher and subscriber', () => {
  const cert = selfSignedCert();
  after(() => cert.remove());
  // Chromium checks a TURN server's certificate like a web server's: this one is
  // self-signed, so the browser is told to accept it.
  const ctx = relaySuite(
    (turn) => ['--turn', `turns:127.0.0.1:${turn.tlsPort}?transport=tcp`, '--turn-ttl', '600'],
    { tls: { cert: cert.cert, key: cert.key } },
    ['--ignore-certificate-errors'],
  );

  it('subscriber decodes video and receives audio; both paths relayed over TLS', async () => {
    await sdkThroughRelay(ctx, 'rest-tls', 'tls');
    assert.ok(
      ctx.turn.log.some((l) => /TLS/.test(l)),
      'coturn saw TLS sessions',
    );
  });
});

describe('UDP blocked between the browser and the server (nftables): the SDK connects through TURN/TCP', () => {
  const begin = 30000 + Math.floor(Math.random() * 4000) * 2;
  const rtc = { begin, end: begin + 40 };
  const ctx = relaySuite((turn) => [
    '--rtc-port-range',
    `${rtc.begin}-${rtc.end}`,
    '--turn',
    `turn:127.0.0.1:${turn.port},turn:127.0.0.1:${turn.port}?transport=tcp`,
    '--turn-ttl',
    '600',
  ]);
  let nft: NftTable | undefined;
  after(() => nft?.remove());

  it('iceTransportPolicy all, servers from the endpoint: connected over relay/tcp, the subscriber decodes; the rule dropped packets', async () => {
    const { turn } = ctx;
    const server = `${rtc.begin}-${rtc.end}`;
    // passes: the relay's own traffic (its relay ports) and the server's engine probe (server ↔ server)
    const allowed = `{ ${turn.relay.min}-${turn.relay.max}, ${server} }`;
    nft = await NftTable.create(`weever_turn_${process.pid}`, [
      // the browser ↔ the server's media ports
      `udp dport ${server} udp sport != ${allowed} counter name blocked drop`,
      `udp sport ${server} udp dport != ${allowed} counter name blocked drop`,
      // and TURN over UDP: a network that lets no UDP out
      `udp dport ${turn.port} counter name blocked drop`,
    ]);
    await sdkThroughRelay(ctx, 'rest-noudp', 'tcp', false);
    assert.ok((await nft.counter('blocked')) > 0, 'the rule dropped the UDP the browser tried');
  });
});
