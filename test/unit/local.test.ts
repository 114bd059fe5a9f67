import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subjects } from 'weever-protocol';
import { RtpHeader } from 'weever-rtp';
import type { BusStats, PacketSink, RoomEvent } from '../../src/bus/bus.js';
import { LocalBus } from '../../src/bus/local.js';

/** Sinks get the original header beside the packet; the local bus passes it through untouched. */
const H = new RtpHeader();

const EMPTY: BusStats = {
  trackChannels: 0,
  trackSinks: 0,
  roomSubscriptions: 0,
  dataSubscriptions: 0,
  keyframeSubscriptions: 0,
  layerWantsSubscriptions: 0,
};

/** A sink that records what it got, tagged with its name, into a shared log. */
function recorder(name: string, log: string[]): PacketSink {
  return { onPacket: (p) => log.push(`${name}:${p.toString()}`) };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('LocalBus tracks', () => {
  it('fans a packet out to every sink of the subject, in subscription order', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const sender = bus.trackSender('rtc.r.a+1.video.video0');
    bus.subscribeTrack('rtc.r.a+1.video.video0', recorder('s1', log));
    bus.subscribeTrack('rtc.r.a+1.video.video0', recorder('s2', log));
    bus.subscribeTrack('rtc.r.a+1.video.video0', recorder('s3', log));
    bus.subscribeTrack('rtc.r.a+1.audio.audio0', recorder('other', log));
    sender.send(Buffer.from('p1'), H);
    sender.send(Buffer.from('p2'), H);
    assert.deepEqual(log, ['s1:p1', 's2:p1', 's3:p1', 's1:p2', 's2:p2', 's3:p2']);
  });

  it('passes the same buffer object to every sink', () => {
    const bus = new LocalBus();
    const got: Buffer[] = [];
    const sender = bus.trackSender('t');
    bus.subscribeTrack('t', { onPacket: (p) => got.push(p) });
    bus.subscribeTrack('t', { onPacket: (p) => got.push(p) });
    const packet = Buffer.from('x');
    sender.send(packet, H);
    assert.equal(got.length, 2);
    assert.equal(got[0], packet);
    assert.equal(got[1], packet);
  });

  it('delivers to a sink that subscribed before the sender existed', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    bus.subscribeTrack('t', recorder('early', log));
    bus.trackSender('t').send(Buffer.from('p'), H);
    assert.deepEqual(log, ['early:p']);
  });

  it('sending with no sinks is a no-op', () => {
    const bus = new LocalBus();
    const sender = bus.trackSender('t');
    sender.send(Buffer.from('p'), H);
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1 });
  });

  it('stops delivering to a sink after it unsubscribes', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const sender = bus.trackSender('t');
    const unsub = bus.subscribeTrack('t', recorder('a', log));
    bus.subscribeTrack('t', recorder('b', log));
    sender.send(Buffer.from('1'), H);
    unsub();
    sender.send(Buffer.from('2'), H);
    assert.deepEqual(log, ['a:1', 'b:1', 'b:2']);
  });

  it('lets a sink unsubscribe itself during fan-out without skipping the others', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const sender = bus.trackSender('t');
    bus.subscribeTrack('t', recorder('a', log));
    const unsubB = bus.subscribeTrack('t', {
      onPacket: (p) => {
        log.push(`b:${p.toString()}`);
        unsubB();
      },
    });
    bus.subscribeTrack('t', recorder('c', log));
    sender.send(Buffer.from('1'), H);
    sender.send(Buffer.from('2'), H);
    assert.deepEqual(log, ['a:1', 'b:1', 'c:1', 'a:2', 'c:2']);
    assert.equal(bus.stats().trackSinks, 2);
  });

  it('lets a sink unsubscribe a later sink during fan-out (it still gets the current packet, not the next)', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const sender = bus.trackSender('t');
    let unsubC: () => void = () => {};
    bus.subscribeTrack('t', {
      onPacket: (p) => {
        log.push(`a:${p.toString()}`);
        unsubC();
      },
    });
    unsubC = bus.subscribeTrack('t', recorder('c', log));
    sender.send(Buffer.from('1'), H);
    sender.send(Buffer.from('2'), H);
    assert.deepEqual(log, ['a:1', 'c:1', 'a:2']);
  });

  it('a sink subscribed during fan-out gets the next packet, not the current one', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const sender = bus.trackSender('t');
    let added = false;
    bus.subscribeTrack('t', {
      onPacket: (p) => {
        log.push(`a:${p.toString()}`);
        if (!added) {
          added = true;
          bus.subscribeTrack('t', recorder('late', log));
        }
      },
    });
    sender.send(Buffer.from('1'), H);
    sender.send(Buffer.from('2'), H);
    assert.deepEqual(log, ['a:1', 'a:2', 'late:2']);
  });

  it('counts channels and sinks and returns to zero after close and unsubscribe', () => {
    const bus = new LocalBus();
    assert.deepEqual(bus.stats(), EMPTY);
    const s1 = bus.trackSender('t1');
    const s2 = bus.trackSender('t2');
    const u1 = bus.subscribeTrack('t1', { onPacket() {} });
    const u2 = bus.subscribeTrack('t1', { onPacket() {} });
    const u3 = bus.subscribeTrack('t3', { onPacket() {} });
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 3, trackSinks: 3 });
    s1.close();
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 3, trackSinks: 3 }); // t1 still has sinks
    u1();
    u2();
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 2, trackSinks: 1 });
    u3();
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1, trackSinks: 0 });
    s2.close();
    assert.deepEqual(bus.stats(), EMPTY);
  });

  it('unsubscribe and close are idempotent and do not disturb other users of the subject', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const a = bus.trackSender('t');
    const b = bus.trackSender('t');
    const u = bus.subscribeTrack('t', recorder('x', log));
    const v = bus.subscribeTrack('t', recorder('y', log));
    a.close();
    a.close(); // must not release b's share of the channel
    u();
    u(); // must not remove y
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1, trackSinks: 1 });
    b.send(Buffer.from('1'), H);
    assert.deepEqual(log, ['y:1']);
    // with its last sink gone the channel stays, because b still sends on it
    v();
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1, trackSinks: 0 });
    bus.subscribeTrack('t', recorder('z', log));
    b.send(Buffer.from('2'), H);
    assert.deepEqual(log, ['y:1', 'z:2']);
    b.close();
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1, trackSinks: 1 });
  });

  it('a channel released and recreated does not get confused with the old one', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const u = bus.subscribeTrack('t', recorder('old', log));
    u(); // channel released
    const sender = bus.trackSender('t');
    bus.subscribeTrack('t', recorder('new', log));
    u(); // stale unsubscribe of the released channel: no effect
    sender.send(Buffer.from('1'), H);
    assert.deepEqual(log, ['new:1']);
    assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1, trackSinks: 1 });
  });
  it('an unsubscribe or close left over from before bus.close() does not release a new channel of the same subject', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const oldSender = bus.trackSender('t');
    const oldUnsub = bus.subscribeTrack('t', recorder('old', log));
    return bus.close().then(() => {
      const sender = bus.trackSender('t');
      bus.subscribeTrack('t', recorder('new', log));
      oldUnsub();
      oldSender.close();
      assert.deepEqual(bus.stats(), { ...EMPTY, trackChannels: 1, trackSinks: 1 });
      sender.send(Buffer.from('1'), H);
      assert.deepEqual(log, ['new:1']);
    });
  });
});

