/**
 * Participants and data messages (issue 23 items 1 and 2; docs/protocol.md "Participants",
 * "Data messages") on two instances sharing Redis and a 3-node NATS cluster, with the SDK
 * in headless Chromium: alice (publisher + subscriber) and bob on A, carol on B; and fiona in
 * Firefox ESR on B.
 *
 * - chat: 100 messages from alice reach bob (A) and carol (B), p95 of the delivery time
 *   printed and bounded at 200 ms;
 * - a 20 KiB message gets a clear error and reaches nobody; a sender in the header is
 *   refused; the rate limit answers with ERROR and the connection stays up;
 * - a viewer that only subscribes is in everyone's list within 1 s of joining, gone within
 *   1 s of leaving, and within 10 s of its browser being killed (the SDK's PING stops);
 * - SET_INFO reaches the other instance; over the limits: an error and no change;
 * - a JWT's name and attributes (single instance with --auth), `canUpdateInfo: false`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { launchFirefox } from './firefox.js';
import { launchBrowser, launchKillableBrowser, type ServerProcess, serverAndBrowser, waitFor } from './harness.js';
import { sitePage } from './sdk-page.js';
import { type Cluster, startCluster } from './services.js';

type Sdk = typeof import('../../dist/client/weever.js');
type Client = import('../../dist/client/weever.js').WeeverClient;
type W = {
  sdk: Sdk;
  c: Client;
  got: { from: string; payload: string; t: number; topic?: string }[];
  errors: string[];
  raw?: import('../../dist/client/weever.js').Connection;
  rawErrors: string[];
};

/** A page on `server` with a WeeverClient `id` in `room`; subscribes, and publishes when asked. */
async function join(
  browser: { newPage(): Promise<unknown> },
  server: ServerProcess,
  room: string,
  id: string,
  o: { publish?: boolean; token?: string } = {},
): Promise<Page> {
  const page = await sitePage(browser, server, id);
  await page.evaluate(
    async ({ room, id, publish, token }) => {
      const w = window as unknown as W;
      w.sdk = await import('/sdk/weever.js' as string);
      w.got = [];
      w.errors = [];
      w.rawErrors = [];
      w.c = new w.sdk.WeeverClient({ room, id, ...(token ? { token } : {}) });
      w.c.on('data', (d) => {
        const text = typeof d.payload === 'string' ? d.payload : `bytes:${d.payload.length}`;
        w.got.push({ from: d.from, payload: text, t: Date.now(), ...(d.topic ? { topic: d.topic } : {}) });
      });
      w.c.on('error', (e) => w.errors.push(e.reason));
      if (publish) await w.c.publish({ audio: true, video: true });
      await w.c.subscribe();
    },
    { room, id, publish: o.publish ?? false, token: o.token },
  );
  return page;
}

const participantIds = (page: Page) => page.evaluate(() => [...(window as unknown as W).c.participants.keys()].sort());
const participant = (page: Page, id: string) =>
  page.evaluate((id) => {
    const p = (window as unknown as W).c.participants.get(id);
    return p ? JSON.parse(JSON.stringify(p)) : null;
  }, id);
const received = (page: Page) => page.evaluate(() => (window as unknown as W).got);
const errorsOf = (page: Page) => page.evaluate(() => (window as unknown as W).errors);

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)]!;
}

