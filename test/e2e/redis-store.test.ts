/**
 * The Redis state store (docs/protocol.md, "Several instances: Redis and NATS": keys
 * and instance ownership) against a real `redis-server`: the protocol's key names,
 * types and TTLs, the owner sets and
 * heartbeats, reaping of a dead instance (a child process killed with -9) exactly once,
 * and the resync that removes a ghost after Redis is killed and restarted from its AOF.
 * Redis is inspected directly with its own ioredis client.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type ReapedPeer, RedisStateStore } from '../../src/state/redis.js';
import { STATE_TTL_SECONDS } from '../../src/state/store.js';
import { type MemoryLog, memoryLog } from '../helpers/log.js';
import { tracksOf } from '../helpers/tracks.js';
import { waitFor } from './harness.js';
import { endProcess, type RedisServer, startRedis } from './services.js';

/** A store with its callbacks recorded and its log lines captured. */
interface Probe {
  store: RedisStateStore;
  id: string;
  reaped: { peers: ReapedPeer[]; instance: string; at: number }[];
  resynced: number;
  logs: MemoryLog;
}

let redis: RedisServer;
let inspect: Redis;
let probes: Probe[] = [];
let children: ChildProcess[] = [];

beforeEach(async () => {
  redis = await startRedis();
  inspect = new Redis(redis.url);
  inspect.on('error', () => {
    // Redis is killed on purpose in one test; this client reconnects by itself.
  });
});

afterEach(async () => {
  for (const c of children) await endProcess(c, 'SIGKILL');
  children = [];
  await Promise.allSettled(probes.map((p) => p.store.close()));
  probes = [];
  inspect.disconnect();
  await redis.stop();
});

async function open(id: string): Promise<Probe> {
  const probe = { id, reaped: [], resynced: 0, logs: memoryLog('debug') } as unknown as Probe;
  probe.store = await RedisStateStore.connect({
    url: redis.url,
    instanceId: id,
    log: probe.logs.log,
    onReaped: (peers, instance) => void probe.reaped.push({ peers, instance, at: Date.now() }),
    onResynced: () => void probe.resynced++,
  });
  probes.push(probe);
  return probe;
}

const sorted = (xs: string[]) => [...xs].sort();

async function assertTtl24h(key: string): Promise<void> {
  const ttl = await inspect.ttl(key);
  assert.ok(ttl >= 86_000 && ttl <= STATE_TTL_SECONDS, `TTL of ${key} is ${ttl}, want 86000..86400`);
}

