/**
 * The `control` data-channel protocol (docs/protocol.md, "The control channel"): UTF-8 text, a command word,
 * then one space and the payload if any. Encoders and parsers for both ends.
 */

import { type DataDelivery, type DataPayload, type DataRequest, encodeDataDelivery, parseDataDelivery, parseDataRequest } from './data.js';
import { checkName } from './ids.js';
import { checkInfoUpdate, checkParticipant, encodeParticipant, type InfoUpdate, type Participant } from './participants.js';
import { isTrackId, KINDS, type Kind, MAX_PICTURE_SIDE } from './tracks.js';

export const MAX_CONTROL_MESSAGE = 64 * 1024;

/** What a client sends. */
export type ClientCommand =
  | { cmd: 'SDP_OFFER'; sdp: string }
  | { cmd: 'SDP_ANSWER'; sdp: string }
  | { cmd: 'VIDEO_QUALITY'; pub: string; quality: VideoQuality }
  /** adaptive stream: the size a subscriber shows a publisher's video at, 0×0 when hidden */
  | { cmd: 'VIDEO_SIZE'; pub: string; width: number; height: number }
  /** a participant sets its name or attributes (docs/protocol.md, "Participants") */
  | { cmd: 'SET_INFO'; update: InfoUpdate }
  /** a data message to the room or to named participants ("Data messages") */
  | { cmd: 'DATA'; request: DataRequest }
  /** a publisher mutes or unmutes its tracks of a kind, or one track (docs/protocol.md, "Mute") */
  | { cmd: 'MUTE' | 'UNMUTE'; target: MuteTarget }
  /** keepalive from the SDK every 2 s: a connection that pings and then falls silent is away */
  | { cmd: 'PING' }
  /** a subscriber receives every publisher (`auto`, the default) or only what it asks for ("Choosing what to receive") */
  | { cmd: 'SUB_MODE'; mode: SubscribeMode }
  /** manual mode: receive (`SUB`) or stop receiving (`UNSUB`) a publisher's tracks of these kinds */
  | { cmd: 'SUB' | 'UNSUB'; pub: string; kinds: readonly Kind[] }
  | { cmd: 'STOP' };

/**
 * The most a subscriber wants of a publisher's simulcast camera: `low` its smallest layer,
 * `medium` up to the middle one, `high` whatever its path carries (the default).
 */
export type VideoQuality = 'low' | 'medium' | 'high';
export const VIDEO_QUALITIES: readonly VideoQuality[] = ['low', 'medium', 'high'];

/** `auto`: every publisher of the room is received; `manual`: only those named by `SUB`. */
export type SubscribeMode = 'auto' | 'manual';
export const SUBSCRIBE_MODES: readonly SubscribeMode[] = ['auto', 'manual'];

/** What `MUTE`/`UNMUTE` name: every track of a kind on that publisher connection, or one track id. */
export type MuteTarget = Kind | string;

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
  | { cmd: 'PARTICIPANTS'; participants: Participant[] }
  | { cmd: 'PARTICIPANT_JOINED'; participant: Participant }
  | { cmd: 'PARTICIPANT_UPDATED'; participant: Participant }
  | { cmd: 'PARTICIPANT_LEFT'; id: string }
  | { cmd: 'DATA'; data: DataDelivery }
  | { cmd: 'TRACK_MUTED' | 'TRACK_UNMUTED'; pub: string; trackId: string }
  /** dynacast, to a publisher: send the simulcast layers of `mask` (bit 0 the smallest) of that track, pause the others */
  | { cmd: 'LAYERS'; trackId: string; mask: number }
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
  /** `VIDEO_SIZE <pubFullId> <width>x<height>` (device pixels); `0x0`: not shown */
  videoSize: (pubFullId: string, width: number, height: number): string => `VIDEO_SIZE ${pubFullId} ${width}x${height}`,
  setInfo: (update: InfoUpdate): string => `SET_INFO ${JSON.stringify(update)}`,
  participants: (list: readonly Participant[]): string => `PARTICIPANTS [${list.map(encodeParticipant).join(',')}]`,
  participantJoined: (p: Participant): string => `PARTICIPANT_JOINED ${encodeParticipant(p)}`,
  participantUpdated: (p: Participant): string => `PARTICIPANT_UPDATED ${encodeParticipant(p)}`,
  participantLeft: (id: string): string => `PARTICIPANT_LEFT ${id}`,
  /** server → receiver; text stays text, bytes stay bytes */
  data: (d: DataDelivery): DataPayload => encodeDataDelivery(d),
  /** publisher → server: `MUTE audio`, `MUTE video` or `MUTE video0` */
  mute: (target: MuteTarget, muted: boolean): string => `${muted ? 'MUTE' : 'UNMUTE'} ${target}`,
  /** server → subscriber */
  trackMuted: (pubFullId: string, id: string, muted: boolean): string => `${muted ? 'TRACK_MUTED' : 'TRACK_UNMUTED'} ${pubFullId} ${id}`,
  subMode: (mode: SubscribeMode): string => `SUB_MODE ${mode}`,
  /** `SUB alice+x1` (both kinds) or `SUB alice+x1 video`; `UNSUB` likewise */
  sub: (pubFullId: string, kinds: readonly Kind[] = [], subscribe = true): string =>
    `${subscribe ? 'SUB' : 'UNSUB'} ${pubFullId}${kinds.length === 0 || kinds.length === 2 ? '' : ` ${kinds[0]}`}`,
  /** server → publisher: `LAYERS video0 1` (only the smallest layer), `LAYERS video0 7` (three) */
  layers: (trackId: string, mask: number): string => `LAYERS ${trackId} ${mask}`,
  ping: (): string => 'PING',
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

