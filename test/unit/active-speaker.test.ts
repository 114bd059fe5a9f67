/**
 * Active speaker: the RFC 6464 audio-level reading stage on exact packets, the ranking
 * on given level sequences (noise floor, smoothing, silence and absence dropping out,
 * messages only on change), the control message, and the per-room wiring on the bus.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { control, parseServerMessage, subjects, trackInfo } from 'weever-protocol';
import { type ExtensionElement, RtpHeader, withExtensions } from 'weever-rtp';
import { LocalBus } from '../../src/bus/local.js';
import { parseConfig } from '../../src/config/config.js';
import { ActiveSpeakers } from '../../src/media/active-speakers.js';
import { EXT_AUDIO_LEVEL } from '../../src/media/sdp.js';
import { SpeakerRanking } from '../../src/media/speaker-ranking.js';
import { AudioLevelReader, SILENCE } from '../../src/media/stages/audio-level.js';
import { HeaderExtensionMapper } from '../../src/media/stages/header-extensions.js';
import { MemoryStateStore } from '../../src/state/memory.js';
import { memoryLog } from '../helpers/log.js';
import { rtpPacket } from '../helpers/rtp.js';

const OPUS = Buffer.from([0xfc, 0xff, 0xfe]);
let seq = 1000;

/** An Opus packet carrying `elements` in the one- or two-byte form. */
function audio(elements: ExtensionElement[], twoByte = false): Buffer {
  const h = rtpPacket({ pt: 111, seq: seq++, ts: 960 * seq, ssrc: 0x11223344 });
  return withExtensions(h, elements, OPUS, twoByte);
}

/** The RFC 6464 byte: V in the top bit, the level (0 … 127 = 0 … -127 dBov) below. */
const levelByte = (level: number, voice: boolean) => Buffer.from([(voice ? 0x80 : 0) | level]);

function read(reader: AudioLevelReader, p: Buffer): AudioLevelReader {
  const h = new RtpHeader();
  assert.ok(h.read(p));
  assert.equal(reader.onRtp(p, h), true, 'the stage never drops a packet');
  return reader;
}

describe('AudioLevelReader (RFC 6464)', () => {
  it('reads level and V from the one-byte form, among other elements', () => {
    // bytes: BEDE, length 2 words; 0x10 = id 1 len 1, then 0x22 = id 2 len 3 (abs-send-time)
    const p = audio([
      { id: 1, data: levelByte(23, true) },
      { id: 2, data: Buffer.from([1, 2, 3]) },
    ]);
    assert.deepEqual([...p.subarray(12, 24)], [0xbe, 0xde, 0, 2, 0x10, 0x80 | 23, 0x22, 1, 2, 3, 0, 0]);
    const r = read(new AudioLevelReader(1), p);
    assert.deepEqual([r.present, r.voice, r.level], [true, true, 23]);
    const q = read(
      new AudioLevelReader(1),
      audio([
        { id: 2, data: Buffer.from([1, 2, 3]) },
        { id: 1, data: levelByte(90, false) },
      ]),
    );
    assert.deepEqual([q.present, q.voice, q.level], [true, false, 90]);
  });

  it('reads the two-byte form (id 1 and an id above 14)', () => {
    const p = audio([{ id: 1, data: levelByte(0, true) }], true);
    assert.deepEqual([...p.subarray(12, 20)], [0x10, 0x00, 0, 1, 1, 1, 0x80, 0]);
    const r = read(new AudioLevelReader(1), p);
    assert.deepEqual([r.present, r.voice, r.level], [true, true, 0]);
    const big = read(new AudioLevelReader(200), audio([{ id: 200, data: levelByte(127, false) }], true));
    assert.deepEqual([big.present, big.voice, big.level], [true, false, 127]);
  });

  it('says absent for another id, an empty two-byte element, no extension, or no negotiated id', () => {
    for (const [reader, p] of [
      [new AudioLevelReader(1), audio([{ id: 3, data: levelByte(10, true) }])],
      [new AudioLevelReader(1), audio([{ id: 1, data: Buffer.alloc(0) }], true)],
      [new AudioLevelReader(1), rtpPacket({ pt: 111, seq: 1, ts: 1, ssrc: 1 })],
      [new AudioLevelReader(0), audio([{ id: 1, data: levelByte(10, true) }])],
    ] as const) {
      const r = read(reader, p);
      assert.deepEqual([r.present, r.voice, r.level], [false, false, SILENCE]);
    }
  });

  it('a previous packet leaves nothing behind', () => {
    const r = new AudioLevelReader(1);
    read(r, audio([{ id: 1, data: levelByte(5, true) }]));
    read(r, audio([{ id: 2, data: Buffer.from([9]) }]));
    assert.deepEqual([r.present, r.voice, r.level], [false, false, SILENCE]);
  });

  it('reads the original element after a subscriber moved it in place', () => {
    const p = audio([
      { id: 4, data: Buffer.from([0xaa, 0xbb]) },
      { id: 1, data: levelByte(33, true) },
    ]);
    const h = new RtpHeader();
    h.read(p);
    // A subscriber that gets the audio level under id 7 and not the id-4 element: the level moves forward.
    new HeaderExtensionMapper({ [EXT_AUDIO_LEVEL]: 1 }, [{ id: 7, uri: EXT_AUDIO_LEVEL }]).onRtp(p, h);
    assert.equal(p[16], 0x70, 'rewritten: id 7 first');
    const r = new AudioLevelReader(1);
    r.onRtp(p, h);
    assert.deepEqual([r.present, r.voice, r.level], [true, true, 33]);
  });
});

