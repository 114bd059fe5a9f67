/**
 * The NATS bus (src/bus/nats.ts) against real nats-server processes: a 3-node routed
 * cluster for delivery, subscriptions, keyframe requests, room events and a node killed;
 * a single server with a small max_payload for publish errors. Buses are real NatsBus
 * instances in this process, each on its own node, as the instances of a cluster are.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RtpHeader } from 'weever-rtp';
import type { PacketSink, RoomEvent, TrackSender } from '../../src/bus/bus.js';
import { NatsBus } from '../../src/bus/nats.js';
import { type MemoryLog, memoryLog } from '../helpers/log.js';
import { rtpPacket } from '../helpers/rtp.js';
import { waitFor } from './harness.js';
import { accepts, endProcess, freePort, type NatsCluster, startNatsCluster } from './services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Also run after the test whatever its outcome, so that a failure does not leak into the next test (all are idempotent). */
function undo<T extends () => unknown>(t: TestContext, fn: T): T {
  t.after(() => {
    fn();
  });
  return fn;
}

interface BusAndLog {
  bus: NatsBus;
  lines: string[];
  entries: MemoryLog['entries'];
}

const buses: NatsBus[] = [];
async function busOn(servers: string[], name: string, errorLogIntervalMs?: number): Promise<BusAndLog> {
  const { log, lines, entries } = memoryLog();
  const bus = await NatsBus.connect({ servers, name, log, errorLogIntervalMs });
  buses.push(bus);
  return { bus, lines, entries };
}

/** `urls[own]` first, then the others: each instance names its own node first. */
function ordered(urls: string[], own: number): string[] {
  return [urls[own]!, ...urls.filter((_, j) => j !== own)];
}

/** A valid RTP packet of `size` bytes: PT 96, `seq`, a timestamp, `ssrc`, then a payload derived from seq. */
function rtp(seq: number, ssrc: number, size = 1200): Buffer {
  return rtpPacket({ pt: 96, seq, ts: seq * 3000, ssrc, payload: size - 12 });
}

function send(sender: TrackSender, seq: number, ssrc: number, size?: number): void {
  const p = rtp(seq, ssrc, size);
  const h = new RtpHeader();
  assert.ok(h.read(p));
  sender.send(p, h);
}

interface Got {
  seq: number;
  ssrc: number;
  /** header fields equal to the packet's bytes, payload intact, a Buffer */
  ok: boolean;
}

/** Records every packet with a check of header, bytes and payload. */
class RecordingSink implements PacketSink {
  readonly got: Got[] = [];
  onPacket(packet: Buffer, header: RtpHeader): void {
    const seq = (packet[2]! << 8) | packet[3]!;
    const ssrc = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
    let ok = Buffer.isBuffer(packet) && header.seq === seq && header.ssrc === ssrc && packet[0] === 0x80 && packet[1] === 96;
    for (let i = 12; ok && i < packet.length; i++) ok = packet[i] === ((seq + i) & 0xff);
    this.got.push({ seq, ssrc, ok });
  }
  of(ssrc: number): Got[] {
    return this.got.filter((g) => g.ssrc === ssrc);
  }
}

const WARMUP = 0x1111;
const MAIN = 0x2222;
const SENTINEL = 0x3333;

/** Sends warm-up packets (own SSRC) until `sink` got one: the subscription's interest reached the sender's node. */
async function warmUp(sender: TrackSender, sink: RecordingSink, what: string, ms = 10_000): Promise<void> {
  let n = 0;
  await waitFor(
    what,
    () => {
      if (sink.of(WARMUP).length > 0) return true;
      send(sender, n++, WARMUP, 100);
      return false;
    },
    ms,
    50,
  );
}

/**
 * Sends `count` numbered packets, then a sentinel, and waits for the sentinel at `sink`.
 * NATS keeps the order of one publisher, so a duplicate of any packet (a second
 * subscription) would have arrived before the sentinel.
 */
