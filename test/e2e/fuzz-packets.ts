/**
 * Malformed RTP, RTCP and control-channel messages for the fuzz test, drawn from a seeded
 * PRNG so a failing run reproduces with its seed (FUZZ_SEED=<n>).
 *
 * Every packet is sent raw on a libdatachannel track without a media handler: the client's
 * engine SRTCP-protects it when byte 1 & 0x7f is 64–95 (RTCP), SRTP-protects it otherwise
 * (libsrtp refuses, client-side, RTP whose CSRC list or header extension runs past its end
 * and packets under 8 bytes; those throw in `sendMessageBinary` and are counted as such).
 */

/** mulberry32: small, fast, good enough to pick mutations; the same seed gives the same run. */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    u32: () => int(0, 0xffffffff) >>> 0,
    pick: <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!,
    bytes: (n: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(0, 255);
      return b;
    },
  };
}

export interface Rng {
  next(): number;
  int(lo: number, hi: number): number;
  u32(): number;
  pick<T>(xs: readonly T[]): T;
  bytes(n: number): Buffer;
}

/** What the RTP is sent as: the track's own SSRC and payload type, for the variants that keep them. */
export interface RtpContext {
  ssrc: number;
  payloadType: number;
  seq: number;
}

export const RTP_KINDS = ['version', 'csrc', 'extension', 'padding', 'huge', 'tiny', 'payloadType', 'ssrc', 'seq', 'random'] as const;
export type RtpKind = (typeof RTP_KINDS)[number];

/** A payload type that is not RTCP on the shared port (64–95 would be sent as SRTCP). */
function rtpPayloadType(r: Rng): number {
  const pt = r.int(0, 127 - 32);
  return pt >= 64 ? pt + 32 : pt;
}

function rtpHeader(r: Rng, c: RtpContext, size: number): Buffer {
  const p = r.bytes(Math.max(size, 12));
  p[0] = 0x80;
  p[1] = c.payloadType & 0x7f;
  c.seq = (c.seq + 1) & 0xffff;
  p.writeUInt16BE(c.seq, 2);
  p.writeUInt32BE(c.ssrc >>> 0, 8);
  return p;
}

/** One malformed (or odd but well-formed) RTP packet of `kind`. */
export function malformedRtp(r: Rng, c: RtpContext, kind: RtpKind): Buffer {
  switch (kind) {
    case 'version': {
      const p = rtpHeader(r, c, r.int(12, 1200));
      p[0] = (r.pick([0, 1, 3]) << 6) | (p[0]! & 0x3f);
      return p;
    }
    case 'csrc': {
      // CSRC count running past the end (libsrtp refuses some client-side), or just many CSRCs
      const cc = r.int(1, 15);
      const p = rtpHeader(r, c, r.int(12, 12 + 4 * cc + 8));
      p[0] = 0x80 | cc;
      return p;
    }
    case 'extension': {
      const p = rtpHeader(r, c, r.int(16, 200));
      p[0] = 0x90;
      p.writeUInt16BE(r.pick([0xbede, 0x1000, r.int(0, 0xffff)]), 12);
      // a length that fits, is one word too long, or is absurd
      const words = Math.floor((p.length - 16) / 4);
      p.writeUInt16BE(r.pick([words, words + 1, r.int(0, 0xffff), 0]), 14);
      return p;
    }
    case 'padding': {
      const p = rtpHeader(r, c, r.int(13, 600));
      p[0] = 0xa0;
      p[p.length - 1] = r.pick([0, 255, p.length - 12, p.length - 11, p.length, r.int(1, 255)]) & 0xff;
      return p;
    }
    case 'huge':
      return rtpHeader(r, c, r.pick([1501, 2000, 4096, 9000, r.int(1200, 9000)]));
    case 'tiny': {
      // under 8 bytes the client's engine throws; 8–11 bytes is a truncated RTP header
      const p = rtpHeader(r, c, 12).subarray(0, r.int(4, 12));
      return Buffer.from(p);
    }
    case 'payloadType': {
      const p = rtpHeader(r, c, r.int(12, 1200));
      p[1] = (r.int(0, 1) << 7) | rtpPayloadType(r);
      return p;
    }
    case 'ssrc': {
      const p = rtpHeader(r, c, r.int(12, 1200));
      p.writeUInt32BE(r.u32(), 8);
      return p;
    }
    case 'seq': {
      // a jump forward (libsrtp refuses, client-side, a sequence number far behind the last)
      // and a random timestamp; the packets after it go on from there
      c.seq = (c.seq + r.int(1, 0x7fff)) & 0xffff;
      const p = rtpHeader(r, c, r.int(12, 1200));
      p.writeUInt32BE(r.u32(), 4);
      return p;
    }
    case 'random': {
      const p = r.bytes(r.int(8, 1500));
      p[1] = (p[1]! & 0x80) | rtpPayloadType(r);
      return p;
    }
  }
}

