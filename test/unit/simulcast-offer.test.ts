/** The SDK's SSRC simulcast (client/simulcast.ts) and what the server keeps of it (prepareOffer). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simulcastOffer } from 'weever-streaming/sdk/simulcast';
import { prepareOffer } from '../../src/media/sdp.js';

const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Xw1r',
  'a=ice-pwd:PyHOOrg0HeFhgj0rUgtkbwVN',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=ssrc:3333333333 cname:c',
  'a=ssrc:3333333333 msid:s a',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Xw1r',
  'a=ice-pwd:PyHOOrg0HeFhgj0rUgtkbwVN',
  'a=setup:actpass',
  'a=mid:1',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=ssrc-group:FID 1111111111 2222222222',
  'a=ssrc:1111111111 cname:c',
  'a=ssrc:1111111111 msid:s v',
  'a=ssrc:2222222222 cname:c',
  'a=ssrc:2222222222 msid:s v',
  '',
].join('\r\n');

const lines = (sdp: string, prefix: string) => sdp.split('\r\n').filter((l) => l.startsWith(prefix));

describe('simulcastOffer', () => {
  const out = simulcastOffer(OFFER);

  it('turns the sending video section into 3 SIM layers, each with its RTX pair, the original SSRC first', () => {
    const [sim] = lines(out, 'a=ssrc-group:SIM ');
    const media = sim!.split(' ').slice(1).map(Number);
    assert.equal(media.length, 3);
    assert.equal(media[0], 1111111111);
    assert.equal(new Set(media).size, 3);
    const fids = lines(out, 'a=ssrc-group:FID ').map((l) => l.split(' ').slice(1).map(Number));
    assert.deepEqual(
      fids.map((f) => f[0]),
      media,
    );
    assert.equal(fids[0]![1], 2222222222);
    // every SSRC carries the primary's cname and msid
    for (const s of fids.flat()) assert.deepEqual(lines(out, `a=ssrc:${s} `), [`a=ssrc:${s} cname:c`, `a=ssrc:${s} msid:s v`]);
  });

  it('leaves audio alone and is idempotent', () => {
    assert.deepEqual(lines(out, 'a=ssrc:3333333333'), ['a=ssrc:3333333333 cname:c', 'a=ssrc:3333333333 msid:s a']);
    assert.equal(simulcastOffer(out), out);
  });

  it('leaves a receiving video section and a section of another mid alone', () => {
    assert.equal(
      simulcastOffer(OFFER.replace('a=mid:1\r\na=sendonly', 'a=mid:1\r\na=recvonly')),
      OFFER.replace('a=mid:1\r\na=sendonly', 'a=mid:1\r\na=recvonly'),
    );
    assert.equal(simulcastOffer(OFFER, 3, new Set(['7'])), OFFER);
  });

  it('without RTX: SIM only', () => {
    const noRtx = OFFER.replace('a=ssrc-group:FID 1111111111 2222222222\r\n', '').replace(/a=ssrc:2222222222 [^\r]*\r\n/g, '');
    const o = simulcastOffer(noRtx);
    assert.equal(lines(o, 'a=ssrc-group:FID').length, 0);
    assert.equal(lines(o, 'a=ssrc-group:SIM').length, 1);
  });
});

describe('prepareOffer with a SIM group', () => {
  it('keeps the SIM group and the layers RTX pairs, and reports the layers smallest first', () => {
    const offer = simulcastOffer(OFFER);
    const media = lines(offer, 'a=ssrc-group:SIM ')[0]!.split(' ').slice(1).map(Number);
    const rtx = lines(offer, 'a=ssrc-group:FID ').map((l) => Number(l.split(' ')[2]));
    const p = prepareOffer(offer);
    const video = p.media.find((m) => m.kind === 'video')!;
    assert.deepEqual(video.simulcast, { ssrcs: media, rtx });
    assert.equal(lines(p.sdp, 'a=ssrc-group:').length, 4);
    assert.equal(lines(p.sdp, 'a=ssrc:').length - 2, 12);
  });

  it('takes at most 3 layers; an H264 section keeps no SIM group', () => {
    const four = simulcastOffer(OFFER, 4);
    const p = prepareOffer(four);
    assert.equal(p.media.find((m) => m.kind === 'video')!.simulcast!.ssrcs.length, 3);
    const h264 = simulcastOffer(OFFER).replace(
      'a=rtpmap:96 VP8/90000',
      'a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f',
    );
    const q = prepareOffer(h264);
    assert.equal(q.media.find((m) => m.kind === 'video')!.simulcast, undefined);
    assert.equal(lines(q.sdp, 'a=ssrc-group:SIM').length, 0);
  });
});

describe('layersFor', () => {
  it('asks for the layers Chromium sends for a capture size (it drops the largest beyond those)', async () => {
    const { layersFor } = await import('weever-streaming/sdk/simulcast');
    assert.deepEqual(
      [
        [1920, 1080],
        [1280, 720],
        [960, 540],
        [640, 480],
        [640, 360],
        [480, 270],
        [320, 240],
      ].map(([w, h]) => layersFor(w!, h!)),
      [3, 3, 3, 2, 2, 2, 1],
    );
  });
});