describe('protocol keys', () => {
  it('addPeer/setMedia/setToken write exactly the protocol keys, types and 24 h TTLs; reads and removals use them', async () => {
    const a = await open('inst-a');
    const b = await open('inst-b');
    const room = 'r1';

    assert.equal(await a.store.addPeer('pub', room, 'alice+p1'), true);
    assert.equal(await a.store.addPeer('sub', room, 'bob+s1'), true);
    await a.store.setMedia(room, 'alice+p1', tracksOf(1, 2));
    await a.store.setToken('pub', room, 'alice', 'tok-pub');
    await a.store.setToken('sub', room, 'bob', 'tok-sub');

    // Exactly these keys in Redis: the rooms' and tokens' and the instances' (B owns nothing, so no owner set).
    await waitFor('heartbeats of both instances', async () => (await inspect.exists('instance#inst-a', 'instance#inst-b')) === 2);
    assert.deepEqual(
      sorted(await inspect.keys('*')),
      sorted([
        'room#r1#pub_list',
        'room#r1#sub_list',
        'room#r1#media',
        'token#pub#r1#alice',
        'token#sub#r1#bob',
        'instances',
        'instance#inst-a',
        'instance#inst-a#peers',
        'instance#inst-b',
      ]),
    );
    const types: Record<string, string> = {
      'room#r1#pub_list': 'set',
      'room#r1#sub_list': 'set',
      'room#r1#media': 'hash',
      'token#pub#r1#alice': 'string',
      'token#sub#r1#bob': 'string',
    };
    for (const [key, type] of Object.entries(types)) {
      assert.equal(await inspect.type(key), type, `TYPE ${key}`);
      await assertTtl24h(key);
    }
    assert.deepEqual(await inspect.smembers('room#r1#pub_list'), ['alice+p1']);
    assert.deepEqual(await inspect.smembers('room#r1#sub_list'), ['bob+s1']);
    // the count first (what the original project stores), then the stable track ids
    assert.deepEqual(await inspect.hgetall('room#r1#media'), { 'alice+p1#audio': '1;audio0', 'alice+p1#video': '2;video0,video1' });
    assert.equal(await inspect.get('token#pub#r1#alice'), 'tok-pub');

    // A duplicate full id is refused, by the same instance or another, and owned by nobody new.
    assert.equal(await a.store.addPeer('pub', room, 'alice+p1'), false);
    assert.equal(await b.store.addPeer('pub', room, 'alice+p1'), false);
    assert.equal(await b.store.addPeer('sub', room, 'bob+s1'), false);
    assert.deepEqual(sorted(await inspect.smembers('instance#inst-a#peers')), ['pub r1 alice+p1', 'sub r1 bob+s1']);
    assert.equal(await inspect.exists('instance#inst-b#peers'), 0);
    assert.equal(a.store.localEntries(), 3);
    assert.equal(b.store.localEntries(), 0);

    // The same view from both instances: that is what makes them agree.
    for (const s of [a.store, b.store]) {
      assert.deepEqual(await s.listPeers('pub', room), ['alice+p1']);
      assert.deepEqual(await s.listPeers('sub', room), ['bob+s1']);
      assert.deepEqual(await s.getMedia(room), new Map([['alice+p1', tracksOf(1, 2)]]));
      assert.equal(await s.getToken('pub', room, 'alice'), 'tok-pub');
      assert.equal(await s.getToken('sub', room, 'bob'), 'tok-sub');
      assert.equal(await s.getToken('sub', room, 'nobody'), null);
      assert.deepEqual(await s.listPeers('pub', 'elsewhere'), []);
    }
    assert.equal(await b.store.addPeer('sub', room, 'carol+s2'), true);
    assert.deepEqual(sorted(await a.store.listPeers('sub', room)), ['bob+s1', 'carol+s2']);
    await assertTtl24h('room#r1#sub_list');

    // Removals delete what they wrote.
    await a.store.removeMedia(room, 'alice+p1');
    assert.equal(await inspect.exists('room#r1#media'), 0);
    assert.deepEqual(await b.store.getMedia(room), new Map());
    await a.store.removePeer('pub', room, 'alice+p1');
    assert.equal(await inspect.exists('room#r1#pub_list'), 0);
    assert.deepEqual(await b.store.listPeers('pub', room), []);
    await a.store.removePeer('sub', room, 'bob+s1');
    await b.store.removePeer('sub', room, 'carol+s2');
    assert.equal(await inspect.exists('room#r1#sub_list'), 0);
    await a.store.removeToken('pub', room, 'alice');
    await b.store.removeToken('sub', room, 'bob');
    assert.equal(await inspect.exists('token#pub#r1#alice', 'token#sub#r1#bob'), 0);
    assert.equal(await a.store.getToken('pub', room, 'alice'), null);
    assert.deepEqual(await inspect.keys('room#*'), []);
    assert.deepEqual(await inspect.keys('token#*'), []);
  });
});

describe('ownership', () => {
  it('owner sets hold `<role> <room> <fullId>` of the peers each instance added; heartbeats expire in 5 s and are rewritten', async () => {
    const a = await open('own-a');
    const b = await open('own-b');
    assert.equal(await a.store.addPeer('pub', 'r2', 'alice+p1'), true);
    assert.equal(await a.store.addPeer('sub', 'r2', 'bob+s1'), true);
    assert.equal(await a.store.addPeer('sub', 'other', 'bob+s9'), true);
    assert.equal(await b.store.addPeer('sub', 'r2', 'carol+s2'), true);

    assert.deepEqual(sorted(await inspect.smembers('instance#own-a#peers')), ['pub r2 alice+p1', 'sub other bob+s9', 'sub r2 bob+s1']);
    assert.deepEqual(await inspect.smembers('instance#own-b#peers'), ['sub r2 carol+s2']);
    assert.equal(await inspect.type('instance#own-a#peers'), 'set');
    await assertTtl24h('instance#own-a#peers');
    await waitFor('both ids in `instances`', async () => sorted(await inspect.smembers('instances')).join() === 'own-a,own-b');

    for (const id of ['own-a', 'own-b']) {
      const pttl = await inspect.pttl(`instance#${id}`);
      assert.ok(pttl > 0 && pttl <= 5000, `PTTL of instance#${id} is ${pttl}, want 1..5000`);
    }
    // Rewritten every second: the value (a timestamp) changes, the key never lapses.
    const first = await inspect.get('instance#own-a');
    assert.ok(first);
    await waitFor(
      'a newer heartbeat',
      async () => {
        const v = await inspect.get('instance#own-a');
        assert.ok(v, 'heartbeat lapsed');
        return v !== first;
      },
      3000,
      50,
    );

    await a.store.removePeer('sub', 'r2', 'bob+s1');
    assert.deepEqual(sorted(await inspect.smembers('instance#own-a#peers')), ['pub r2 alice+p1', 'sub other bob+s9']);
    assert.deepEqual(await inspect.smembers('room#r2#sub_list'), ['carol+s2']);
    await b.store.removePeer('sub', 'r2', 'carol+s2');
    assert.equal(await inspect.exists('instance#own-b#peers'), 0);
  });
});