/** Feeds one window: `levels[pub]` packets (one per 20 ms: 12 or 13 a window), then ticks. */
function window(ranking: SpeakerRanking, levels: Record<string, number | number[]>, packets = 12) {
  for (const [pub, l] of Object.entries(levels)) {
    const slot = ranking.slot(pub);
    for (let i = 0; i < packets; i++) slot.onLevel(Array.isArray(l) ? l[i % l.length]! : l);
  }
  return ranking.tick();
}

describe('SpeakerRanking', () => {
  it('names a publisher above the floor at the first window, loudest first', () => {
    const r = new SpeakerRanking();
    assert.deepEqual(window(r, { alice: 20, bob: 127 }), [{ pub: 'alice', level: -20 }]);
    // bob starts too, louder: the order changes; his level is his first window's (it rises at once)
    assert.deepEqual(window(r, { alice: 20, bob: 10 }), [
      { pub: 'bob', level: -10 },
      { pub: 'alice', level: -20 },
    ]);
  });

  it('says nothing while the order stays, even when levels move', () => {
    const r = new SpeakerRanking();
    assert.ok(window(r, { alice: 20 }));
    for (const l of [25, 15, 30, 22]) assert.equal(window(r, { alice: l }), undefined);
    assert.deepEqual(
      r.current.map((s) => s.pub),
      ['alice'],
    );
  });

  it('ignores what stays under the noise floor (-50 dBov by default), and honours another floor', () => {
    const r = new SpeakerRanking();
    for (let i = 0; i < 10; i++) assert.equal(window(r, { hum: 55, fan: 70 }), undefined);
    const low = new SpeakerRanking({ thresholdDbov: -60 });
    assert.deepEqual(window(low, { hum: 55, fan: 70 }), [{ pub: 'hum', level: -55 }]);
  });

  it('needs several voiced packets: a click is no speech', () => {
    const r = new SpeakerRanking();
    // one packet at 0 dBov among silence, in three windows: loud on average, but 1 + 1 + 1 … spread out
    assert.equal(window(r, { door: [0, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127] }, 12), undefined);
    assert.equal(window(r, { door: 127 }), undefined);
    assert.equal(window(r, { door: 127 }), undefined);
    assert.equal(window(r, { door: [0, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127] }, 12), undefined);
    // speech: every packet voiced
    assert.deepEqual(
      window(r, { door: 30 })?.map((s) => s.pub),
      ['door'],
    );
  });

  it('keeps a speaker through a pause shorter than the smoothing, drops it after', () => {
    const r = new SpeakerRanking({ smoothing: 3 });
    assert.deepEqual(
      window(r, { alice: 20 })?.map((s) => s.pub),
      ['alice'],
    );
    assert.equal(window(r, { alice: 127 }), undefined, 'a 250 ms pause: still speaking');
    assert.equal(window(r, { alice: 127 }), undefined, 'a 500 ms pause: still speaking');
    assert.deepEqual(window(r, { alice: 127 }), [], 'after 750 ms of silence: dropped');
    assert.equal(window(r, { alice: 127 }), undefined, 'and nothing more is said');
  });

  it('drops a muted publisher (its packets say silence) and one whose packets stop', () => {
    const r = new SpeakerRanking({ smoothing: 2 });
    assert.deepEqual(
      window(r, { muted: 15, gone: 10 })?.map((s) => s.pub),
      ['gone', 'muted'],
    );
    // "muted" now sends silence; "gone" sends nothing at all
    r.slot('muted');
    assert.equal(window(r, { muted: 127 }), undefined);
    assert.deepEqual(window(r, { muted: 127 }), []);
  });

  it('drops a publisher that left at the next window', () => {
    const r = new SpeakerRanking();
    window(r, { alice: 20, bob: 25 });
    r.remove('alice');
    assert.deepEqual(window(r, { bob: 25 }), [{ pub: 'bob', level: -25 }]);
  });

  it('averages power, so a louder speaker with pauses can rank under a steady one', () => {
    const r = new SpeakerRanking({ smoothing: 1 });
    // alice: -10 dBov half the time (mean power 0.05 → -13 dBov); bob -15 dBov steady
    assert.deepEqual(window(r, { alice: [10, 127], bob: 15 }), [
      { pub: 'alice', level: -13 },
      { pub: 'bob', level: -15 },
    ]);
    assert.deepEqual(window(r, { alice: [10, 127, 127, 127], bob: 15 }), [
      { pub: 'bob', level: -15 },
      { pub: 'alice', level: -16 },
    ]);
  });

  it('lists at most maxSpeakers', () => {
    const r = new SpeakerRanking({ maxSpeakers: 2 });
    assert.deepEqual(
      window(r, { a: 30, b: 10, c: 20 })?.map((s) => s.pub),
      ['b', 'c'],
    );
  });

  it('changes at most once per window: a flood of level changes within one window is one message', () => {
    const r = new SpeakerRanking();
    const changes: unknown[] = [];
    // 20 windows alternating who is louder: a message per window at most, never more
    for (let i = 0; i < 20; i++) {
      const c = window(r, i % 2 ? { a: 10, b: 20 } : { a: 20, b: 10 });
      if (c) changes.push(c);
    }
    assert.ok(changes.length <= 20);
    assert.equal(changes.length, 20);
  });
});

