/**
 * The `control` data-channel protocol (docs/protocol.md, "The control channel"): UTF-8 text, a command word,
 * then one space and the payload if any. Encoders and parsers for both ends.
 */

import { checkName } from './ids.js';

export const MAX_CONTROL_MESSAGE = 64 * 1024;

/** What a client sends. */
export type ClientCommand =
  | { cmd: 'SDP_OFFER'; sdp: string }
  | { cmd: 'SDP_ANSWER'; sdp: string }
  | { cmd: 'VIDEO_QUALITY'; pub: string; quality: VideoQuality }
  | { cmd: 'STOP' };

/**
 * The most a subscriber wants of a publisher's simulcast camera: `low` its smallest layer,
 * `medium` up to the middle one, `high` whatever its path carries (the default).
 */
export type VideoQuality = 'low' | 'medium' | 'high';
export const VIDEO_QUALITIES: readonly VideoQuality[] = ['low', 'medium', 'high'];

/** One entry of `ACTIVE_SPEAKERS`: a publisher's full id and its smoothed level, dBov (-127 … 0, 0 loudest). */
export interface ActiveSpeaker {
  pub: string;
  level: number;
}

/** What the server sends. */
export type ServerMessage =
  | { cmd: 'PUB_JOIN'; pub: string }
  | { cmd: 'PUB_LEFT'; pub: string }
  | { cmd: 'SDP_OFFER'; sdp: string }
  | { cmd: 'SDP_ANSWER'; sdp: string }
  | { cmd: 'ACTIVE_SPEAKERS'; speakers: ActiveSpeaker[] }
  | { cmd: 'OK' }
  | { cmd: 'ERROR'; reason: string };

export type Parsed<T> = { ok: true; command: T } | { ok: false; error: string };

/** Encoders: the only place the wire words are written. */
export const control = {
  pubJoin: (pubFullId: string): string => `PUB_JOIN ${pubFullId}`,
  pubLeft: (pubFullId: string): string => `PUB_LEFT ${pubFullId}`,
  sdpOffer: (sdp: string): string => `SDP_OFFER ${sdp}`,
  sdpAnswer: (sdp: string): string => `SDP_ANSWER ${sdp}`,
  /** `ACTIVE_SPEAKERS alice+x1:-23 bob+y2:-41`, loudest first; the word alone: nobody speaks. */
  activeSpeakers: (speakers: readonly ActiveSpeaker[]): string => {
    let s = 'ACTIVE_SPEAKERS';
    for (const x of speakers) s += ` ${x.pub}:${Math.round(x.level)}`;
    return s;
  },
  /** `VIDEO_QUALITY <pubFullId> <low|medium|high>`: a subscriber caps one publisher's video */
  videoQuality: (pubFullId: string, quality: VideoQuality): string => `VIDEO_QUALITY ${pubFullId} ${quality}`,
  stop: (): string => 'STOP',
  ok: (): string => 'OK',
  error: (reason: string): string => `ERROR ${reason}`,
};

/** UTF-8 byte length of a string, without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one 4-byte sequence
      i++;
    } else n += 3;
  }
  return n;
}

function split(text: string): [string, string] {
  const space = text.indexOf(' ');
  return space < 0 ? [text, ''] : [text.slice(0, space), text.slice(space + 1)];
}

/** Parses a client's message on the server; binary or oversized messages are refused. */
export function parseClientMessage(msg: string | { byteLength: number }): Parsed<ClientCommand> {
  const size = typeof msg === 'string' ? utf8Length(msg) : msg.byteLength;
  if (size > MAX_CONTROL_MESSAGE) return { ok: false, error: `message too large (${size} bytes, limit ${MAX_CONTROL_MESSAGE})` };
  if (typeof msg !== 'string') return { ok: false, error: 'binary messages are not supported; send UTF-8 text' };
  const [word, payload] = split(msg);
  switch (word) {
    case 'SDP_OFFER':
    case 'SDP_ANSWER':
      if (payload.trim() === '') return { ok: false, error: `${word} needs an SDP payload` };
      return { ok: true, command: { cmd: word, sdp: payload } };
    case 'STOP':
      return { ok: true, command: { cmd: 'STOP' } };
    case 'VIDEO_QUALITY': {
      const [pub, quality, extra] = payload.split(' ');
      if (!pub || !quality || extra !== undefined) return { ok: false, error: 'VIDEO_QUALITY needs <publisher full id> <low|medium|high>' };
      const bad = checkName('full id', pub);
      if (bad) return { ok: false, error: `VIDEO_QUALITY: ${bad}` };
      if (!(VIDEO_QUALITIES as readonly string[]).includes(quality))
        return { ok: false, error: `VIDEO_QUALITY: quality must be low, medium or high, not ${JSON.stringify(quality.slice(0, 16))}` };
      return { ok: true, command: { cmd: 'VIDEO_QUALITY', pub, quality: quality as VideoQuality } };
    }
    default:
      return { ok: false, error: `unknown command ${JSON.stringify(word.slice(0, 32))}` };
  }
}

/** Parses a server's message in a client. */
export function parseServerMessage(text: string): Parsed<ServerMessage> {
  const [word, payload] = split(text);
  switch (word) {
    case 'PUB_JOIN':
    case 'PUB_LEFT':
      if (payload === '') return { ok: false, error: `${word} needs a publisher full id` };
      return { ok: true, command: { cmd: word, pub: payload } };
    case 'SDP_OFFER':
    case 'SDP_ANSWER':
      if (payload.trim() === '') return { ok: false, error: `${word} needs an SDP payload` };
      return { ok: true, command: { cmd: word, sdp: payload } };
    case 'ACTIVE_SPEAKERS':
      return parseSpeakers(payload);
    case 'OK':
      return { ok: true, command: { cmd: 'OK' } };
    case 'ERROR':
      return { ok: true, command: { cmd: 'ERROR', reason: payload } };
    default:
      return { ok: false, error: `unknown message ${JSON.stringify(word.slice(0, 32))}` };
  }
}

/** The payload of `ACTIVE_SPEAKERS`: `<pubFullId>:<level>` entries separated by one space (a full id may itself hold `:`). */
function parseSpeakers(payload: string): Parsed<ServerMessage> {
  const speakers: ActiveSpeaker[] = [];
  if (payload !== '') {
    for (const entry of payload.split(' ')) {
      const colon = entry.lastIndexOf(':');
      const level = colon > 0 && /^-?\d{1,3}$/.test(entry.slice(colon + 1)) ? Number(entry.slice(colon + 1)) : Number.NaN;
      if (!(level >= -127 && level <= 0))
        return { ok: false, error: `ACTIVE_SPEAKERS entry ${JSON.stringify(entry.slice(0, 64))} is not <pubFullId>:<dBov>` };
      speakers.push({ pub: entry.slice(0, colon), level: level === 0 ? 0 : level });
    }
  }
  return { ok: true, command: { cmd: 'ACTIVE_SPEAKERS', speakers } };
}