describe('participants and data messages across two instances (Redis + NATS)', () => {
  let cluster: Cluster;
  let browser: Browser;
  let a: ServerProcess;
  let b: ServerProcess;
  const room = 'people';
  let alice: Page;
  let bob: Page;
  let carol: Page;
  let firefox: FirefoxBrowser;
  let fiona: Page;

  before(async () => {
    cluster = await startCluster(2);
    [a, b] = cluster.servers as [ServerProcess, ServerProcess];
    browser = await launchBrowser();
    alice = await join(browser, a, room, 'alice', { publish: true });
    bob = await join(browser, a, room, 'bob');
    carol = await join(browser, b, room, 'carol');
    firefox = await launchFirefox();
    fiona = await join(firefox, b, room, 'fiona');
  });
  after(async () => {
    await firefox?.close();
    await browser?.close();
    await cluster?.stop();
  });

  it('everyone lists every participant, its connections included, on both instances', async () => {
    for (const page of [alice, bob, carol, fiona]) {
      await waitFor(
        'four participants',
        async () => JSON.stringify(await participantIds(page)) === '["alice","bob","carol","fiona"]',
        5000,
      );
    }
    const seen = await participant(carol, 'alice');
    assert.equal(seen.name, 'alice');
    assert.deepEqual(
      seen.connections.map((c: { role: string }) => c.role),
      ['pub', 'sub'],
    );
    const api = await fetch(`${b.privateUrl}/rooms/${room}/participants?by=user`).then((r) => r.json());
    assert.deepEqual(
      api.map((p: { id: string }) => p.id),
      ['alice', 'bob', 'carol', 'fiona'],
    );
  });

  it('100 chat messages from alice reach bob (same instance), carol and fiona in Firefox (other instance), p95 ≤ 200 ms, in order', async () => {
    const sentAt: number[] = [];
    for (let i = 0; i < 100; i++) {
      sentAt.push(
        await alice.evaluate((i) => {
          const w = window as unknown as W;
          w.c.send(`msg ${i}`, { topic: 'chat' });
          return Date.now();
        }, i),
      );
      await new Promise((r) => setTimeout(r, 60)); // under the 20/s rate
    }
    for (const [name, page] of [
      ['bob', bob],
      ['carol', carol],
      ['fiona (Firefox)', fiona],
    ] as const) {
      const got = await waitFor(
        `${name} has 100`,
        async () => {
          const g = (await received(page)).filter((m) => m.topic === 'chat');
          return g.length >= 100 ? g : undefined;
        },
        10_000,
      );
      assert.equal(got.length, 100, `${name}: exactly 100`);
      assert.deepEqual(
        got.map((m) => m.payload),
        sentAt.map((_, i) => `msg ${i}`),
        `${name}: in order`,
      );
      assert.ok(got.every((m) => m.from === 'alice'));
      const delays = got.map((m, i) => m.t - sentAt[i]!);
      console.error(`${name}: delivery p50 ${delays.sort((x, y) => x - y)[50]} ms, p95 ${p95(delays)} ms, max ${Math.max(...delays)} ms`);
      assert.ok(p95(delays) <= 200, `${name}: p95 ${p95(delays)} ms`);
    }
    assert.equal((await received(alice)).length, 0, 'never back to the sender');
  });

  it('to named participants only (Firefox sending too); bytes stay bytes; lossy ones arrive too (loopback)', async () => {
    await alice.evaluate(() => {
      const w = window as unknown as W;
      w.c.send('for carol', { to: ['carol'] });
      w.c.send(new Uint8Array([1, 2, 3]), { to: ['bob'] });
      w.c.send('lossy hello', { reliable: false, topic: 'lossy' });
    });
    await waitFor('carol gets hers', async () => (await received(carol)).some((m) => m.payload === 'for carol'), 5000);
    await waitFor('bob gets the bytes', async () => (await received(bob)).some((m) => m.payload === 'bytes:3'), 5000);
    await waitFor(
      'lossy to both',
      async () => (await received(bob)).some((m) => m.topic === 'lossy') && (await received(carol)).some((m) => m.topic === 'lossy'),
      5000,
    );
    await fiona.evaluate(() => (window as unknown as W).c.send('from firefox', { to: ['alice'] }));
    await waitFor(
      'alice gets fiona’s',
      async () => (await received(alice)).some((m) => m.payload === 'from firefox' && m.from === 'fiona'),
      5000,
    );
    assert.ok(!(await received(bob)).some((m) => m.payload === 'for carol'));
    assert.ok(!(await received(carol)).some((m) => m.payload === 'bytes:3'));
  });

  it('a 20 KiB message, a forged sender and a flood: clear errors, nothing relayed, the connection stays up', async () => {
    const before = { bob: (await received(bob)).length, carol: (await received(carol)).length };
    // the SDK refuses it before sending
    const sdkError = await alice.evaluate(() => {
      try {
        (window as unknown as W).c.send('x'.repeat(20 * 1024));
        return null;
      } catch (err) {
        return String((err as Error).message);
      }
    });
    assert.equal(sdkError, 'data message too large (20480 bytes, limit 16384)');
    // a client that sends it anyway (the raw channel of a connection of mallory's): the server refuses
    await alice.evaluate(
      async ({ room, url }) => {
        const w = window as unknown as W;
        w.raw = await w.sdk.Connection.open({
          url,
          role: 'sub',
          room,
          fullId: w.sdk.newFullId('mallory'),
          handlers: { error: (e) => w.rawErrors.push(e.reason) },
        });
        w.raw.dc.send(`DATA {}\n${'x'.repeat(20 * 1024)}`);
        w.raw.dc.send('DATA {"from":"alice"}\nforged');
      },
      { room, url: a.publicUrl },
    );
    await waitFor('two refusals', async () => (await alice.evaluate(() => (window as unknown as W).rawErrors)).length >= 2, 5000);
    const refusals = await alice.evaluate(() => (window as unknown as W).rawErrors);
    assert.deepEqual(refusals.slice(0, 2), [
      'DATA: payload too large (20480 bytes, limit 16384)',
      'DATA header must not name a sender ("from" is set by the server)',
    ]);
    // a flood: 60 at once, over the burst of 40
    await alice.evaluate(() => {
      const w = window as unknown as W;
      for (let i = 0; i < 60; i++) w.raw!.dc.send(`DATA {"topic":"flood"}\n${i}`);
    });
    await waitFor(
      'rate-limit refusals',
      async () => (await alice.evaluate(() => (window as unknown as W).rawErrors)).some((e) => e.startsWith('DATA: rate limit')),
      5000,
    );
    await waitFor('the first 40 arrive', async () => (await received(carol)).filter((m) => m.topic === 'flood').length >= 40, 5000);
    const flood = (await received(carol)).filter((m) => m.topic === 'flood');
    assert.ok(flood.length < 60, `some refused (${flood.length} of 60 relayed)`);
    assert.ok(
      flood.every((m) => m.from === 'mallory'),
      'stamped with the sending connection’s user',
    );
    // still up: after the bucket refilled, one more goes through
    await new Promise((r) => setTimeout(r, 1000));
    await alice.evaluate(() => (window as unknown as W).raw!.dc.send('DATA {"topic":"after"}\nstill here'));
    await waitFor('after the flood', async () => (await received(bob)).some((m) => m.topic === 'after'), 5000);
    const nothing = [...(await received(bob)).slice(before.bob), ...(await received(carol)).slice(before.carol)];
    assert.ok(
      !nothing.some((m) => m.payload.length >= 16_384 || m.payload === 'forged'),
      'neither the big one nor the forged one was relayed',
    );
    await alice.evaluate(() => (window as unknown as W).raw!.close());
  });

  it('a viewer that only subscribes is in every list within 1 s, and gone within 1 s of leaving', async () => {
    const start = Date.now();
    const dave = await join(browser, b, room, 'dave');
    const joinedAfter = Date.now() - start;
    const inLists = async () => {
      const lists = await Promise.all([alice, bob, carol, fiona].map(participantIds));
      return lists.every((l) => l.includes('dave'));
    };
    await waitFor('dave listed everywhere', inLists, 5000, 20);
    const listed = Date.now() - start;
    console.error(`dave: joined (subscribe resolved) ${joinedAfter} ms, in every list ${listed} ms after starting`);
    assert.ok(listed - joinedAfter <= 1000, `listed ${listed - joinedAfter} ms after his connection`);
    const leaving = Date.now();
    await dave.evaluate(() => (window as unknown as W).c.close());
    await waitFor(
      'dave gone everywhere',
      async () => !(await Promise.all([alice, bob, carol, fiona].map(participantIds))).some((l) => l.includes('dave')),
      5000,
      20,
    );
    const gone = Date.now() - leaving;
    console.error(`dave: gone from every list ${gone} ms after close()`);
    assert.ok(gone <= 1000, `gone after ${gone} ms`);
    await dave.close();
  });

  it('a viewer whose browser is killed (no goodbye) is gone from every list within 10 s', async () => {
    const killable = await launchKillableBrowser();
    try {
      await join(killable.browser, a, room, 'erin');
      const lists = () => Promise.all([alice, bob, carol, fiona].map(participantIds));
      await waitFor('erin listed everywhere', async () => (await lists()).every((l) => l.includes('erin')), 5000, 20);
      const killed = Date.now();
      killable.kill();
      await waitFor('erin gone everywhere', async () => !(await lists()).some((l) => l.includes('erin')), 15_000, 100).catch((e) => {
        console.error(a.logs.filter((l) => l.includes('erin')).join('\n'));
        throw e;
      });
      const gone = Date.now() - killed;
      console.error(`erin: gone from every list ${gone} ms after SIGKILL`);
      assert.ok(gone <= 10_000, `gone after ${gone} ms`);
      // her session may live on until --media-timeout; away, she is not in the API's list either
      const api = await fetch(`${a.privateUrl}/rooms/${room}/participants?by=user`).then((r) => r.json());
      assert.ok(!api.some((p: { id: string }) => p.id === 'erin'), 'the private API leaves her out too');
    } finally {
      killable.kill();
    }
  });

  it('SET_INFO reaches the other instance; over the limits: an error and no change', async () => {
    await carol.evaluate(() => (window as unknown as W).c.setInfo({ name: 'Carol C.', attributes: { hand: 'up' } }));
    await waitFor('alice sees it', async () => (await participant(alice, 'carol'))?.attributes?.hand === 'up', 5000);
    await waitFor('fiona sees it', async () => (await participant(fiona, 'carol'))?.attributes?.hand === 'up', 5000);
    assert.equal((await participant(alice, 'carol')).name, 'Carol C.');
    await carol.evaluate(() => (window as unknown as W).c.setInfo({ attributes: { hand: null } }));
    await waitFor('hand down', async () => (await participant(bob, 'carol'))?.attributes?.hand === undefined, 5000);
    const tooLong = await carol.evaluate(() => {
      try {
        (window as unknown as W).c.setInfo({ name: 'x'.repeat(200) });
        return null;
      } catch (err) {
        return String((err as Error).message);
      }
    });
    assert.equal(tooLong, 'name must be at most 128 characters');
    // past the SDK, the server says the same
    await carol.evaluate(() => {
      const w = window as unknown as W;
      const conn = (w.c as unknown as { links: Map<string, { conn: { dc: RTCDataChannel } }> }).links.get('subscriber')!.conn;
      conn.dc.send(`SET_INFO {"name":"${'x'.repeat(200)}"}`);
    });
    await waitFor(
      'the server refuses',
      async () => (await errorsOf(carol)).some((e) => e === 'SET_INFO: name must be at most 128 characters'),
      5000,
    );
    assert.equal((await participant(alice, 'carol')).name, 'Carol C.');
  });
});