describe('ACTIVE_SPEAKERS', () => {
  it('encodes loudest first as <pubFullId>:<dBov>, and parses back', () => {
    const text = control.activeSpeakers([
      { pub: 'alice+x1', level: -23.4 },
      { pub: 'b:c+y2', level: -41 },
    ]);
    assert.equal(text, 'ACTIVE_SPEAKERS alice+x1:-23 b:c+y2:-41');
    assert.deepEqual(parseServerMessage(text), {
      ok: true,
      command: {
        cmd: 'ACTIVE_SPEAKERS',
        speakers: [
          { pub: 'alice+x1', level: -23 },
          { pub: 'b:c+y2', level: -41 },
        ],
      },
    });
  });

  it('nobody speaking: the word alone', () => {
    assert.equal(control.activeSpeakers([]), 'ACTIVE_SPEAKERS');
    assert.deepEqual(parseServerMessage('ACTIVE_SPEAKERS'), { ok: true, command: { cmd: 'ACTIVE_SPEAKERS', speakers: [] } });
    assert.deepEqual(parseServerMessage('ACTIVE_SPEAKERS alice+x:0'), {
      ok: true,
      command: { cmd: 'ACTIVE_SPEAKERS', speakers: [{ pub: 'alice+x', level: 0 }] },
    });
  });

  it('refuses malformed entries', () => {
    for (const bad of [
      'ACTIVE_SPEAKERS alice',
      'ACTIVE_SPEAKERS :-3',
      'ACTIVE_SPEAKERS a:5',
      'ACTIVE_SPEAKERS a:-128',
      'ACTIVE_SPEAKERS a:x',
    ]) {
      const p = parseServerMessage(bad);
      assert.equal(p.ok, false, bad);
    }
  });
});