async function burst(sender: TrackSender, sink: RecordingSink, first: number, count: number, what: string): Promise<void> {
  for (let i = 0; i < count; i++) send(sender, first + i, MAIN);
  const before = sink.of(SENTINEL).length;
  send(sender, first, SENTINEL, 100);
  await waitFor(what, () => sink.of(SENTINEL).length > before, 10_000, 20);
}

function assertExactlyOnce(got: Got[], first: number, count: number): void {
  assert.ok(
    got.every((g) => g.ok),
    'header fields, bytes and payload intact',
  );
  assert.deepEqual(
    got.map((g) => g.seq),
    Array.from({ length: count }, (_, i) => (first + i) & 0xffff),
    'each sequence number exactly once, in order',
  );
}

/** The monitoring port of a node started by startNatsCluster (its `--http_port` argument). */
function monitorPort(proc: ChildProcess): number {
  const args = proc.spawnargs;
  return Number(args[args.indexOf('--http_port') + 1]);
}

/** The subjects the client connection called `name` is subscribed to on that node, as the server sees them. */
async function serverSubs(proc: ChildProcess, name: string): Promise<string[] | undefined> {
  const r = await fetch(`http://127.0.0.1:${monitorPort(proc)}/connz?subs=1`);
  const j = (await r.json()) as { connections: { name?: string; subscriptions_list?: string[] }[] };
  const c = j.connections.find((x) => x.name === name);
  return c ? [...(c.subscriptions_list ?? [])].sort() : undefined;
}

/** `p`, or undefined after `ms`: a hook never waits forever. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes every bus still open: before its servers stop, so that no drain waits for a server. */
async function closeBuses(): Promise<void> {
  await Promise.allSettled(buses.splice(0).map((b) => within(b.close(), 5_000)));
}

/** A nats-server must not outlive this process, even when a hook did not finish. */
function killOnExit(procs: ChildProcess[]): void {
  process.once('exit', () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });
}
after(closeBuses);

