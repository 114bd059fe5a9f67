import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRoomEvent } from 'weever-protocol';

describe('parseRoomEvent (room events between instances)', () => {
  it('keeps the codec of an H264 track and drops an unknown codec', () => {
    const e = parseRoomEvent(
      JSON.stringify({
        type: 'pub-join',
        pub: 'obs+1',
        tracks: [
          { kind: 'video', trackId: 'video0', codec: 'H264' },
          { kind: 'audio', trackId: 'audio0' },
          { kind: 'video', trackId: 'video1', codec: 'XYZ' },
        ],
      }),
    );
    assert.deepEqual(e, {
      type: 'pub-join',
      pub: 'obs+1',
      tracks: [
        { kind: 'video', trackId: 'video0', codec: 'H264' },
        { kind: 'audio', trackId: 'audio0' },
        { kind: 'video', trackId: 'video1' },
      ],
    });
  });

  it('refuses a bad track id', () => {
    assert.equal(parseRoomEvent(JSON.stringify({ type: 'pub-join', pub: 'a+1', tracks: [{ kind: 'video', trackId: 'x' }] })), null);
  });
});