describe('--speaker-threshold', () => {
  it('defaults to -50 dBov; takes -60, 60 or WEEVER_SPEAKER_THRESHOLD; refuses what is not a level', () => {
    assert.equal(parseConfig([], {}).speakerThresholdDbov, -50);
    assert.equal(parseConfig(['--speaker-threshold', '-60'], {}).speakerThresholdDbov, -60);
    assert.equal(parseConfig(['--speaker-threshold=60'], {}).speakerThresholdDbov, -60);
    assert.equal(parseConfig([], { WEEVER_SPEAKER_THRESHOLD: '-40' }).speakerThresholdDbov, -40);
    for (const bad of ['-128', 'loud', '1.5']) assert.throws(() => parseConfig(['--speaker-threshold', bad], {}), /speaker-threshold/);
  });
});

describe('ActiveSpeakers on the bus', () => {
  it('ranks the room from its publishers’ audio, tells each subscriber on change only, and releases everything', async () => {
    const bus = new LocalBus();
    const store = new MemoryStateStore();
    const room = 'r';
    const alice = trackInfo('audio', 'audio0', undefined, { [EXT_AUDIO_LEVEL]: 1 });
    await store.setMedia(room, 'alice+1', [alice, trackInfo('video', 'video0')]);
    const speakers = new ActiveSpeakers(bus, store, memoryLog().log, {}, 20);
    const got: string[] = [];
    const leave = speakers.join(room, (m) => got.push(m));
    // bob joins later, with his audio level under id 5
    bus.publishRoomEvent(room, {
      type: 'pub-join',
      pub: 'bob+2',
      tracks: [trackInfo('audio', 'audio1', undefined, { [EXT_AUDIO_LEVEL]: 5 })],
    });
    const senders = {
      alice: bus.trackSender(subjects.track(room, 'alice+1', 'audio', 'audio0')),
      bob: bus.trackSender(subjects.track(room, 'bob+2', 'audio', 'audio1')),
    };
    await waitUntil(() => bus.stats().trackSinks === 2);
    const h = new RtpHeader();
    const send = (who: 'alice' | 'bob', id: number, level: number) => {
      const p = audio([{ id, data: levelByte(level, level < 127) }]);
      h.read(p);
      senders[who].send(p, h);
    };
    // bob speaks (at his id 5), alice is silent
    const speak = setInterval(() => {
      send('bob', 5, 20);
      send('alice', 1, 127);
    }, 5);
    await waitUntil(() => got.length > 0);
    assert.deepEqual(got, ['ACTIVE_SPEAKERS bob+2:-20']);
    // a second subscriber here is told at once
    const second: string[] = [];
    const leave2 = speakers.join(room, (m) => second.push(m));
    assert.deepEqual(second, ['ACTIVE_SPEAKERS bob+2:-20']);
    // steady: no further message over many windows
    await sleepWindows(10);
    assert.equal(got.length, 1);
    // bob leaves the room: he drops out
    clearInterval(speak);
    bus.publishRoomEvent(room, { type: 'pub-left', pub: 'bob+2' });
    await waitUntil(() => got.length === 2);
    assert.deepEqual(got, ['ACTIVE_SPEAKERS bob+2:-20', 'ACTIVE_SPEAKERS']);
    assert.equal(bus.stats().trackSinks, 1);
    leave();
    assert.equal(speakers.size, 1, 'watched while a subscriber is left');
    leave2();
    assert.equal(speakers.size, 0);
    for (const s of Object.values(senders)) s.close();
    assert.deepEqual(bus.stats(), {
      trackChannels: 0,
      trackSinks: 0,
      roomSubscriptions: 0,
      dataSubscriptions: 0,
      keyframeSubscriptions: 0,
      layerWantsSubscriptions: 0,
    });
  });
});

async function waitUntil(ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function sleepWindows(n: number): Promise<void> {
  return new Promise((r) => setTimeout(r, 20 * n));
}