describe('NatsBus on a 3-node nats-server cluster', { timeout: 120_000 }, () => {
  let cluster: NatsCluster;
  let urls: string[];
  let a: BusAndLog;
  let b: BusAndLog;
  before(async () => {
    cluster = await startNatsCluster(3);
    killOnExit(cluster.nodes.map((n) => n.proc));
    urls = cluster.nodes.map((n) => n.url);
    a = await busOn(ordered(urls, 0), 'bus-a');
    b = await busOn(ordered(urls, 1), 'bus-b');
  });
  after(async () => {
    await closeBuses();
    await cluster?.stop();
  });

  /** A sender on A with a sink next to it and one on B (all undone after the test), once B's interest reached A's node. */
  async function senderAndSinks(t: TestContext, subject: string) {
    const sender = a.bus.trackSender(subject);
    undo(t, () => sender.close());
    const local = new RecordingSink();
    const remote = new RecordingSink();
    const unsubLocal = undo(t, a.bus.subscribeTrack(subject, local));
    const unsubRemote = undo(t, b.bus.subscribeTrack(subject, remote));
    await warmUp(sender, remote, 'interest of B reaching node 0');
    return { sender, local, remote, unsubLocal, unsubRemote };
  }

  it('delivers across nodes exactly once and in order, to the local sink too; only the receiving bus counts received', async (t) => {
    const { sender, local, remote, unsubLocal, unsubRemote } = await senderAndSinks(t, 'rtc.room1.alice+x.video.video0');
    const receivedBefore = b.bus.stats().nats!.received!;

    await burst(sender, remote, 1000, 200, '200 packets at B');

    assertExactlyOnce(remote.of(MAIN), 1000, 200);
    assertExactlyOnce(local.of(MAIN), 1000, 200);
    assert.equal(local.of(SENTINEL).length, 1);
    const bs = b.bus.stats();
    const as = a.bus.stats();
    assert.equal(bs.nats!.received! - receivedBefore, 201, 'B received the 200 packets and the sentinel from NATS');
    assert.equal(as.nats!.received, 0, 'A never receives its own packets from NATS');
    assert.ok(as.nats!.published! >= 201);
    assert.equal(as.remoteTrackSubscriptions, 0);
    assert.equal(bs.remoteTrackSubscriptions, 1);
    unsubLocal();
    unsubRemote();
    sender.close();
    assert.equal(a.bus.stats().trackChannels, 0);
    assert.equal(b.bus.stats().trackChannels, 0);
  });

  it('subscribes to a track subject only while a remote sink needs it, never next to the sender', async (t) => {
    const subject = 'rtc.room2.bob+y.audio.audio0';
    const sender = a.bus.trackSender(subject);
    undo(t, () => sender.close());
    assert.equal(b.bus.stats().remoteTrackSubscriptions, 0);

    const s1 = new RecordingSink();
    const s2 = new RecordingSink();
    const unsub1 = undo(t, b.bus.subscribeTrack(subject, s1));
    assert.equal(b.bus.stats().remoteTrackSubscriptions, 1);
    const unsub2 = undo(t, b.bus.subscribeTrack(subject, s2));
    assert.equal(b.bus.stats().remoteTrackSubscriptions, 1, 'one NATS subscription for two sinks');
    await warmUp(sender, s1, 'interest of B reaching node 0');
    // The SUB has reached node 1 by now (packets came through it): the server sees exactly one.
    assert.deepEqual(await serverSubs(cluster.nodes[1]!.proc, 'bus-b'), [subject], 'node 1 sees one subscription of B');
    await burst(sender, s1, 0, 20, 'packets at B');
    assertExactlyOnce(s1.of(MAIN), 0, 20);
    assertExactlyOnce(s2.of(MAIN), 0, 20);

    unsub1();
    assert.equal(b.bus.stats().remoteTrackSubscriptions, 1, 'still subscribed: the second sink is there');
    await burst(sender, s2, 20, 20, 'packets at the second sink');
    assertExactlyOnce(s2.of(MAIN), 0, 40);
    assert.equal(s1.of(MAIN).length, 20, 'the first sink got nothing after leaving');

    unsub2();
    unsub2(); // idempotent
    const st = b.bus.stats();
    assert.equal(st.remoteTrackSubscriptions, 0, 'unsubscribed after the last sink left');
    assert.equal(st.trackChannels, 0);
    assert.equal(st.trackSinks, 0);
    await waitFor('node 1 without the subscription of B', async () => (await serverSubs(cluster.nodes[1]!.proc, 'bus-b'))?.length === 0);

    // Next to the sender: a sink on A never subscribes to NATS.
    const onA = new RecordingSink();
    const unsubA = undo(t, a.bus.subscribeTrack(subject, onA));
    assert.equal(a.bus.stats().remoteTrackSubscriptions, 0);
    send(sender, 7, MAIN, 100);
    assert.equal(onA.got.length, 1, 'delivered in-process, synchronously');
    assert.deepEqual(await serverSubs(cluster.nodes[0]!.proc, 'bus-a'), [], 'node 0 sees no subscription of A');
    unsubA();

    // A sink first, then the sender on the same bus: the NATS subscription goes away.
    const other = 'rtc.room2.carol+z.video.video0';
    const early = new RecordingSink();
    const unsubEarly = undo(t, a.bus.subscribeTrack(other, early));
    assert.equal(a.bus.stats().remoteTrackSubscriptions, 1, 'no local sender yet: the publisher may be elsewhere');
    const late = a.bus.trackSender(other);
    undo(t, () => late.close());
    assert.equal(a.bus.stats().remoteTrackSubscriptions, 0, 'the local sender feeds the sink directly');
    send(late, 1, MAIN, 100);
    assert.equal(early.got.length, 1);
    late.close();
    assert.equal(a.bus.stats().remoteTrackSubscriptions, 1, 'sender gone, sink still there: listening to NATS again');
    unsubEarly();
    sender.close();
    const sa = a.bus.stats();
    assert.equal(sa.remoteTrackSubscriptions, 0);
    assert.equal(sa.trackChannels, 0);
  });

  it('does not echo: a sink next to the sender gets each packet once', async (t) => {
    const { sender, local, remote, unsubLocal, unsubRemote } = await senderAndSinks(t, 'rtc.room3.dave+w.video.video0');
    const aReceived = a.bus.stats().nats!.received;
    await burst(sender, remote, 0, 50, 'packets at B');
    await sleep(300); // an echo, if any, would have come back by now
    assertExactlyOnce(local.of(MAIN), 0, 50);
    assertExactlyOnce(remote.of(MAIN), 0, 50);
    assert.equal(a.bus.stats().nats!.received, aReceived);
    assert.equal(a.bus.stats().remoteTrackSubscriptions, 0);
    unsubLocal();
    unsubRemote();
    sender.close();
  });

  it('carries dynacast reports to the publishing instance (in process there), and stops after unregistering', async (t) => {
    const subject = 'rtc.room5.fred+w.video.video0';
    const got: string[] = [];
    const off = undo(
      t,
      a.bus.onLayerWants(subject, (from, max) => got.push(`${from} ${max}`)),
    );
    assert.equal(a.bus.stats().layerWantsSubscriptions, 1);
    await waitFor(
      "B's report at A",
      () => {
        if (got.includes('inst-b 1')) return true;
        b.bus.publishLayerWants(subject, 'inst-b', 1);
        return false;
      },
      10_000,
      50,
    );
    const n = got.length;
    a.bus.publishLayerWants(subject, 'inst-a', -1);
    assert.deepEqual(got.slice(n), ['inst-a -1'], 'its own report goes to the handler directly');
    off();
    assert.equal(a.bus.stats().layerWantsSubscriptions, 0);
  });

  it('carries keyframe requests to the publishing instance, and stops after unregistering', async (t) => {
    const subject = 'rtc.room4.erin+v.video.video0';
    let onA = 0;
    const offA = undo(
      t,
      a.bus.onKeyframeRequest(subject, () => onA++),
    );
    assert.equal(a.bus.stats().keyframeSubscriptions, 1);
    await waitFor(
      'a keyframe request from B at A',
      () => {
        if (onA > 0) return true;
        b.bus.requestKeyframe(subject);
        return false;
      },
      10_000,
      50,
    );
    // A request on the publishing instance itself goes to its handler directly.
    const before = onA;
    a.bus.requestKeyframe(subject);
    assert.equal(onA, before + 1);

    offA();
    assert.equal(a.bus.stats().keyframeSubscriptions, 0);
    // A third bus on node 2 still listens: once it has B's requests, A would have had them too.
    const c = await busOn(ordered(urls, 2), 'bus-c');
    let onC = 0;
    const offC = undo(
      t,
      c.bus.onKeyframeRequest(subject, () => onC++),
    );
    const stopped = onA;
    await waitFor(
      'keyframe requests from B at C',
      () => {
        if (onC >= 3) return true;
        b.bus.requestKeyframe(subject);
        return false;
      },
      10_000,
      50,
    );
    await sleep(200);
    assert.equal(onA, stopped, 'no request reached the unregistered handler');
    offC();
    await c.bus.close();
  });

  it('delivers room events to other instances in order and locally once; ignores and logs malformed ones', async (t) => {
    const room = 'r1';
    const atB: RoomEvent[] = [];
    const atA: RoomEvent[] = [];
    const offB = undo(
      t,
      b.bus.subscribeRoom(room, (e) => atB.push(e)),
    );
    const offA = undo(
      t,
      a.bus.subscribeRoom(room, (e) => atA.push(e)),
    );
    const raw: NatsConnection = await connect({ servers: urls[0]!, name: 'raw' });
    try {
      const malformed = () => b.entries('ignored a malformed room event').length;
      // A malformed event is the probe for the room interest of B reaching node 0.
      await waitFor(
        'a malformed room event ignored at B',
        () => {
          if (malformed() > 0) return true;
          raw.publish(`cmd.${room}`, 'not json');
          return false;
        },
        10_000,
        50,
      );
      await raw.flush();
      await sleep(100);
      assert.deepEqual(atB, [], 'not json: no event');

      const join: RoomEvent = { type: 'pub-join', pub: 'alice+1', tracks: [{ kind: 'video', trackId: 'video0' }] };
      const left: RoomEvent = { type: 'pub-left', pub: 'alice+1' };
      a.bus.publishRoomEvent(room, join);
      a.bus.publishRoomEvent(room, left);
      await waitFor('two room events at B', () => atB.length >= 2, 10_000, 20);
      assert.deepEqual(atB, [join, left]);

      // Malformed: a '.' in the full id, a bad kind, a bad track id, no tracks, an unknown type.
      const before = malformed();
      const bad = [
        '{"type":"pub-join","pub":"a.b","tracks":[]}',
        '{"type":"pub-join","pub":"bob+1","tracks":[{"kind":"text","trackId":"video0"}]}',
        '{"type":"pub-join","pub":"bob+1","tracks":[{"kind":"video","trackId":"v0"}]}',
        '{"type":"pub-join","pub":"bob+1"}',
        '{"type":"pub-gone","pub":"bob+1"}',
        '{"type":"pub-left","pub":"*"}',
        'null',
      ];
      for (const m of bad) raw.publish(`cmd.${room}`, m);
      await raw.flush();
      await waitFor('the malformed events logged at B', () => malformed() >= before + bad.length, 10_000, 20);
      const last = b.entries('ignored a malformed room event').at(-1)!;
      assert.equal(last.level, 40, 'a warning');
      assert.equal(last.room, room);
      // A valid event after them: B's handler got it, and nothing in between.
      const third: RoomEvent = { type: 'pub-left', pub: 'carol+2' };
      a.bus.publishRoomEvent(room, third);
      await waitFor('the third room event at B', () => atB.length >= 3, 10_000, 20);
      assert.deepEqual(atB, [join, left, third]);

      // A got its own events once each, in-process: none came back over NATS.
      await sleep(300);
      assert.deepEqual(atA, [join, left, third]);
      assert.equal(a.bus.stats().roomSubscriptions, 1);
    } finally {
      offA();
      offB();
      await raw.close();
    }
    assert.equal(a.bus.stats().roomSubscriptions, 0);
    assert.equal(b.bus.stats().roomSubscriptions, 0);
  });
});

