import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  control,
  MAX_CONTROL_MESSAGE,
  mediaValue,
  parseClientMessage,
  parseMediaHash,
  parseRoomEvent,
  parseServerMessage,
  type TrackInfo,
} from 'weever-protocol';

const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

describe('parseClientMessage', () => {
  it('parses SDP_OFFER with its payload verbatim', () => {
    assert.deepEqual(parseClientMessage(`SDP_OFFER ${SDP}`), { ok: true, command: { cmd: 'SDP_OFFER', sdp: SDP } });
  });

  it('parses SDP_ANSWER with its payload verbatim', () => {
    assert.deepEqual(parseClientMessage(`SDP_ANSWER ${SDP}`), { ok: true, command: { cmd: 'SDP_ANSWER', sdp: SDP } });
  });

  it('splits at the first space only', () => {
    assert.deepEqual(parseClientMessage('SDP_OFFER a b  c'), { ok: true, command: { cmd: 'SDP_OFFER', sdp: 'a b  c' } });
  });

  it('refuses SDP_OFFER / SDP_ANSWER without a payload', () => {
    assert.deepEqual(parseClientMessage('SDP_OFFER'), { ok: false, error: 'SDP_OFFER needs an SDP payload' });
    assert.deepEqual(parseClientMessage('SDP_OFFER '), { ok: false, error: 'SDP_OFFER needs an SDP payload' });
    assert.deepEqual(parseClientMessage('SDP_ANSWER \r\n  '), { ok: false, error: 'SDP_ANSWER needs an SDP payload' });
  });

  it('parses STOP', () => {
    assert.deepEqual(parseClientMessage('STOP'), { ok: true, command: { cmd: 'STOP' } });
  });

  it('refuses unknown commands, naming them', () => {
    assert.deepEqual(parseClientMessage('HELLO world'), { ok: false, error: 'unknown command "HELLO"' });
    assert.deepEqual(parseClientMessage(''), { ok: false, error: 'unknown command ""' });
    assert.deepEqual(parseClientMessage('stop'), { ok: false, error: 'unknown command "stop"' });
    assert.deepEqual(parseClientMessage('OK'), { ok: false, error: 'unknown command "OK"' });
  });

  it('truncates a long unknown command word to 32 characters in the error', () => {
    const word = 'X'.repeat(100);
    assert.deepEqual(parseClientMessage(word), { ok: false, error: `unknown command "${'X'.repeat(32)}"` });
  });

  it('refuses binary messages (Buffer and ArrayBuffer), even when they hold a valid command', () => {
    const expected = { ok: false, error: 'binary messages other than DATA are not supported; send UTF-8 text' };
    assert.deepEqual(parseClientMessage(Buffer.from('STOP')), expected);
    assert.deepEqual(parseClientMessage(new ArrayBuffer(4)), expected);
  });

  it('accepts a message of exactly MAX_CONTROL_MESSAGE bytes', () => {
    assert.equal(MAX_CONTROL_MESSAGE, 65536);
    const prefix = 'SDP_OFFER ';
    const msg = prefix + 'a'.repeat(MAX_CONTROL_MESSAGE - prefix.length);
    const r = parseClientMessage(msg);
    assert.equal(r.ok, true);
  });

  it('refuses a text message over MAX_CONTROL_MESSAGE bytes', () => {
    const msg = `SDP_OFFER ${'a'.repeat(MAX_CONTROL_MESSAGE)}`;
    assert.deepEqual(parseClientMessage(msg), { ok: false, error: `message too large (65546 bytes, limit 65536)` });
  });

  it('measures UTF-8 bytes, not UTF-16 code units', () => {
    // 32768 two-byte characters: 32768 string length but 65536 bytes, plus the prefix
    const msg = `SDP_OFFER ${'\u00e9'.repeat(32768)}`;
    assert.ok(msg.length < MAX_CONTROL_MESSAGE);
    assert.deepEqual(parseClientMessage(msg), { ok: false, error: 'message too large (65546 bytes, limit 65536)' });
  });

  it('refuses an oversized binary message as too large', () => {
    assert.deepEqual(parseClientMessage(Buffer.alloc(MAX_CONTROL_MESSAGE + 1)), {
      ok: false,
      error: 'message too large (65537 bytes, limit 65536)',
    });
  });
});