export const RTCP_KINDS = ['SR', 'RR', 'SDES', 'BYE', 'APP', 'RTPFB', 'PSFB', 'XR', 'unknown', 'compound'] as const;
export type RtcpKind = (typeof RTCP_KINDS)[number];

/** Word count written in an RTCP header: right, too short, too long, zero or absurd. */
function lengthField(r: Rng, bytes: number): number {
  const right = Math.ceil(bytes / 4) - 1;
  return r.pick([right, right, Math.max(0, right - 1), right + 1, 0, r.int(0, 0xffff)]);
}

/** One RTCP packet: header (version 2, `count`, `pt`), the body, a length field that may lie. */
function rtcp(r: Rng, pt: number, count: number, body: Buffer, lie = true): Buffer {
  const p = Buffer.concat([Buffer.alloc(4), body]);
  const padded = r.int(0, 7) === 0 && p.length % 4 !== 0;
  const out = padded ? Buffer.concat([p, Buffer.alloc(4 - (p.length % 4))]) : p;
  out[0] = 0x80 | (r.int(0, 15) === 0 ? 0x20 : 0) | (count & 0x1f);
  if (r.int(0, 31) === 0) out[0] = (r.pick([0, 1, 3]) << 6) | (count & 0x1f); // bad version
  out[1] = pt;
  out.writeUInt16BE(lie ? lengthField(r, out.length) : out.length / 4 - 1, 2);
  return out;
}

function ssrcs(r: Rng, known: readonly number[], n: number): Buffer {
  const b = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) b.writeUInt32BE(known.length > 0 && r.int(0, 1) === 0 ? r.pick(known) : r.u32(), 4 * i);
  return b;
}

/** Report blocks: `n` of 24 bytes, random values, sometimes naming SSRCs the server uses. */
function reportBlocks(r: Rng, known: readonly number[], n: number): Buffer {
  const b = r.bytes(24 * n);
  for (let i = 0; i < n; i++) b.writeUInt32BE(known.length > 0 ? r.pick(known) : r.u32(), 24 * i);
  return b;
}

/** An SDES chunk list that parses (every item within its chunk, chunks padded to a word). */
function validSdesChunks(r: Rng, n: number): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const items: Buffer[] = [];
    const k = r.int(0, 3);
    for (let j = 0; j < k; j++) {
      const text = r.bytes(r.int(0, 40));
      items.push(Buffer.from([r.int(1, 8), text.length]), text);
    }
    const body = Buffer.concat([Buffer.alloc(4), ...items, Buffer.alloc(1)]);
    body.writeUInt32BE(r.u32(), 0);
    const pad = (4 - (body.length % 4)) % 4;
    chunks.push(Buffer.concat([body, Buffer.alloc(pad)]));
  }
  return Buffer.concat(chunks);
}

/**
 * An SDES the engine may fail to parse (items claiming more bytes than there are, chunk
 * counts that lie, no terminating null): libdatachannel 0.24.5 then spins for ever in its
 * dispatch loop (issue 15 item 1); the fuzz test sends these only to a supervised instance.
 */
export function malformedSdes(r: Rng, known: readonly number[]): Buffer {
  const n = r.int(0, 3);
  const chunks: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const c = Buffer.concat([ssrcs(r, known, 1), Buffer.from([r.int(0, 255), r.int(0, 255)]), r.bytes(r.int(0, 12))]);
    chunks.push(c);
  }
  return rtcp(r, 202, r.int(0, 31), Buffer.concat(chunks));
}

/**
 * One RTCP packet of `kind` with bad lengths and counts. SDES here is always parseable (its
 * malformed forms wedge the engine: see `malformedSdes`); 'compound' stacks several.
 */
