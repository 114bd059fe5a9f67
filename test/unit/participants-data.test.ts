/**
 * Participants and data messages (docs/protocol.md, "Participants", "Data messages"): the
 * wire forms both ends parse, the limits, the token bucket, the relay's addressing, and the
 * Participants service over the in-process bus and store (joins, updates, leaves, what a
 * subscriber is told).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  control,
  decodeEnvelope,
  encodeDataRequest,
  encodeEnvelope,
  MAX_DATA_PAYLOAD,
  mergeInfo,
  type Participant,
  parseClientMessage,
  parseRoomEvent,
  parseServerMessage,
} from 'weever-protocol';
import { LocalBus } from '../../src/bus/local.js';
import { DataRelay, DataSender } from '../../src/media/data-relay.js';
import { Participants } from '../../src/media/participants.js';
import { TokenBucket } from '../../src/media/token-bucket.js';
import { createLogger } from '../../src/observability/log.js';
import { MemoryStateStore } from '../../src/state/memory.js';

const log = createLogger('silent');
const tick = () => new Promise((r) => setImmediate(r));

describe('DATA on the wire', () => {
  it('parses text and binary requests, and the server never takes a sender from the client', () => {
    const text = parseClientMessage('DATA {"to":["bob","bob"],"topic":"chat"}\nhello\nworld');
    assert.deepEqual(text, { ok: true, command: { cmd: 'DATA', request: { to: ['bob'], topic: 'chat', payload: 'hello\nworld' } } });
    const bin = encodeDataRequest({ payload: new Uint8Array([0, 1, 255]) }) as Uint8Array;
    assert.deepEqual([...bin], [...Buffer.from('DATA {}\n'), 0, 1, 255]);
    const parsed = parseClientMessage(Buffer.from(bin));
    assert.ok(parsed.ok && parsed.command.cmd === 'DATA');
    assert.deepEqual([...(parsed.command.request.payload as Uint8Array)], [0, 1, 255]);
    const forged = parseClientMessage('DATA {"from":"alice"}\nhi');
    assert.deepEqual(forged, { ok: false, error: 'DATA header must not name a sender ("from" is set by the server)' });
  });

  it('refuses what is over the limits or malformed, with a reason', () => {
    const big = parseClientMessage(`DATA {}\n${'x'.repeat(MAX_DATA_PAYLOAD + 1)}`);
    assert.deepEqual(big, { ok: false, error: `DATA: payload too large (${MAX_DATA_PAYLOAD + 1} bytes, limit ${MAX_DATA_PAYLOAD})` });
    assert.ok(parseClientMessage(`DATA {}\n${'x'.repeat(MAX_DATA_PAYLOAD)}`).ok, 'exactly the limit passes');
    assert.match(String((parseClientMessage('DATA no newline') as { error: string }).error), /needs <header JSON/);
    assert.match(String((parseClientMessage('DATA [1]\nx') as { error: string }).error), /must be a JSON object/);
    assert.match(String((parseClientMessage('DATA {"to":[]}\nx') as { error: string }).error), /1-64 participant ids/);
    assert.match(String((parseClientMessage('DATA {"to":["a.b"]}\nx') as { error: string }).error), /must not contain '\.'/);
    assert.match(String((parseClientMessage('DATA {"x":1}\nx') as { error: string }).error), /unknown field "x"/);
    assert.match(String((parseClientMessage(Buffer.from('HELLO')) as { error: string }).error), /binary messages other than DATA/);
  });

  it('a delivery carries the server-stamped sender; text stays text, bytes stay bytes', () => {
    const out = control.data({ from: 'alice', to: ['bob'], payload: 'hi' });
    assert.equal(out, 'DATA {"from":"alice","to":["bob"]}\nhi');
    assert.deepEqual(parseServerMessage(out as string), {
      ok: true,
      command: { cmd: 'DATA', data: { from: 'alice', to: ['bob'], payload: 'hi' } },
    });
    const bin = control.data({ from: 'alice', payload: new Uint8Array([7]) }) as Uint8Array;
    const back = parseServerMessage(bin);
    assert.ok(back.ok && back.command.cmd === 'DATA');
    assert.deepEqual([...(back.command.data.payload as Uint8Array)], [7]);
  });

  it('the envelope between instances round-trips, and garbage is refused', () => {
    const e = { from: 'alice', to: ['bob'], topic: 't', payload: 'héllo', lossy: true };
    assert.deepEqual(decodeEnvelope(encodeEnvelope(e)), e);
    const b = { from: 'alice', payload: new Uint8Array([1, 2]), lossy: false };
    const back = decodeEnvelope(encodeEnvelope(b))!;
    assert.equal(back.from, 'alice');
    assert.deepEqual([...(back.payload as Uint8Array)], [1, 2]);
    assert.equal(decodeEnvelope(new Uint8Array([0, 1, 2, 3])), null);
    assert.equal(decodeEnvelope(Buffer.from('\u0000{"from":"a.b"}\nx')), null, 'a sender that is not an id');
  });
});

describe('SET_INFO and participants on the wire', () => {
  it('checks the update and the merged size', () => {
    assert.deepEqual(parseClientMessage('SET_INFO {"name":"Alice","attributes":{"hand":"up","x":null}}'), {
      ok: true,
      command: { cmd: 'SET_INFO', update: { name: 'Alice', attributes: { hand: 'up', x: null } } },
    });
    assert.match(String((parseClientMessage('SET_INFO {"name":5}') as { error: string }).error), /name must be a string/);
    assert.match(String((parseClientMessage('SET_INFO {"attributes":{"a":1}}') as { error: string }).error), /must be a string or null/);
    assert.match(String((parseClientMessage('SET_INFO {"role":"admin"}') as { error: string }).error), /unknown field "role"/);
    const many: Record<string, string> = {};
    for (let i = 0; i < 4; i++) many[`k${i}`] = 'v'.repeat(1024);
    const merged = mergeInfo({ name: 'a', attributes: {} }, { attributes: many });
    assert.ok(!merged.ok && /at most 4096 bytes/.test(merged.error));
    const removed = mergeInfo({ name: 'a', attributes: { x: '1', y: '2' } }, { attributes: { x: null } });
    assert.deepEqual(removed, { ok: true, value: { name: 'a', attributes: { y: '2' } } });
  });

  it('participant messages and room events round-trip; a malformed one is refused', () => {
    const p: Participant = { id: 'alice', name: 'Alice', attributes: { a: 'b' }, connections: [{ fullId: 'alice+1', role: 'pub' }] };
    assert.deepEqual(parseServerMessage(control.participantJoined(p)), {
      ok: true,
      command: { cmd: 'PARTICIPANT_JOINED', participant: p },
    });
    assert.deepEqual(parseServerMessage(control.participants([p])), { ok: true, command: { cmd: 'PARTICIPANTS', participants: [p] } });
    assert.deepEqual(parseServerMessage('PARTICIPANT_LEFT alice'), { ok: true, command: { cmd: 'PARTICIPANT_LEFT', id: 'alice' } });
    assert.deepEqual(parseRoomEvent(JSON.stringify({ type: 'participant', participant: p })), { type: 'participant', participant: p });
    assert.equal(
      parseRoomEvent(JSON.stringify({ type: 'participant', participant: { ...p, connections: [{ fullId: 'x', role: 'boss' }] } })),
      null,
    );
    assert.equal(parseRoomEvent(JSON.stringify({ type: 'participant-left', id: 'a*' })), null);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then the refill rate; a take that does not fit takes nothing', () => {
    const b = new TokenBucket(3, 2, 0);
    assert.deepEqual([b.take(1, 0), b.take(1, 0), b.take(1, 0), b.take(1, 0)], [true, true, true, false]);
    assert.equal(b.take(1, 499), false, '0.998 tokens after 499 ms');
    assert.equal(b.take(1, 500), true);
    assert.equal(b.take(5, 10_000), false, 'never more than the capacity');
    assert.equal(b.take(3, 10_000), true);
  });
});

describe('DataRelay', () => {
  it('delivers to the addressed users only, never back to the sender, and stops at its rate', async () => {
    const bus = new LocalBus();
    const relay = new DataRelay(bus);
    const got: string[] = [];
    const leave = ['alice', 'bob', 'carol'].map((user) =>
      relay.join('r', { user, deliver: (m) => got.push(`${user}<-${m.from}:${m.payload}`) }),
    );
    let now = 0;
    const alice = new DataSender(relay, 'r', 'alice', () => now);
    assert.equal(alice.send({ payload: 'all' }, 3, false), null);
    assert.equal(alice.send({ payload: 'bob only', to: ['bob'] }, 8, false), null);
    await tick();
    assert.deepEqual(got.sort(), ['bob<-alice:all', 'bob<-alice:bob only', 'carol<-alice:all']);
    let refused: string | null = null;
    for (let i = 0; i < 60 && !refused; i++) refused = alice.send({ payload: 'x' }, 1, false);
    assert.match(String(refused), /rate limit \(20 messages a second, bursts of 40\)/);
    now += 1000;
    assert.equal(alice.send({ payload: 'later' }, 5, false), null);
    const big = new DataSender(relay, 'r', 'bob', () => now);
    let bytesRefused: string | null = null;
    for (let i = 0; i < 20 && !bytesRefused; i++) bytesRefused = big.send({ payload: 'x' }, 16_384, false);
    assert.match(String(bytesRefused), /64 KiB a second/);
    for (const l of leave) l();
    assert.equal(bus.stats().dataSubscriptions, 0);
  });
});

describe('Participants', () => {
  it('one participant per user across its connections; a subscriber is told the snapshot, then only what changed', async () => {
    const bus = new LocalBus();
    const store = new MemoryStateStore();
    const ps = new Participants(bus, store, log);
    const told: string[] = [];
    await store.addPeer('sub', 'r', 'bob+s1');
    await ps.connected('r', 'bob+s1');
    const leave = await ps.join('r', (m) => told.push(m));
    assert.deepEqual(told, ['PARTICIPANTS [{"id":"bob","name":"bob","attributes":{},"connections":[{"fullId":"bob+s1","role":"sub"}]}]']);
    told.length = 0;
    await store.addPeer('pub', 'r', 'alice+p1');
    await ps.connected('r', 'alice+p1', { name: 'Alice' });
    await store.addPeer('pub', 'r', 'alice-screen+p2');
    await ps.connected('r', 'alice-screen+p2');
    assert.equal(await ps.setInfo('r', 'alice+p1', { attributes: { hand: 'up' } }), null);
    assert.match(
      String(
        await ps.setInfo('r', 'alice+p1', {
          attributes: { big: 'x'.repeat(1024), b2: 'x'.repeat(1024), b3: 'x'.repeat(1024), b4: 'x'.repeat(1024) },
        }),
      ),
      /4096 bytes/,
    );
    await tick();
    await store.removePeer('pub', 'r', 'alice+p1');
    await ps.disconnected('r', 'alice+p1');
    await store.removePeer('pub', 'r', 'alice-screen+p2');
    await ps.disconnected('r', 'alice-screen+p2');
    await ps.disconnected('r', 'alice-screen+p2'); // a repeat: nothing new
    await tick();
    assert.deepEqual(told, [
      'PARTICIPANT_JOINED {"id":"alice","name":"Alice","attributes":{},"connections":[{"fullId":"alice+p1","role":"pub"}]}',
      'PARTICIPANT_UPDATED {"id":"alice","name":"Alice","attributes":{},"connections":[{"fullId":"alice+p1","role":"pub"},{"fullId":"alice-screen+p2","role":"pub"}]}',
      'PARTICIPANT_UPDATED {"id":"alice","name":"Alice","attributes":{"hand":"up"},"connections":[{"fullId":"alice+p1","role":"pub"},{"fullId":"alice-screen+p2","role":"pub"}]}',
      'PARTICIPANT_UPDATED {"id":"alice","name":"Alice","attributes":{"hand":"up"},"connections":[{"fullId":"alice-screen+p2","role":"pub"}]}',
      'PARTICIPANT_LEFT alice',
    ]);
    assert.deepEqual([...(await store.getParticipantInfos('r')).keys()], ['bob'], "alice's info is gone with her last connection");
    leave();
    assert.equal(ps.watchedRooms, 0);
    assert.equal(bus.stats().roomSubscriptions, 0);
  });
});