// A store in its own process, killed with -9 after it has added a pub (with media) and a sub.
const DEAD_INSTANCE = `
const { RedisStateStore } = await import(process.env.STORE_MODULE);
const noop = () => {};
const log = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop };
const room = process.env.ROOM;
const store = await RedisStateStore.connect({ url: process.env.REDIS_URL, instanceId: process.env.INSTANCE, log, onReaped: noop, onResynced: noop });
if (!(await store.addPeer('pub', room, 'xpub+1'))) throw new Error('pub refused');
await store.setMedia(room, 'xpub+1', [{ kind: 'audio', trackId: 'audio0' }, { kind: 'video', trackId: 'video0' }]);
if (!(await store.addPeer('sub', room, 'xsub+1'))) throw new Error('sub refused');
process.stdout.write('ready\\n');
setInterval(noop, 1 << 30);
`;

async function startDeadToBe(instance: string, room: string): Promise<ChildProcess> {
  return (await startChild(DEAD_INSTANCE, instance, room)).child;
}

/** Runs `script` as a store in its own process; resolves once it printed `ready`, with every stdout line it prints. */
async function startChild(script: string, instance: string, room: string): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      ...process.env,
      STORE_MODULE: new URL('../../src/state/redis.js', import.meta.url).href,
      REDIS_URL: redis.url,
      INSTANCE: instance,
      ROOM: room,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const out: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (l) => void out.push(l));
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (l) => l === 'ready' && resolve());
      child.once('exit', (code) => reject(new Error(`instance ${instance} exited with ${code} before it was ready`)));
      timer = setTimeout(() => reject(new Error(`instance ${instance} not ready in 10 s`)), 10_000);
    });
  } finally {
    clearTimeout(timer);
  }
  return { child, lines: out };
}