describe('LocalBus room events', () => {
  const join: RoomEvent = { type: 'pub-join', pub: 'alice+1', tracks: [{ kind: 'video', trackId: 'video0' }] };
  const left: RoomEvent = { type: 'pub-left', pub: 'alice+1' };

  it('delivers asynchronously, not inside publishRoomEvent', async () => {
    const bus = new LocalBus();
    const got: RoomEvent[] = [];
    bus.subscribeRoom('r', (e) => got.push(e));
    bus.publishRoomEvent('r', join);
    assert.deepEqual(got, []);
    await tick();
    assert.deepEqual(got, [join]);
  });

  it('delivers events in publish order to every subscriber of the room only', async () => {
    const bus = new LocalBus();
    const log: string[] = [];
    bus.subscribeRoom('r', (e) => log.push(`h1:${e.type}`));
    bus.subscribeRoom('r', (e) => log.push(`h2:${e.type}`));
    bus.subscribeRoom('other', (e) => log.push(`other:${e.type}`));
    bus.publishRoomEvent('r', join);
    bus.publishRoomEvent('r', left);
    await tick();
    assert.deepEqual(log, ['h1:pub-join', 'h2:pub-join', 'h1:pub-left', 'h2:pub-left']);
  });

  it('publishing to a room nobody listens to is a no-op', async () => {
    const bus = new LocalBus();
    bus.publishRoomEvent('empty', left);
    await tick();
    assert.deepEqual(bus.stats(), EMPTY);
  });

  it('does not re-enter: an event published by a handler arrives after the current one is handled', async () => {
    const bus = new LocalBus();
    const log: string[] = [];
    bus.subscribeRoom('r', (e) => {
      log.push(`start:${e.type}`);
      if (e.type === 'pub-join') bus.publishRoomEvent('r', left);
      log.push(`end:${e.type}`);
    });
    bus.publishRoomEvent('r', join);
    await tick();
    assert.deepEqual(log, ['start:pub-join', 'end:pub-join', 'start:pub-left', 'end:pub-left']);
  });

  it('stops delivering after unsubscribe and counts subscriptions', async () => {
    const bus = new LocalBus();
    const got: string[] = [];
    const u1 = bus.subscribeRoom('r', (e) => got.push(`1:${e.type}`));
    const u2 = bus.subscribeRoom('r', (e) => got.push(`2:${e.type}`));
    const u3 = bus.subscribeRoom('r2', () => {});
    assert.equal(bus.stats().roomSubscriptions, 3);
    u1();
    bus.publishRoomEvent('r', join);
    await tick();
    assert.deepEqual(got, ['2:pub-join']);
    u2();
    u2();
    u3();
    assert.deepEqual(bus.stats(), EMPTY);
  });
});