export function malformedRtcp(r: Rng, known: readonly number[], kind: RtcpKind): Buffer {
  switch (kind) {
    case 'SR': {
      const blocks = r.int(0, 4);
      const body = Buffer.concat([ssrcs(r, known, 1), r.bytes(r.pick([20, 20, 8, 0])), reportBlocks(r, known, blocks)]);
      return rtcp(r, 200, r.pick([blocks, blocks, r.int(0, 31)]), body);
    }
    case 'RR': {
      const blocks = r.int(0, 4);
      const body = Buffer.concat([ssrcs(r, known, 1), reportBlocks(r, known, blocks)]);
      return rtcp(r, 201, r.pick([blocks, blocks, r.int(0, 31)]), body);
    }
    case 'SDES': {
      const n = r.int(0, 3);
      return rtcp(r, 202, n, validSdesChunks(r, n), false);
    }
    case 'BYE': {
      const n = r.int(0, 4);
      const reason = r.int(0, 1) ? Buffer.concat([Buffer.from([r.int(0, 255)]), r.bytes(r.int(0, 30))]) : Buffer.alloc(0);
      return rtcp(r, 203, r.pick([n, r.int(0, 31)]), Buffer.concat([ssrcs(r, known, n), reason]));
    }
    case 'APP':
      return rtcp(
        r,
        204,
        r.int(0, 31),
        Buffer.concat([ssrcs(r, known, 1), Buffer.from(r.pick(['abcd', 'REMB', '\0\0\0\0'])), r.bytes(r.int(0, 64))]),
      );
    case 'RTPFB': {
      // fmt 1 NACK with garbage FCI (PID, BLP), 15 transport-wide CC, or any fmt
      const fmt = r.pick([1, 1, 15, r.int(0, 31)]);
      const fci = r.bytes(4 * r.int(0, 20) + r.pick([0, 0, 1, 2, 3]));
      return rtcp(r, 205, fmt, Buffer.concat([ssrcs(r, known, 2), fci]));
    }
    case 'PSFB': {
      const fmt = r.pick([1, 4, 15, r.int(0, 31)]);
      let fci: Buffer;
      if (fmt === 4)
        fci = Buffer.concat([ssrcs(r, known, r.int(0, 3)), r.bytes(r.pick([0, 4, 2]))]); // FIR entries
      else if (fmt === 15) {
        // REMB: 'REMB', num SSRC (may lie), exponent + mantissa, the SSRCs
        const n = r.int(0, 6);
        const head = Buffer.from([0x52, 0x45, 0x4d, 0x42, r.pick([n, r.int(0, 255)]), r.int(0, 255), r.int(0, 255), r.int(0, 255)]);
        fci = Buffer.concat([head, ssrcs(r, known, n)]);
        if (r.int(0, 3) === 0) fci = fci.subarray(0, r.int(0, fci.length));
      } else fci = r.bytes(4 * r.int(0, 4));
      return rtcp(r, 206, fmt, Buffer.concat([ssrcs(r, known, 2), fci]));
    }
    case 'XR': {
      // report blocks: RRTR (4), DLRR (5) with sub-blocks, anything; block lengths may lie
      const blocks: Buffer[] = [];
      for (let i = r.int(0, 3); i > 0; i--) {
        const bt = r.pick([4, 5, r.int(0, 255)]);
        const content =
          bt === 4 ? r.bytes(8) : bt === 5 ? Buffer.concat([ssrcs(r, known, 1), r.bytes(8 * r.int(0, 2))]) : r.bytes(4 * r.int(0, 4));
        const h = Buffer.from([bt, r.int(0, 255), 0, 0]);
        h.writeUInt16BE(r.pick([content.length / 4, content.length / 4 + 1, r.int(0, 0xffff), 0]) & 0xffff, 2);
        blocks.push(h, content);
      }
      return rtcp(r, 207, r.int(0, 31), Buffer.concat([ssrcs(r, known, 1), ...blocks]));
    }
    case 'unknown': {
      // 192–199 and 208–223: still RTCP on the shared port (byte 1 & 0x7f in 64–95)
      const pt = r.pick([r.int(192, 199), r.int(208, 223)]);
      return rtcp(r, pt, r.int(0, 31), r.bytes(r.int(4, 200)));
    }
    case 'compound': {
      const parts: Buffer[] = [];
      for (let i = r.int(2, 5); i > 0; i--) parts.push(malformedRtcp(r, known, r.pick(RTCP_KINDS.filter((k) => k !== 'compound'))));
      if (r.int(0, 3) === 0) parts.push(r.bytes(r.int(1, 16))); // trailing garbage
      return Buffer.concat(parts);
    }
  }
}

export const CONTROL_KINDS = ['binary', 'huge', 'unknown', 'sdpGarbage', 'empty', 'unicode'] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

/** Control-channel garbage; never a bare STOP (that ends the session, as it should). */
export function controlGarbage(r: Rng, kind: ControlKind): string | Buffer {
  switch (kind) {
    case 'binary':
      return r.bytes(r.pick([1, 16, 1000, r.int(1, 60_000)]));
    case 'huge':
      return `SDP_ANSWER ${'a'.repeat(r.pick([64 * 1024, 64 * 1024 + 1, 100_000, 200_000]))}`;
    case 'unknown':
      return r.pick([
        'stop',
        'SDP_OFFERX v=0',
        'HELLO',
        'STOP_',
        ' STOP',
        '{"cmd":"STOP"}',
        'PUB_JOIN x',
        'OK',
        'ERROR x',
        r.bytes(20).toString('latin1'),
      ]);
    case 'sdpGarbage': {
      const word = r.pick(['SDP_OFFER', 'SDP_ANSWER']);
      const body = r.pick([
        ' ',
        'v=0',
        r.bytes(r.int(1, 2000)).toString('latin1'),
        `v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n${'m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x\r\n'.repeat(r.int(1, 200))}`,
        'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 999\r\na=mid:0\r\na=rtpmap:999 VP8/90000\r\n',
      ]);
      return `${word} ${body}`;
    }
    case 'empty':
      return r.pick(['', ' ', '\0', 'SDP_OFFER', 'SDP_ANSWER']);
    case 'unicode':
      return `${r.pick(['SDP_OFFER', 'SDP_ANSWER', '☃', '𝕏'])} ${'😀'.repeat(r.int(1, 20_000))}`;
  }
}