describe('NatsBus publish errors', { timeout: 60_000 }, () => {
  let proc: ChildProcess | undefined;
  let dir: string;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weever-nats-'));
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, 'max_payload: 1000\n');
    const port = await freePort();
    proc = spawn('nats-server', ['-c', conf, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    killOnExit([proc]);
    await waitFor(`nats-server on ${port}`, () => accepts(port), 10_000, 50);
    url = `nats://127.0.0.1:${port}`;
  });
  after(async () => {
    await closeBuses();
    if (proc) await endProcess(proc, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts them, logs them once per interval, and the media loop goes on', async (t) => {
    const { bus, entries, lines } = await busOn([url], 'bus-small', 500);
    const subject = 'rtc.room6.frank+u.video.video0';
    const sender = bus.trackSender(subject);
    undo(t, () => sender.close());
    const local = new RecordingSink();
    const unsub = undo(t, bus.subscribeTrack(subject, local));

    const t0 = performance.now();
    for (let i = 0; i < 500; i++) send(sender, i, MAIN, 1200);
    const elapsed = performance.now() - t0;

    assert.equal(bus.stats().nats!.publishErrors, 500);
    assert.equal(bus.stats().nats!.published, 0);
    assertExactlyOnce(local.of(MAIN), 0, 500);
    assert.ok(elapsed < 2000, `500 failing sends took ${elapsed.toFixed(0)} ms`);
    assert.equal(entries('nats bus errors in the last interval').length, 0, 'nothing logged per packet');

    await sleep(1200);
    const logged = entries('nats bus errors in the last interval');
    assert.ok(logged.length >= 1 && logged.length <= 2, `${logged.length} error lines`);
    assert.equal(logged[0]!.publishErrors, 500);
    assert.equal(logged[0]!.intervalMs, 500);
    assert.equal(logged[0]!.level, 40);
    assert.ok(lines.length <= 3, `${lines.length} log lines in all`);

    // The connection is still usable: a packet under the limit is published.
    assert.equal(bus.health(), null);
    send(sender, 500, MAIN, 500);
    assert.equal(bus.stats().nats!.published, 1);
    assert.equal(bus.stats().nats!.publishErrors, 500);
    unsub();
    sender.close();
  });
});