describe('reaping', () => {
  it('a dead instance (kill -9) is reaped by exactly one of two racing survivors within ~7 s, and only its own entries', async (t) => {
    const room = 'r3';
    const x = await startDeadToBe('dead-x', room);
    assert.deepEqual(sorted(await inspect.smembers('instance#dead-x#peers')), ['pub r3 xpub+1', 'sub r3 xsub+1']);
    assert.deepEqual(await inspect.smembers('instances'), ['dead-x']);
    assert.deepEqual(await inspect.smembers('room#r3#pub_list'), ['xpub+1']);
    assert.deepEqual(await inspect.smembers('room#r3#sub_list'), ['xsub+1']);
    assert.deepEqual(await inspect.hgetall('room#r3#media'), { 'xpub+1#audio': '1;audio0', 'xpub+1#video': '1;video0' });
    assert.equal(await inspect.exists('instance#dead-x'), 1);
    await endProcess(x, 'SIGKILL');

    // Every reaping attempt on dead-x, as Redis executes them.
    const base = new Redis(redis.url);
    base.on('error', () => {});
    t.after(() => base.disconnect());
    const monitor = await base.monitor();
    monitor.on('error', () => {});
    const attempts: number[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (/^eval/i.test(args[0] ?? '') && args.includes('instance#dead-x#peers')) attempts.push(Date.now());
    });
    t.after(() => monitor.disconnect());

    // Two survivors connected at once: each judges others only after 5 s of its own connection.
    const openedAt = Date.now();
    const [b, c] = await Promise.all([open('live-b'), open('live-c')]);
    assert.equal(await b.store.addPeer('pub', room, 'bpub+1'), true);
    await b.store.setMedia(room, 'bpub+1', tracksOf(1, 2));
    assert.equal(await c.store.addPeer('sub', room, 'csub+1'), true);
    const all = () => [...b.reaped, ...c.reaped];
    assert.equal(all().length, 0);

    // Make them race: Redis pauses every client across their first eligible ticks (5 to 6 s after
    // connecting), so both read `instances` and both send the reaping script before either gets a reply.
    await sleep(Math.max(0, openedAt + 4600 - Date.now()));
    assert.equal(all().length, 0, 'reaped before the survivors waited 5 s');
    await inspect.call('CLIENT', 'PAUSE', '1600', 'ALL');

    await waitFor('the dead instance reaped', () => all().length > 0, Math.max(0, openedAt + 7000 - Date.now()), 20);
    const reapedIn = all()[0]!.at - openedAt;
    t.diagnostic(`reaped ${reapedIn} ms after the survivors connected; ${attempts.length} attempts so far`);
    // Long enough for a second reap if the script were not exactly-once.
    await sleep(2000);
    assert.equal(all().length, 1, `onReaped fired ${all().length} times: ${JSON.stringify(all())}`);
    assert.ok(attempts.length >= 2, `only ${attempts.length} reaping attempt(s): the survivors did not race`);
    const [r] = all();
    assert.equal(r!.instance, 'dead-x');
    assert.deepEqual(
      [...r!.peers].sort((p, q) => p.fullId.localeCompare(q.fullId)),
      [
        { role: 'pub', room, fullId: 'xpub+1' },
        { role: 'sub', room, fullId: 'xsub+1' },
      ],
    );
    const reaper = b.reaped.length === 1 ? b : c;
    assert.equal(reaper.logs.entries('reaped a dead instance').filter((l) => l.instance === 'dead-x').length, 1);

    // Its entries are gone; the survivors' (live heartbeats) are untouched.
    assert.deepEqual(await inspect.smembers('room#r3#pub_list'), ['bpub+1']);
    assert.deepEqual(await inspect.smembers('room#r3#sub_list'), ['csub+1']);
    assert.deepEqual(await inspect.hgetall('room#r3#media'), { 'bpub+1#audio': '1;audio0', 'bpub+1#video': '2;video0,video1' });
    assert.deepEqual(sorted(await inspect.smembers('instances')), ['live-b', 'live-c']);
    assert.equal(await inspect.exists('instance#dead-x#peers', 'instance#dead-x'), 0);
    assert.deepEqual(await inspect.smembers('instance#live-b#peers'), ['pub r3 bpub+1']);
    assert.deepEqual(await inspect.smembers('instance#live-c#peers'), ['sub r3 csub+1']);
    assert.ok(reapedIn <= 7000, `reaped ${reapedIn} ms after the survivors connected`);
  });
});

// A store in its own process that stays alive: it prints its warnings and errors (as JSON lines)
// and `resynced` for every onResynced call, so the test sees what it noticed after a pause.
const LIVE_INSTANCE = `
const { RedisStateStore } = await import(process.env.STORE_MODULE);
const noop = () => {};
const say = (level) => (a, b) => process.stdout.write(JSON.stringify({ level, msg: typeof a === 'string' ? a : b }) + '\\n');
const log = { trace: noop, debug: noop, info: noop, warn: say('warn'), error: say('error'), fatal: say('fatal') };
const room = process.env.ROOM;
const onResynced = () => process.stdout.write('resynced\\n');
const store = await RedisStateStore.connect({ url: process.env.REDIS_URL, instanceId: process.env.INSTANCE, log, onReaped: noop, onResynced });
if (!(await store.addPeer('pub', room, 'alive+1'))) throw new Error('pub refused');
await store.setMedia(room, 'alive+1', [{ kind: 'audio', trackId: 'audio0' }, { kind: 'video', trackId: 'video0' }]);
if (!(await store.addPeer('sub', room, 'viewer+1'))) throw new Error('sub refused');
process.stdout.write('ready\\n');
setInterval(noop, 1 << 30);
`;

