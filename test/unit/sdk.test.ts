// The SDK's pure parts, imported the npm way (package self-reference through `exports`).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeeverClient, WeeverError } from 'weever-streaming/sdk';
import { markStream, msidsOf, tracksOfMids } from 'weever-streaming/sdk/connection';
import { publisherInfo } from 'weever-streaming/sdk/ids';
import { grade, type StreamStats } from 'weever-streaming/sdk/stats';

describe('SDK ids', () => {
  it('splits full ids into user id and kind', () => {
    assert.deepEqual(publisherInfo('alice+x1'), { id: 'alice', fullId: 'alice+x1', kind: 'camera' });
    assert.deepEqual(publisherInfo('alice-screen+x2'), { id: 'alice', fullId: 'alice-screen+x2', kind: 'screen' });
    assert.deepEqual(publisherInfo('bob+a+b'), { id: 'bob', fullId: 'bob+a+b', kind: 'camera' });
    assert.deepEqual(publisherInfo('-screen+z'), { id: '-screen', fullId: '-screen+z', kind: 'camera' });
  });
  it('exports the client class', () => {
    assert.equal(typeof WeeverClient, 'function');
  });
});

describe('SDK errors', () => {
  it('carry the status, the first line of the server’s reason and a code', async () => {
    const e = await WeeverError.fromResponse(new Response('bad token\nmore\n', { status: 401 }));
    assert.equal(e.status, 401);
    assert.equal(e.reason, 'bad token');
    assert.equal(e.code, 'unauthorized');
    assert.equal(e.retryable, false);
    assert.equal(e.message, '401 bad token');
    const busy = await WeeverError.fromResponse(new Response('draining\n', { status: 503 }));
    assert.deepEqual([busy.code, busy.retryable], ['unavailable', true]);
    assert.deepEqual([new WeeverError(409, 'x').code, new WeeverError(0, 'x').code], ['conflict', 'network']);
  });
});

describe('SDK msids', () => {
  it('maps active m-lines to their MediaStream id, skipping inactive ones', () => {
    const sdp = [
      'v=0',
      'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
      'a=mid:0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:1',
      'a=sendonly',
      'a=msid:alice+x1 video0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:2',
      'a=inactive',
      'a=msid:gone+y audio0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:3',
      'a=msid:alice-screen+x2 audio0',
      '',
    ].join('\r\n');
    assert.deepEqual(
      [...msidsOf(sdp)],
      [
        ['1', 'alice+x1'],
        ['3', 'alice-screen+x2'],
      ],
    );
  });
});

describe('SDK quality hint', () => {
  const s = (packets: number, lost: number, extra: Partial<StreamStats> = {}): StreamStats => ({
    id: 'a',
    fullId: 'a+1',
    kind: 'camera',
    direction: 'inbound',
    audio: { packets, packetsLost: lost, bytes: 0 },
    quality: 'good',
    ...extra,
  });
  it('grades from what changed since the previous sample', () => {
    assert.equal(grade(s(100, 0), undefined), 'good');
    assert.equal(grade(s(100, 0), s(100, 0)), 'stalled');
    assert.equal(grade(s(200, 5), s(100, 0)), 'fair');
    assert.equal(grade(s(200, 20), s(100, 0)), 'poor');
    assert.equal(grade(s(200, 0, { rttMs: 300 }), s(100, 0)), 'fair');
    assert.equal(grade(s(200, 0, { rttMs: 600 }), s(100, 0)), 'poor');
    assert.equal(grade(s(200, 0, { video: { packets: 0, packetsLost: 0, bytes: 0, framesPerSecond: 5 } }), s(100, 0)), 'poor');
  });
});

describe('SDK: the screen share on the camera connection', () => {
  const offer = [
    'v=0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=mid:0',
    'a=sendonly',
    'a=msid:{cam-stream} mic-track',
    'a=ssrc:11 msid:{cam-stream} mic-track',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=mid:1',
    'a=sendonly',
    'a=msid:{cam-stream} cam-track',
    'a=ssrc:22 cname:c',
    'a=ssrc:22 msid:{cam-stream} cam-track',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=mid:2',
    'a=sendonly',
    'a=msid:{screen-stream} screen-track',
    'a=ssrc:33 cname:c',
    'a=ssrc:33 msid:{screen-stream} screen-track',
    '',
  ].join('\r\n');

  it('markStream names the screen share in the m-sections of its mids only, a=msid and SSRC msid alike', () => {
    const out = markStream(offer, new Set(['2']), 'alice-screen+x9');
    assert.equal(
      out,
      offer
        .replace('a=msid:{screen-stream} screen-track', 'a=msid:alice-screen+x9 screen-track')
        .replace('a=ssrc:33 msid:{screen-stream} screen-track', 'a=ssrc:33 msid:alice-screen+x9 screen-track'),
    );
    assert.deepEqual(
      [...msidsOf(out)],
      [
        ['0', '{cam-stream}'],
        ['1', '{cam-stream}'],
        ['2', 'alice-screen+x9'],
      ],
    );
    assert.equal(markStream(offer, new Set(), 'alice-screen+x9'), offer, 'no mid: unchanged');
  });

  it('tracksOfMids maps each m-section to its track, so simulcast munging can leave the screen out', () => {
    assert.deepEqual(
      [...tracksOfMids(offer)],
      [
        ['0', 'mic-track'],
        ['1', 'cam-track'],
        ['2', 'screen-track'],
      ],
    );
  });
});