describe('errorMessage', () => {
  it('prefixes the reason with ERROR and a space', () => {
    assert.equal(control.error('unknown command "X"'), 'ERROR unknown command "X"');
    assert.equal(control.error(''), 'ERROR ');
  });
});

describe('VIDEO_QUALITY', () => {
  it('round-trips through the encoder', () => {
    assert.deepEqual(parseClientMessage(control.videoQuality('alice+x1', 'low')), {
      ok: true,
      command: { cmd: 'VIDEO_QUALITY', pub: 'alice+x1', quality: 'low' },
    });
    assert.equal(control.videoQuality('bob+y', 'high'), 'VIDEO_QUALITY bob+y high');
  });

  it('refuses a missing or extra part, an unknown quality and a bad full id', () => {
    for (const [msg, error] of [
      ['VIDEO_QUALITY', 'VIDEO_QUALITY needs <publisher full id> <low|medium|high>'],
      ['VIDEO_QUALITY alice+x1', 'VIDEO_QUALITY needs <publisher full id> <low|medium|high>'],
      ['VIDEO_QUALITY alice+x1 low now', 'VIDEO_QUALITY needs <publisher full id> <low|medium|high>'],
      ['VIDEO_QUALITY alice+x1 best', 'VIDEO_QUALITY: quality must be low, medium or high, not "best"'],
    ] as const) {
      assert.deepEqual(parseClientMessage(msg), { ok: false, error });
    }
    const bad = parseClientMessage('VIDEO_QUALITY a.b low');
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /^VIDEO_QUALITY: /);
  });
});

describe('VIDEO_SIZE', () => {
  it('round-trips; 0x0 is hidden', () => {
    assert.equal(control.videoSize('alice+x1', 320, 180), 'VIDEO_SIZE alice+x1 320x180');
    assert.deepEqual(parseClientMessage('VIDEO_SIZE alice+x1 320x180'), {
      ok: true,
      command: { cmd: 'VIDEO_SIZE', pub: 'alice+x1', width: 320, height: 180 },
    });
    assert.deepEqual(parseClientMessage(control.videoSize('alice+x1', 0, 0)), {
      ok: true,
      command: { cmd: 'VIDEO_SIZE', pub: 'alice+x1', width: 0, height: 0 },
    });
  });

  it('refuses a missing or malformed size, one zero side, a side over 16383 and a bad full id', () => {
    const usage = 'VIDEO_SIZE needs <publisher full id> <width>x<height>';
    const range = 'VIDEO_SIZE: width and height are 1–16383, or both 0 (hidden)';
    for (const [msg, error] of [
      ['VIDEO_SIZE alice+x1', usage],
      ['VIDEO_SIZE alice+x1 320', usage],
      ['VIDEO_SIZE alice+x1 -1x180', usage],
      ['VIDEO_SIZE alice+x1 320x180 now', usage],
      ['VIDEO_SIZE alice+x1 0x180', range],
      ['VIDEO_SIZE alice+x1 16384x9', range],
    ] as const) {
      assert.deepEqual(parseClientMessage(msg), { ok: false, error });
    }
    assert.match((parseClientMessage('VIDEO_SIZE a.b 1x1') as { error: string }).error, /^VIDEO_SIZE: /);
  });
});

describe('LAYERS (dynacast)', () => {
  it('round-trips a video track id and a mask of 1-7; refuses anything else', () => {
    assert.equal(control.layers('video0', 1), 'LAYERS video0 1');
    assert.deepEqual(parseServerMessage('LAYERS video1 3'), { ok: true, command: { cmd: 'LAYERS', trackId: 'video1', mask: 3 } });
    for (const bad of ['LAYERS', 'LAYERS video0', 'LAYERS audio0 1', 'LAYERS video0 0', 'LAYERS video0 8', 'LAYERS video0 1 2'])
      assert.deepEqual(parseServerMessage(bad), { ok: false, error: 'LAYERS needs <video track id> <mask 1-7>' }, bad);
  });
});