describe('reaped while alive', () => {
  it('an instance reaped while alive (paused past its heartbeat) writes its entries back when it resumes', async () => {
    const room = 'r';
    const { child: x, lines } = await startChild(LIVE_INSTANCE, 'paused-x', room);
    const xEntries = ['pub r alive+1', 'sub r viewer+1'];
    assert.deepEqual(sorted(await inspect.smembers('instance#paused-x#peers')), xEntries);
    await waitFor('the heartbeat of paused-x', async () => (await inspect.exists('instance#paused-x')) === 1);
    assert.equal(await inspect.sismember('instances', 'paused-x'), 1);

    const b = await open('alive-b');
    // Paused like a process stopped by the OS or a debugger: its socket stays open, it just says nothing.
    assert.ok(x.kill('SIGSTOP'));
    const stoppedAt = Date.now();

    // Its heartbeat lapses within 5 s; B judges others 5 s after connecting, then reaps it.
    await waitFor('B to reap the paused instance', () => b.reaped.some((r) => r.instance === 'paused-x'), 10_000, 50);
    await waitFor(
      'the paused instance gone from Redis',
      async () =>
        (await inspect.scard('room#r#pub_list')) === 0 &&
        (await inspect.scard('room#r#sub_list')) === 0 &&
        (await inspect.exists('room#r#media', 'instance#paused-x#peers')) === 0 &&
        (await inspect.sismember('instances', 'paused-x')) === 0,
      2000,
      50,
    );
    assert.equal(b.reaped.length, 1);
    assert.deepEqual(
      [...b.reaped[0]!.peers].sort((p, q) => p.fullId.localeCompare(q.fullId)),
      [
        { role: 'pub', room, fullId: 'alive+1' },
        { role: 'sub', room, fullId: 'viewer+1' },
      ],
    );
    assert.ok(!lines.includes('resynced'), 'the paused instance resynced before it resumed');

    assert.ok(x.kill('SIGCONT'));
    const resumedAt = Date.now();
    await waitFor(
      'the resumed instance to write its entries back',
      async () =>
        sorted(await inspect.smembers('room#r#pub_list')).join() === 'alive+1' &&
        (await inspect.sismember('room#r#sub_list', 'viewer+1')) === 1 &&
        (await inspect.hget('room#r#media', 'alive+1#audio')) === '1;audio0' &&
        (await inspect.hget('room#r#media', 'alive+1#video')) === '1;video0' &&
        sorted(await inspect.smembers('instance#paused-x#peers')).join() === xEntries.join() &&
        (await inspect.sismember('instances', 'paused-x')) === 1,
      5000,
      50,
    );
    const back = Date.now() - resumedAt;
    assert.deepEqual(await inspect.smembers('room#r#pub_list'), ['alive+1']);
    assert.deepEqual(await inspect.smembers('room#r#sub_list'), ['viewer+1']);
    assert.deepEqual(await inspect.hgetall('room#r#media'), { 'alive+1#audio': '1;audio0', 'alive+1#video': '1;video0' });
    assert.equal(await inspect.exists('instance#paused-x'), 1);
    await assertTtl24h('room#r#pub_list');
    await assertTtl24h('instance#paused-x#peers');

    // The full id is taken again: B cannot hand it out to anyone else.
    assert.equal(await b.store.addPeer('pub', room, 'alive+1'), false);
    assert.equal(await b.store.addPeer('sub', room, 'viewer+1'), false);
    assert.equal(await inspect.exists('instance#alive-b#peers'), 0);

    // X said why, and told its rooms (onResynced).
    await waitFor('the resumed instance to report onResynced', () => lines.includes('resynced'), 2000, 20);
    const said = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.equal(
      said.filter((l) => l.level === 'warn' && l.msg === 'this instance was reaped while alive; rewriting its entries').length,
      1,
      `paused-x said: ${JSON.stringify(said)}`,
    );
    assert.equal(lines.filter((l) => l === 'resynced').length, 1);
    // Beating again: not reaped a second time.
    assert.equal(b.reaped.length, 1);
    assert.ok(back < 5000 && resumedAt - stoppedAt < 12_000);
  });
});