/** Parses a client's message on the server; oversized messages and binary ones other than `DATA` are refused. */
export function parseClientMessage(msg: string | Uint8Array | ArrayBuffer): Parsed<ClientCommand> {
  const size = typeof msg === 'string' ? utf8Length(msg) : msg.byteLength;
  if (size > MAX_CONTROL_MESSAGE) return { ok: false, error: `message too large (${size} bytes, limit ${MAX_CONTROL_MESSAGE})` };
  if (typeof msg !== 'string') {
    const bytes = msg instanceof Uint8Array ? msg : new Uint8Array(msg);
    if (!isDataBytes(bytes)) return { ok: false, error: 'binary messages other than DATA are not supported; send UTF-8 text' };
    return dataCommand(bytes);
  }
  const [word, payload] = split(msg);
  switch (word) {
    case 'DATA':
      return dataCommand(msg);
    case 'SET_INFO': {
      let v: unknown;
      try {
        v = JSON.parse(payload);
      } catch {
        return { ok: false, error: 'SET_INFO needs a JSON object {"name"?, "attributes"?}' };
      }
      const c = checkInfoUpdate(v);
      if (!c.ok) return { ok: false, error: `SET_INFO: ${c.error}` };
      return { ok: true, command: { cmd: 'SET_INFO', update: c.value } };
    }
    case 'SDP_OFFER':
    case 'SDP_ANSWER':
      if (payload.trim() === '') return { ok: false, error: `${word} needs an SDP payload` };
      return { ok: true, command: { cmd: word, sdp: payload } };
    case 'STOP':
      return { ok: true, command: { cmd: 'STOP' } };
    case 'PING':
      return { ok: true, command: { cmd: 'PING' } };
    case 'MUTE':
    case 'UNMUTE':
      if (payload !== 'audio' && payload !== 'video' && !isTrackId(payload))
        return { ok: false, error: `${word} needs audio, video or a track id (audio0, video1, …)` };
      return { ok: true, command: { cmd: word, target: payload } };
    case 'SUB_MODE':
      if (!(SUBSCRIBE_MODES as readonly string[]).includes(payload)) return { ok: false, error: 'SUB_MODE needs auto or manual' };
      return { ok: true, command: { cmd: 'SUB_MODE', mode: payload as SubscribeMode } };
    case 'SUB':
    case 'UNSUB': {
      const [pub, ...rest] = payload.split(' ');
      if (!pub || rest.length > 2) return { ok: false, error: `${word} needs <publisher full id> [audio|video]…` };
      const bad = checkName('full id', pub);
      if (bad) return { ok: false, error: `${word}: ${bad}` };
      const kinds: Kind[] = [];
      for (const k of rest) {
        if (k !== 'audio' && k !== 'video')
          return { ok: false, error: `${word}: a kind is audio or video, not ${JSON.stringify(k.slice(0, 16))}` };
        if (!kinds.includes(k)) kinds.push(k);
      }
      return { ok: true, command: { cmd: word, pub, kinds: kinds.length === 0 ? KINDS : kinds } };
    }
    case 'VIDEO_SIZE': {
      const [pub, size, extra] = payload.split(' ');
      const m = size ? /^(\d{1,5})x(\d{1,5})$/.exec(size) : null;
      if (!pub || !m || extra !== undefined) return { ok: false, error: 'VIDEO_SIZE needs <publisher full id> <width>x<height>' };
      const bad = checkName('full id', pub);
      if (bad) return { ok: false, error: `VIDEO_SIZE: ${bad}` };
      const width = Number(m[1]);
      const height = Number(m[2]);
      if (width > MAX_PICTURE_SIDE || height > MAX_PICTURE_SIDE || (width === 0) !== (height === 0))
        return { ok: false, error: `VIDEO_SIZE: width and height are 1–${MAX_PICTURE_SIDE}, or both 0 (hidden)` };
      return { ok: true, command: { cmd: 'VIDEO_SIZE', pub, width, height } };
    }
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

function dataCommand(msg: DataPayload): Parsed<ClientCommand> {
  const r = parseDataRequest(msg);
  return r.ok ? { ok: true, command: { cmd: 'DATA', request: r.value } } : { ok: false, error: r.error };
}

/** The bytes start with `DATA ` */
export function isDataBytes(b: Uint8Array): boolean {
  return b.length >= 5 && b[0] === 0x44 && b[1] === 0x41 && b[2] === 0x54 && b[3] === 0x41 && b[4] === 0x20;
}

function participantMessage(word: 'PARTICIPANT_JOINED' | 'PARTICIPANT_UPDATED', payload: string): Parsed<ServerMessage> {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return { ok: false, error: `${word} needs a participant (JSON)` };
  }
  const participant = checkParticipant(v);
  return participant ? { ok: true, command: { cmd: word, participant } } : { ok: false, error: `${word}: not a participant` };
}

/** Parses a server's message in a client; a binary one is a `DATA` message. */
export function parseServerMessage(text: string | Uint8Array): Parsed<ServerMessage> {
  if (typeof text !== 'string') {
    const d = parseDataDelivery(text);
    return d.ok ? { ok: true, command: { cmd: 'DATA', data: d.value } } : { ok: false, error: d.error };
  }
  const [word, payload] = split(text);
  switch (word) {
    case 'DATA': {
      const d = parseDataDelivery(text);
      return d.ok ? { ok: true, command: { cmd: 'DATA', data: d.value } } : { ok: false, error: d.error };
    }
    case 'PARTICIPANTS': {
      let v: unknown;
      try {
        v = JSON.parse(payload);
      } catch {
        return { ok: false, error: 'PARTICIPANTS needs a JSON array' };
      }
      if (!Array.isArray(v)) return { ok: false, error: 'PARTICIPANTS needs a JSON array' };
      const participants: Participant[] = [];
      for (const x of v) {
        const p = checkParticipant(x);
        if (!p) return { ok: false, error: 'PARTICIPANTS: an entry is not a participant' };
        participants.push(p);
      }
      return { ok: true, command: { cmd: 'PARTICIPANTS', participants } };
    }
    case 'PARTICIPANT_JOINED':
    case 'PARTICIPANT_UPDATED':
      return participantMessage(word, payload);
    case 'PARTICIPANT_LEFT':
      if (checkName('id', payload) !== null) return { ok: false, error: 'PARTICIPANT_LEFT needs an id' };
      return { ok: true, command: { cmd: 'PARTICIPANT_LEFT', id: payload } };
    case 'TRACK_MUTED':
    case 'TRACK_UNMUTED': {
      const [pub, id, extra] = payload.split(' ');
      if (!pub || !id || extra !== undefined || !isTrackId(id)) return { ok: false, error: `${word} needs <publisher full id> <track id>` };
      return { ok: true, command: { cmd: word, pub, trackId: id } };
    }
    case 'LAYERS': {
      const [id, mask, extra] = payload.split(' ');
      if (!id || !isTrackId(id, 'video') || !mask || !/^[1-7]$/.test(mask) || extra !== undefined)
        return { ok: false, error: 'LAYERS needs <video track id> <mask 1-7>' };
      return { ok: true, command: { cmd: 'LAYERS', trackId: id, mask: Number(mask) } };
    }
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