describe('SUB_MODE, SUB and UNSUB', () => {
  it('parse and round-trip through the encoders; no kind is both kinds', () => {
    assert.deepEqual(parseClientMessage(control.subMode('manual')), { ok: true, command: { cmd: 'SUB_MODE', mode: 'manual' } });
    assert.deepEqual(parseClientMessage('SUB_MODE auto'), { ok: true, command: { cmd: 'SUB_MODE', mode: 'auto' } });
    assert.equal(control.sub('alice+x1'), 'SUB alice+x1');
    assert.equal(control.sub('alice+x1', ['video']), 'SUB alice+x1 video');
    assert.equal(control.sub('alice+x1', ['audio', 'video'], false), 'UNSUB alice+x1');
    assert.deepEqual(parseClientMessage('SUB alice+x1'), { ok: true, command: { cmd: 'SUB', pub: 'alice+x1', kinds: ['audio', 'video'] } });
    assert.deepEqual(parseClientMessage('UNSUB alice+x1 video'), {
      ok: true,
      command: { cmd: 'UNSUB', pub: 'alice+x1', kinds: ['video'] },
    });
    assert.deepEqual(parseClientMessage('SUB alice+x1 video video'), {
      ok: true,
      command: { cmd: 'SUB', pub: 'alice+x1', kinds: ['video'] },
    });
  });

  it('refuses a bad mode, a missing or bad full id, an unknown kind and extra parts', () => {
    for (const [msg, error] of [
      ['SUB_MODE', 'SUB_MODE needs auto or manual'],
      ['SUB_MODE Manual', 'SUB_MODE needs auto or manual'],
      ['SUB', 'SUB needs <publisher full id> [audio|video]…'],
      ['UNSUB alice+x1 audio video audio', 'UNSUB needs <publisher full id> [audio|video]…'],
      ['SUB alice+x1 screen', 'SUB: a kind is audio or video, not "screen"'],
    ] as const) {
      assert.deepEqual(parseClientMessage(msg), { ok: false, error });
    }
    const bad = parseClientMessage('SUB a.b');
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /^SUB: /);
  });
});

describe('MUTE / UNMUTE and TRACK_MUTED / TRACK_UNMUTED', () => {
  it('parses a kind or a track id, and round-trips through the encoders', () => {
    assert.deepEqual(parseClientMessage(control.mute('video', true)), { ok: true, command: { cmd: 'MUTE', target: 'video' } });
    assert.deepEqual(parseClientMessage(control.mute('audio0', false)), { ok: true, command: { cmd: 'UNMUTE', target: 'audio0' } });
    assert.deepEqual(parseServerMessage(control.trackMuted('alice+x1', 'video0', true)), {
      ok: true,
      command: { cmd: 'TRACK_MUTED', pub: 'alice+x1', trackId: 'video0' },
    });
    assert.deepEqual(parseServerMessage(control.trackMuted('alice+x1', 'audio2', false)), {
      ok: true,
      command: { cmd: 'TRACK_UNMUTED', pub: 'alice+x1', trackId: 'audio2' },
    });
  });

  it('refuses anything else as the target, with a clear reason', () => {
    for (const bad of ['MUTE', 'MUTE ', 'MUTE screen', 'MUTE video0 audio0', 'UNMUTE VIDEO', 'MUTE video-1']) {
      const r = parseClientMessage(bad);
      assert.equal(r.ok, false, bad);
      assert.match((r as { error: string }).error, /needs audio, video or a track id/);
    }
    assert.equal(parseServerMessage('TRACK_MUTED alice+x1').ok, false);
    assert.equal(parseServerMessage('TRACK_MUTED alice+x1 camera').ok, false);
  });
});

describe('a muted track in the room media and in room events', () => {
  it('keeps `muted` through the store value and the pub-join event, and only when true', () => {
    const tracks: TrackInfo[] = [
      { kind: 'audio', trackId: 'audio0', muted: true },
      { kind: 'video', trackId: 'video0', layers: 3, muted: true },
      { kind: 'video', trackId: 'video1', codec: 'H264' },
    ];
    const hash = { 'a+1#audio': mediaValue(tracks, 'audio'), 'a+1#video': mediaValue(tracks, 'video') };
    assert.equal(hash['a+1#audio'], '1;audio0////m');
    assert.deepEqual(parseMediaHash(hash).get('a+1'), tracks);
    const event = parseRoomEvent(
      JSON.stringify({ type: 'pub-join', pub: 'a+1', tracks: [...tracks, { kind: 'video', trackId: 'video2', muted: 'yes' }] }),
    );
    assert.deepEqual(event, { type: 'pub-join', pub: 'a+1', tracks: [...tracks, { kind: 'video', trackId: 'video2' }] });
  });
});
