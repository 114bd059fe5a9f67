import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishersOfMids } from '../../src/media/publisher.js';
import { answerInactive, CODECS, MAX_MID_LENGTH, MAX_MLINES, prepareOffer, receivable, SdpError } from '../../src/media/sdp.js';

const FINGERPRINT = 'a=fingerprint:sha-256 3A:96:6D:57:B2:C2:C7:61:A0:46:3E:1C:97:39:D3:F7:0A:88:A0:B1:EC:03:FB:0D:A7:AF:F2:84:9A:9D:AF:9E';

interface OfferOptions {
  fingerprint?: boolean;
  iceUfrag?: boolean;
  videoCodecs?: 'all' | 'h264-only';
}

/** A Chromium-style publisher offer: BUNDLE, sendonly audio + video, SCTP data channel. */
function chromiumOffer(opts: OfferOptions = {}): string {
  const { fingerprint = true, iceUfrag = true, videoCodecs = 'all' } = opts;
  const transport = [
    ...(iceUfrag ? ['a=ice-ufrag:Xw1r'] : []),
    'a=ice-pwd:PyHOOrg0HeFhgj0rUgtkbwVN',
    'a=ice-options:trickle',
    ...(fingerprint ? [FINGERPRINT] : []),
    'a=setup:actpass',
  ];
  const videoAll = [
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 102 103',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    ...transport,
    'a=mid:1',
    'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:13 urn:3gpp:video-orientation',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendonly',
    'a=msid:stream0 video-track-0',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 goog-remb',
    'a=rtcp-fb:96 transport-cc',
    'a=rtcp-fb:96 ccm fir',
    'a=rtcp-fb:96 nack',
    'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=rtpmap:98 VP9/90000',
    'a=rtcp-fb:98 goog-remb',
    'a=rtcp-fb:98 transport-cc',
    'a=rtcp-fb:98 nack pli',
    'a=fmtp:98 profile-id=0',
    'a=rtpmap:99 rtx/90000',
    'a=fmtp:99 apt=98',
    'a=rtpmap:102 H264/90000',
    'a=rtcp-fb:102 goog-remb',
    'a=rtcp-fb:102 nack pli',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
    'a=ssrc-group:FID 1111111111 2222222222',
    'a=ssrc:1111111111 cname:4TOk42mSjXCkVIa6',
    'a=ssrc:1111111111 msid:stream0 video-track-0',
    'a=ssrc:2222222222 cname:4TOk42mSjXCkVIa6',
    'a=ssrc:2222222222 msid:stream0 video-track-0',
  ];
  const videoH264 = [
    'm=video 9 UDP/TLS/RTP/SAVPF 102 103',
    'c=IN IP4 0.0.0.0',
    ...transport,
    'a=mid:1',
    'a=sendonly',
    'a=rtcp-mux',
    'a=rtpmap:102 H264/90000',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
  ];
  const lines = [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1 2',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS stream0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    ...transport,
    'a=mid:0',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendonly',
    'a=msid:stream0 audio-track-0',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:63 red/48000/2',
    'a=fmtp:63 111/111',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:13 CN/8000',
    'a=rtpmap:110 telephone-event/48000',
    'a=rtpmap:126 telephone-event/8000',
    'a=ssrc:3333333333 cname:4TOk42mSjXCkVIa6',
    'a=ssrc:3333333333 msid:stream0 audio-track-0',
    ...(videoCodecs === 'all' ? videoAll : videoH264),
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    ...transport,
    'a=mid:2',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** The lines of the m-section that starts with `mLinePrefix`. */
function section(sdp: string, mLinePrefix: string): string[] {
  const lines = sdp.split(/\r\n/).filter((l) => l !== '');
  const start = lines.findIndex((l) => l.startsWith(mLinePrefix));
  assert.ok(start >= 0, `no m-line starting with ${mLinePrefix}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('m='));
  return [lines[start]!, ...(end < 0 ? rest : rest.slice(0, end))];
}

describe('prepareOffer on a Chromium offer', () => {
  const prepared = prepareOffer(chromiumOffer());
  const audio = section(prepared.sdp, 'm=audio');
  const video = section(prepared.sdp, 'm=video');
  const app = section(prepared.sdp, 'm=application');

  it('reports the data channel and each media section', () => {
    assert.equal(prepared.hasDataChannel, true);
    assert.deepEqual(
      prepared.media.map(({ codecs, extensions, ...m }) => m),
      [
        { mid: '0', kind: 'audio', direction: 'sendonly', payloadType: 111, codec: 'opus', stream: 'stream0' },
        { mid: '1', kind: 'video', direction: 'sendonly', payloadType: 96, codec: 'VP8', rtxPayloadType: 97, stream: 'stream0' },
      ],
    );
    // every usable codec of the offer, in its order: VP8, and H264 with packetization-mode=1
    assert.deepEqual(
      prepared.media[1]!.codecs.map((c) => `${c.name}/${c.payloadType}`),
      ['VP8/96', 'H264/102'],
    );
    // the header extensions the answer keeps (transport-cc is cut), at the client's ids
    assert.deepEqual(
      prepared.media[1]!.extensions.map((e) => `${e.id} ${e.uri}`),
      [
        '14 urn:ietf:params:rtp-hdrext:toffset',
        '2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
        '13 urn:3gpp:video-orientation',
        '4 urn:ietf:params:rtp-hdrext:sdes:mid',
      ],
    );
  });

  it('keeps only opus in the audio section', () => {
    assert.equal(audio[0], 'm=audio 9 UDP/TLS/RTP/SAVPF 111');
    assert.deepEqual(
      audio.filter((l) => l.startsWith('a=rtpmap:')),
      ['a=rtpmap:111 opus/48000/2'],
    );
    assert.deepEqual(
      audio.filter((l) => l.startsWith('a=fmtp:')),
      ['a=fmtp:111 minptime=10;useinbandfec=1'],
    );
    for (const gone of ['red/', 'G722', 'PCMU', 'PCMA', 'CN/', 'telephone-event', 'fmtp:63']) {
      assert.ok(!audio.some((l) => l.includes(gone)), `${gone} should be gone from the audio section`);
    }
    assert.ok(audio.includes('a=ssrc:3333333333 cname:4TOk42mSjXCkVIa6'));
  });

  it('keeps only VP8 and its RTX in the video section', () => {
    assert.equal(video[0], 'm=video 9 UDP/TLS/RTP/SAVPF 96 97');
    assert.deepEqual(
      video.filter((l) => l.startsWith('a=rtpmap:')),
      ['a=rtpmap:96 VP8/90000', 'a=rtpmap:97 rtx/90000'],
    );
    assert.deepEqual(
      video.filter((l) => l.startsWith('a=fmtp:')),
      ['a=fmtp:97 apt=96'],
    );
    for (const gone of ['VP9', 'H264', 'apt=98', 'apt=102', 'profile-id']) {
      assert.ok(!prepared.sdp.includes(gone), `${gone} should be gone`);
    }
  });

  it('drops transport-cc feedback and keeps goog-remb, ccm fir, nack and nack pli for the kept codec', () => {
    assert.deepEqual(
      video.filter((l) => l.startsWith('a=rtcp-fb:')),
      ['a=rtcp-fb:96 goog-remb', 'a=rtcp-fb:96 ccm fir', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli'],
    );
    assert.deepEqual(
      audio.filter((l) => l.startsWith('a=rtcp-fb:')),
      [],
    );
    assert.ok(!prepared.sdp.includes('transport-cc'));
  });

  it('drops the transport-wide-cc header extension and keeps the others', () => {
    assert.ok(!prepared.sdp.includes('transport-wide-cc'));
    assert.deepEqual(
      audio.filter((l) => l.startsWith('a=extmap:')),
      [
        'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
        'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
        'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
      ],
    );
    assert.deepEqual(
      video.filter((l) => l.startsWith('a=extmap:')),
      [
        'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
        'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
        'a=extmap:13 urn:3gpp:video-orientation',
        'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
      ],
    );
  });

  it('keeps the FID group and the RTX ssrc (the engine then hands us RTX on this m-line)', () => {
    assert.deepEqual(
      video.filter((l) => l.startsWith('a=ssrc-group:')),
      ['a=ssrc-group:FID 1111111111 2222222222'],
    );
    assert.deepEqual(
      video.filter((l) => l.startsWith('a=ssrc:')),
      [
        'a=ssrc:1111111111 cname:4TOk42mSjXCkVIa6',
        'a=ssrc:1111111111 msid:stream0 video-track-0',
        'a=ssrc:2222222222 cname:4TOk42mSjXCkVIa6',
        'a=ssrc:2222222222 msid:stream0 video-track-0',
      ],
    );
  });

  it('drops the RTX of a codec it did not choose, and RTX without a matching apt', () => {
    const p = prepareOffer(chromiumOffer().replace('a=fmtp:97 apt=96', 'a=fmtp:97 apt=95'));
    assert.equal(p.media[1]!.rtxPayloadType, undefined);
    assert.match(p.sdp, /m=video 9 UDP\/TLS\/RTP\/SAVPF 96\r\n/);
    assert.ok(!p.sdp.includes('ssrc-group'), 'no RTX: its group goes');
    assert.ok(!p.sdp.includes('2222222222'));
  });

  it('keeps the session-level BUNDLE group, transport attributes and the SCTP section', () => {
    assert.ok(prepared.sdp.startsWith('v=0\r\n'));
    assert.ok(prepared.sdp.includes('a=group:BUNDLE 0 1 2\r\n'));
    assert.equal(app[0], 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel');
    assert.ok(app.includes('a=sctp-port:5000'));
    assert.ok(app.includes('a=mid:2'));
    for (const s of [audio, video, app]) {
      assert.ok(s.includes('a=ice-ufrag:Xw1r'));
      assert.ok(s.includes(FINGERPRINT));
      assert.ok(s.includes('a=setup:actpass'));
    }
  });

  it('produces an offer that prepares to itself again', () => {
    const again = prepareOffer(prepared.sdp);
    assert.equal(again.sdp, prepared.sdp);
    // the same choices; only the chosen codec is left to choose from
    const choices = (p: typeof prepared) => p.media.map(({ codecs, ...m }) => m);
    assert.deepEqual(choices(again), choices(prepared));
  });

  it('forwards the codecs of CODECS', () => {
    assert.equal(CODECS.audio.name, 'opus');
    assert.equal(CODECS.video.name, 'VP8');
  });
});

describe('prepareOffer variants', () => {
  it('accepts \\n line endings', () => {
    const p = prepareOffer(chromiumOffer().replace(/\r\n/g, '\n'));
    assert.deepEqual(
      p.media.map((m) => m.payloadType),
      [111, 96],
    );
  });

  it('handles an offer with only a data channel (subscriber)', () => {
    const lines = chromiumOffer().split('\r\n');
    const appAt = lines.findIndex((l) => l.startsWith('m=application'));
    const mAt = lines.findIndex((l) => l.startsWith('m='));
    const dcOnly = [...lines.slice(0, mAt), ...lines.slice(appAt)].join('\r\n').replace('BUNDLE 0 1 2', 'BUNDLE 2');
    const p = prepareOffer(dcOnly);
    assert.equal(p.hasDataChannel, true);
    assert.deepEqual(p.media, []);
  });

  it('reports hasDataChannel false without an application section', () => {
    const s = chromiumOffer();
    const p = prepareOffer(s.slice(0, s.indexOf('m=application')));
    assert.equal(p.hasDataChannel, false);
    assert.equal(p.media.length, 2);
  });

  it('defaults the direction to sendrecv', () => {
    const p = prepareOffer(chromiumOffer().replace(/a=sendonly\r\n/g, ''));
    assert.deepEqual(
      p.media.map((m) => m.direction),
      ['sendrecv', 'sendrecv'],
    );
  });

  it('matches the codec name case-insensitively and keeps its payload type', () => {
    const p = prepareOffer(chromiumOffer().replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:96 vp8/90000'));
    assert.equal(p.media[1]!.payloadType, 96);
  });

  it('leaves a rejected (port 0) m-line alone and does not report it', () => {
    const p = prepareOffer(chromiumOffer({ videoCodecs: 'h264-only' }).replace('m=video 9 ', 'm=video 0 '));
    assert.deepEqual(
      p.media.map((m) => m.kind),
      ['audio'],
    );
    assert.ok(p.sdp.includes('m=video 0 UDP/TLS/RTP/SAVPF 102 103'));
  });
});

describe('prepareOffer for a WHEP player (receiver)', () => {
  const recvonly = chromiumOffer().replace(/a=sendonly/g, 'a=recvonly');

  it('keeps every codec of a recvonly m-line and lists the usable ones', () => {
    const p = prepareOffer(recvonly, true);
    assert.deepEqual(
      p.media.map((m) => [m.direction, m.codecs.map((c) => c.name)]),
      [
        ['recvonly', ['opus']],
        ['recvonly', ['VP8', 'H264']],
      ],
    );
    assert.ok(p.sdp.includes('a=rtpmap:98 VP9/90000'), 'nothing cut');
  });

  it('treats sendrecv as receiving for a subscriber, as sending for a publisher', () => {
    const sendrecv = chromiumOffer().replace(/a=sendonly/g, 'a=sendrecv');
    assert.ok(prepareOffer(sendrecv, true).sdp.includes('a=rtpmap:98 VP9/90000'));
    assert.ok(!prepareOffer(sendrecv).sdp.includes('a=rtpmap:98 VP9/90000'));
  });

  it('receivable() prefers H264 42e01f and needs the same codec name', () => {
    const codecs = [
      { name: 'H264' as const, payloadType: 100, fmtp: 'packetization-mode=1;profile-level-id=64001f' },
      { name: 'H264' as const, payloadType: 102, fmtp: 'packetization-mode=1;profile-level-id=42e01f' },
      { name: 'VP8' as const, payloadType: 96 },
    ];
    assert.equal(receivable(codecs, 'H264')?.payloadType, 102);
    assert.equal(receivable(codecs, 'VP8')?.payloadType, 96);
    assert.equal(receivable(codecs, 'opus'), undefined);
  });
});

describe('prepareOffer on what GStreamer webrtcbin sends', () => {
  it('takes a port-0 bundle-only m-line as an active one', () => {
    const offer = chromiumOffer().replace('m=audio 9 ', 'm=audio 0 ').replace('a=mid:0\r\n', 'a=mid:0\r\na=bundle-only\r\n');
    const p = prepareOffer(offer);
    assert.deepEqual(
      p.media.map((m) => `${m.mid} ${m.kind} ${m.codec}`),
      ['0 audio opus', '1 video VP8'],
    );
  });
});

describe('prepareOffer errors', () => {
  const throwsSdp = (raw: string, message: string) =>
    assert.throws(
      () => prepareOffer(raw),
      (err: unknown) => {
        assert.ok(err instanceof SdpError);
        assert.equal(err.name, 'SdpError');
        assert.equal(err.message, message);
        return true;
      },
    );

  it('refuses a body that does not start with v=0', () => {
    throwsSdp('', 'body is not an SDP offer (must start with v=0)');
    throwsSdp('hello', 'body is not an SDP offer (must start with v=0)');
    throwsSdp(` ${chromiumOffer()}`, 'body is not an SDP offer (must start with v=0)');
    throwsSdp('{"sdp":"v=0"}', 'body is not an SDP offer (must start with v=0)');
  });

  it('refuses more m-lines than MAX_MLINES, a=mid longer than MAX_MID_LENGTH, and duplicate mids', () => {
    const offer = chromiumOffer();
    const video = offer.slice(offer.indexOf('m=video'), offer.indexOf('m=application'));
    const many = Array.from({ length: MAX_MLINES }, (_, i) => video.replace(/a=mid:1\r\n/, `a=mid:v${i}\r\n`)).join('');
    throwsSdp(offer.replace(video, many), `SDP has ${MAX_MLINES + 2} m= lines; at most ${MAX_MLINES} are accepted`);
    throwsSdp(
      offer.replace('a=mid:1\r\n', `a=mid:${'m'.repeat(MAX_MID_LENGTH + 1)}\r\n`),
      `a=mid is ${MAX_MID_LENGTH + 1} characters long; at most ${MAX_MID_LENGTH}`,
    );
    throwsSdp(offer.replace('a=mid:1\r\n', 'a=mid:0\r\n'), 'a=mid:0 appears twice');
  });

  it('refuses payload types outside 0–63 and 96–127 (64–95 is RTCP on the shared port)', () => {
    throwsSdp(
      chromiumOffer()
        .replace(/ 96 97 /, ' 200 97 ')
        .replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:200 VP8/90000'),
      'payload type 200 of VP8 is outside 0–63 and 96–127',
    );
    throwsSdp(
      chromiumOffer()
        .replace(/ 96 97 /, ' 72 97 ')
        .replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:72 VP8/90000'),
      'payload type 72 of VP8 is outside 0–63 and 96–127',
    );
    throwsSdp(
      chromiumOffer()
        .replace(/ 96 97 /, ' 999 97 ')
        .replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:999 VP8/90000'),
      'payload type 999 of VP8 is outside 0–63 and 96–127',
    );
  });

  it('refuses an offer without m= lines', () => {
    throwsSdp('v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n', 'SDP has no m= line');
  });

  it('refuses an offer without a fingerprint', () => {
    throwsSdp(chromiumOffer({ fingerprint: false }), 'SDP has no a=fingerprint');
  });

  it('accepts a session-level fingerprint', () => {
    const s = chromiumOffer({ fingerprint: false }).replace('a=group:BUNDLE', `${FINGERPRINT}\r\na=group:BUNDLE`);
    assert.equal(prepareOffer(s).media.length, 2);
  });

  it('refuses an offer without ICE credentials', () => {
    throwsSdp(chromiumOffer({ iceUfrag: false }), 'SDP has no a=ice-ufrag / a=ice-pwd');
  });

  it('refuses an m-line without a=mid', () => {
    throwsSdp(chromiumOffer().replace('a=mid:1\r\n', ''), 'every m= line needs a=mid');
  });

  it('accepts a video section with only H264 (packetization-mode=1) and cuts it to that codec', () => {
    const p = prepareOffer(chromiumOffer({ videoCodecs: 'h264-only' }));
    assert.equal(p.media[1]!.codec, 'H264');
    assert.equal(p.media[1]!.payloadType, 102);
    assert.equal(p.media[1]!.rtxPayloadType, 103);
    assert.match(p.sdp, /m=video 9 UDP\/TLS\/RTP\/SAVPF 102 103\r\n/);
  });

  it('refuses a video section with neither VP8 nor H264 packetization-mode=1', () => {
    throwsSdp(
      chromiumOffer({ videoCodecs: 'h264-only' }).replace('packetization-mode=1', 'packetization-mode=0'),
      'no supported video codec offered (need VP8 or H264 with packetization-mode=1)',
    );
  });

  it('refuses an audio section with no opus', () => {
    throwsSdp(
      chromiumOffer().replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:111 ISAC/16000'),
      'no supported audio codec offered (need opus)',
    );
  });

  it('refuses an application section that is not SCTP', () => {
    throwsSdp(
      chromiumOffer().replace('m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'm=application 9 RTP/AVP 100'),
      'application m= line is not an SCTP data channel',
    );
  });

  it('refuses other m-line types', () => {
    throwsSdp(
      chromiumOffer().replace('m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'm=text 9 RTP/AVP 98'),
      'unsupported m= line type text',
    );
  });
});

describe('publisher m-lines that carry a screen share (one connection for camera and screen)', () => {
  const withStream = (sdp: string, stream: string) => sdp.replaceAll('msid:stream0 video-track-0', `msid:${stream} video-track-0`);

  it('prepareOffer reads each sending m-line’s stream id, `+` included (sdp-transform stops at it)', () => {
    const p = prepareOffer(withStream(chromiumOffer(), 'alice-screen+x7'));
    assert.equal(p.media.find((m) => m.kind === 'video')?.stream, 'alice-screen+x7');
  });

  it('the screen share of the connection’s own user is published as that id; other m-lines as the connection', () => {
    const p = prepareOffer(withStream(chromiumOffer(), 'alice-screen+x7'));
    const pubs = publishersOfMids('alice+c1', p.media);
    const video = p.media.find((m) => m.kind === 'video')!.mid;
    const audio = p.media.find((m) => m.kind === 'audio')!.mid;
    assert.equal(pubs.get(video), 'alice-screen+x7');
    assert.equal(pubs.get(audio), 'alice+c1');
  });

  it('browser stream ids are the connection’s own media', () => {
    const p = prepareOffer(withStream(chromiumOffer(), '{5b1c0d5e-aa}'));
    for (const pub of publishersOfMids('alice+c1', p.media).values()) assert.equal(pub, 'alice+c1');
  });

  it('refuses another user’s screen share, a bad id, or two shares on one connection', () => {
    const video = (stream: string) => prepareOffer(withStream(chromiumOffer(), stream)).media;
    assert.throws(() => publishersOfMids('alice+c1', video('bob-screen+x7')), /not the screen share of alice/);
    assert.throws(() => publishersOfMids('alice+c1', video('alice-screen-screen+x7')), /not the screen share of alice/);
    assert.throws(() => publishersOfMids('alice+c1', video('alice-screen+x.7')), /must not contain '\.'/);
    const two = video('alice-screen+x7').concat(video('alice-screen+x8').map((m) => ({ ...m, mid: 'other' })));
    assert.throws(() => publishersOfMids('alice+c1', two), /one screen share per connection/);
  });

  it('a screen-share connection (`alice-screen+…`) carries no further share: its m-lines are its own', () => {
    const p = prepareOffer(withStream(chromiumOffer(), 'alice-screen+x7'));
    for (const pub of publishersOfMids('alice-screen+s1', p.media).values()) assert.equal(pub, 'alice-screen+s1');
  });
});

describe('answerInactive', () => {
  it('answers an m-line the offer paused (inactive) as inactive, the others as the engine did', () => {
    const offer = prepareOffer(
      chromiumOffer().replace('a=sendonly\r\na=msid:stream0 video-track-0', 'a=inactive\r\na=msid:stream0 video-track-0'),
    );
    assert.equal(offer.media.find((m) => m.mid === '1')?.direction, 'inactive');
    const answer = [
      'v=0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:0',
      'a=recvonly',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:1',
      'a=recvonly',
      '',
    ].join('\r\n');
    assert.equal(answerInactive(answer, offer.media), answer.replace('a=mid:1\r\na=recvonly', 'a=mid:1\r\na=inactive'));
    assert.equal(answerInactive(answer, prepareOffer(chromiumOffer()).media), answer, 'nothing paused: unchanged');
  });
});