describe('a JWT names the participant', () => {
  const SECRET = 'a-test-secret-of-at-least-32-characters!';
  const ctx = serverAndBrowser(['--auth'], { WEEVER_JWT_SECRET: SECRET });
  const token = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

  it('name and attributes from the claims; canUpdateInfo: false refuses SET_INFO', async () => {
    const t = await token({
      room: 'jw',
      id: 'erin',
      roles: ['pub', 'sub'],
      name: 'Erin E.',
      attributes: { role: 'teacher' },
      canUpdateInfo: false,
    });
    const page = await join(ctx.browser, ctx.server, 'jw', 'erin', { token: t });
    await waitFor('erin listed', async () => (await participant(page, 'erin'))?.name === 'Erin E.', 5000);
    assert.deepEqual((await participant(page, 'erin')).attributes, { role: 'teacher' });
    await page.evaluate(() => (window as unknown as W).c.setInfo({ name: 'Someone else' }));
    await waitFor(
      'refused',
      async () => (await errorsOf(page)).some((e) => e.startsWith('SET_INFO: this participant may not change')),
      5000,
    );
    assert.equal((await participant(page, 'erin')).name, 'Erin E.');
    const bad = await token({ room: 'jw', id: 'frank', role: 'sub', name: 42 });
    const r = await fetch(`${ctx.server.publicUrl}/sub/jw/frank+1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${bad}` },
      body: 'v=0\r\n',
    });
    assert.equal(r.status, 401);
    assert.match(await r.text(), /token claim invalid: name must be a string/);
    await page.evaluate(() => (window as unknown as W).c.close());
    await page.close();
  });
});