describe('resync', () => {
  it('after Redis is killed and restarted with its data, the ghost of a peer removed meanwhile is gone', async (t) => {
    const room = 'r4';
    const s = await open('sync-s');
    assert.equal(await s.store.addPeer('sub', room, 'a'), true);
    assert.equal(await s.store.addPeer('sub', room, 'b'), true);
    assert.equal(await s.store.addPeer('pub', room, 'p'), true);
    await s.store.setMedia(room, 'p', tracksOf(1, 1));
    assert.equal(s.store.health(), null);
    assert.equal(s.resynced, 0);

    await redis.kill();
    const down = await waitFor('health() to report Redis down', () => s.store.health(), 5000, 20);
    assert.equal(typeof down, 'string');
    // No offline queue: calls fail at once.
    const t0 = performance.now();
    await assert.rejects(s.store.removePeer('sub', room, 'b'));
    await assert.rejects(s.store.addPeer('sub', room, 'late'));
    await assert.rejects(s.store.listPeers('sub', room));
    const failedIn = performance.now() - t0;
    t.diagnostic(`3 calls failed in ${failedIn.toFixed(1)} ms`);
    // A queue flushed at the next reconnect attempt would take 100 ms or more.
    assert.ok(failedIn < 100, `calls took ${failedIn.toFixed(1)} ms to fail while Redis is down`);
    assert.notEqual(s.store.health(), null);
    assert.equal(s.store.localEntries(), 3); // a, p and p's media: b is forgotten

    await redis.restart(); // the AOF brings `b` back: a ghost
    await waitFor('Redis usable and our entries rewritten', () => s.store.health() === null && s.resynced > 0, 10_000, 50);

    assert.deepEqual(await inspect.smembers('room#r4#sub_list'), ['a']);
    assert.deepEqual(await inspect.smembers('room#r4#pub_list'), ['p']);
    assert.deepEqual(await inspect.hgetall('room#r4#media'), { 'p#audio': '1;audio0', 'p#video': '1;video0' });
    assert.deepEqual(sorted(await inspect.smembers('instance#sync-s#peers')), ['pub r4 p', 'sub r4 a']);
    assert.deepEqual(await s.store.listPeers('sub', room), ['a']);
    assert.deepEqual(await inspect.smembers('instances'), ['sync-s']);
    assert.equal(await inspect.exists('instance#sync-s'), 1);
    await assertTtl24h('room#r4#sub_list');
    await assertTtl24h('room#r4#media');
    // Usable again.
    assert.equal(await s.store.addPeer('sub', room, 'b'), true);
    assert.deepEqual(sorted(await inspect.smembers('instance#sync-s#peers')), ['pub r4 p', 'sub r4 a', 'sub r4 b']);
  });
});

describe('local entries and close', () => {
  it('localEntries counts owned peers and media, back to 0 after removals; close() then removes heartbeat, owner set and id', async () => {
    const a = await open('close-a');
    const room = 'r5';
    assert.equal(a.store.localEntries(), 0);
    assert.equal(await a.store.addPeer('pub', room, 'p1'), true);
    assert.equal(a.store.localEntries(), 1);
    await a.store.setMedia(room, 'p1', tracksOf(1, 1));
    assert.equal(a.store.localEntries(), 2);
    await a.store.setMedia(room, 'p1', tracksOf(0, 1));
    assert.equal(a.store.localEntries(), 2);
    assert.equal(await a.store.addPeer('sub', room, 's1'), true);
    assert.equal(a.store.localEntries(), 3);
    assert.equal(await a.store.addPeer('sub', room, 's1'), false);
    assert.equal(a.store.localEntries(), 3);
    await a.store.setMedia(room, 'not-ours', tracksOf(1, 1)); // not owned: ignored
    assert.equal(a.store.localEntries(), 3);
    assert.equal(await inspect.hexists('room#r5#media', 'not-ours#audio'), 0);
    await a.store.removePeer('sub', room, 'never-added');
    assert.equal(a.store.localEntries(), 3);
    await a.store.removeMedia(room, 'p1');
    assert.equal(a.store.localEntries(), 2);
    await a.store.removePeer('pub', room, 'p1');
    assert.equal(a.store.localEntries(), 1);
    await a.store.removePeer('sub', room, 's1');
    assert.equal(a.store.localEntries(), 0);

    await waitFor('heartbeat of close-a', async () => (await inspect.exists('instance#close-a')) === 1);
    assert.equal(await inspect.sismember('instances', 'close-a'), 1);
    await a.store.close();
    assert.equal(await inspect.exists('instance#close-a', 'instance#close-a#peers'), 0);
    assert.equal(await inspect.sismember('instances', 'close-a'), 0);
    assert.deepEqual(await inspect.keys('*'), []);
  });

  it('close() while still owning peers leaves them (and the id) for the survivors to reap', async () => {
    const a = await open('close-b');
    assert.equal(await a.store.addPeer('pub', 'r6', 'p1'), true);
    await a.store.close();
    assert.equal(await inspect.sismember('instances', 'close-b'), 1);
    assert.deepEqual(await inspect.smembers('instance#close-b#peers'), ['pub r6 p1']);
    assert.deepEqual(await inspect.smembers('room#r6#pub_list'), ['p1']);
    const pttl = await inspect.pttl('instance#close-b');
    assert.ok(pttl > 0 && pttl <= 5000, `heartbeat PTTL ${pttl}`);
  });
});