describe('LocalBus keyframe requests', () => {
  it('calls every handler of the subject synchronously, and only those', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    bus.onKeyframeRequest('t1', () => log.push('a'));
    bus.onKeyframeRequest('t1', () => log.push('b'));
    bus.onKeyframeRequest('t2', () => log.push('other'));
    bus.requestKeyframe('t1');
    assert.deepEqual(log, ['a', 'b']);
    bus.requestKeyframe('nobody');
    assert.deepEqual(log, ['a', 'b']);
  });

  it('stops calling a handler after unsubscribe and counts subscriptions', () => {
    const bus = new LocalBus();
    let n = 0;
    const u1 = bus.onKeyframeRequest('t', () => n++);
    const u2 = bus.onKeyframeRequest('t', () => n++);
    assert.equal(bus.stats().keyframeSubscriptions, 2);
    u1();
    bus.requestKeyframe('t');
    assert.equal(n, 1);
    u2();
    bus.requestKeyframe('t');
    assert.equal(n, 1);
    assert.deepEqual(bus.stats(), EMPTY);
  });

  it('lets a handler unsubscribe itself while being called', () => {
    const bus = new LocalBus();
    const log: string[] = [];
    const u = bus.onKeyframeRequest('t', () => {
      log.push('once');
      u();
    });
    bus.onKeyframeRequest('t', () => log.push('always'));
    bus.requestKeyframe('t');
    bus.requestKeyframe('t');
    assert.deepEqual(log, ['once', 'always', 'always']);
  });
});

describe('LocalBus close', () => {
  it('drops every channel and subscription', async () => {
    const bus = new LocalBus();
    bus.trackSender('t');
    bus.subscribeTrack('t', { onPacket() {} });
    bus.subscribeRoom('r', () => {});
    bus.onKeyframeRequest('t', () => {});
    bus.subscribeData('r', () => {});
    bus.onLayerWants('t', () => {});
    assert.deepEqual(bus.stats(), {
      trackChannels: 1,
      trackSinks: 1,
      roomSubscriptions: 1,
      dataSubscriptions: 1,
      keyframeSubscriptions: 1,
      layerWantsSubscriptions: 1,
    });
    await bus.close();
    assert.deepEqual(bus.stats(), EMPTY);
  });
});

describe('subjects', () => {
  it('builds the NATS subjects of the protocol', () => {
    assert.equal(subjects.track('r', 'alice+1', 'video', 'video0'), 'rtc.r.alice+1.video.video0');
    assert.equal(subjects.room('r'), 'cmd.r');
  });
});