describe('NatsBus when its node is killed', { timeout: 60_000 }, () => {
  let cluster: NatsCluster;
  before(async () => {
    cluster = await startNatsCluster(3);
    killOnExit(cluster.nodes.map((n) => n.proc));
  });
  after(async () => {
    await closeBuses();
    await cluster?.stop();
  });

  it('reconnects to another node, media comes back within 5 s, one subscription, no duplicate', async (t) => {
    const urls = cluster.nodes.map((n) => n.url);
    const a = await busOn(ordered(urls, 0), 'bus-a7');
    const b = await busOn([urls[1]!, urls[2]!], 'bus-b7');
    const subject = 'rtc.room7.gina+t.video.video0';
    const sender = a.bus.trackSender(subject);
    undo(t, () => sender.close());
    const sink = new RecordingSink();
    const unsub = undo(t, b.bus.subscribeTrack(subject, sink));
    await warmUp(sender, sink, 'interest of B reaching node 0');
    await burst(sender, sink, 0, 100, 'packets at B before the kill');
    assertExactlyOnce(sink.of(MAIN), 0, 100);

    await cluster.kill(1);
    const killedAt = Date.now();
    let seq = 100;
    await waitFor(
      'media at B again after node 1 died',
      () => {
        if (sink.of(MAIN).some((g) => g.seq >= 100)) return true;
        send(sender, seq++, MAIN);
        return false;
      },
      5_000,
      50,
    );
    const backAfter = Date.now() - killedAt;
    assert.ok(backAfter <= 5_000, `media back after ${backAfter} ms`);

    const st = b.bus.stats();
    assert.equal(st.nats!.reconnects, 1);
    assert.equal(st.nats!.disconnects, 1);
    assert.equal(st.remoteTrackSubscriptions, 1);
    assert.equal(b.bus.health(), null);
    await waitFor('B on node 2', async () => (await serverSubs(cluster.nodes[2]!.proc, 'bus-b7')) !== undefined);
    assert.deepEqual(await serverSubs(cluster.nodes[2]!.proc, 'bus-b7'), [subject], 'node 2 sees one subscription of B');

    // Packets sent while reconnecting may be lost (real time, no buffering), never duplicated.
    const after = sink.of(MAIN).filter((g) => g.seq >= 100);
    assert.ok(
      after.every((g) => g.ok),
      'intact',
    );
    const seqs = after.map((g) => g.seq);
    assert.deepEqual(
      seqs,
      [...new Set(seqs)].sort((x, y) => x - y),
      'no duplicate, in order',
    );

    // And a burst after the reconnect: each exactly once.
    const start = sink.of(MAIN).length;
    await burst(sender, sink, 1000, 200, 'packets at B after the reconnect');
    assertExactlyOnce(sink.of(MAIN).slice(start), 1000, 200);
    assert.equal(a.bus.stats().nats!.reconnects, 0, 'A was on node 0 all along');

    unsub();
    sender.close();
    await Promise.all([a.bus.close(), b.bus.close()]);
  });
});
