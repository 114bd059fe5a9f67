/**
 * Data messages (docs/protocol.md, "Data messages"): `DATA <header>\n<payload>` on a
 * control (or `lossy`) channel, as text or as one binary message of the same bytes; and
 * the envelope one data message travels in between instances (`data.<room>`).
 *
 * The client's header names recipients and a topic; the server's adds `from`, which it
 * takes from the sending connection, never from the client.
 */
import { checkName } from './ids.js';
import type { Checked } from './participants.js';
import { utf8Decode, utf8Encode } from './text.js';

export const MAX_DATA_PAYLOAD = 16 * 1024;
export const MAX_DATA_HEADER = 1024;
export const MAX_DATA_RECIPIENTS = 64;
export const MAX_TOPIC = 64;
/** the label of the unordered, unreliable channel a client may open beside `control` */
export const LOSSY_LABEL = 'lossy';

export type DataPayload = string | Uint8Array;

/** What a client asks: no `to` = everyone else in the room. */
export interface DataRequest {
  to?: string[];
  topic?: string;
  payload: DataPayload;
}

/** What a receiver gets: the sender's user id, stamped by the server. */
export interface DataDelivery extends DataRequest {
  from: string;
}

const WORD = 'DATA ';
const NEWLINE = 0x0a;

/** Bytes of `DATA ` at the start of a binary message. */
function startsWithWord(b: Uint8Array): boolean {
  for (let i = 0; i < WORD.length; i++) if (b[i] !== WORD.charCodeAt(i)) return false;
  return true;
}

/** Splits `DATA <header>\n<payload>` (text or bytes) into the header text and the payload. */
function split(msg: DataPayload): Checked<{ header: string; payload: DataPayload }> {
  if (typeof msg === 'string') {
    if (!msg.startsWith(WORD)) return { ok: false, error: 'not a DATA message' };
    const nl = msg.indexOf('\n', WORD.length);
    if (nl < 0 || nl - WORD.length > MAX_DATA_HEADER)
      return { ok: false, error: `DATA needs <header JSON ≤ ${MAX_DATA_HEADER} bytes>\\n<payload>` };
    return { ok: true, value: { header: msg.slice(WORD.length, nl), payload: msg.slice(nl + 1) } };
  }
  if (!startsWithWord(msg)) return { ok: false, error: 'not a DATA message' };
  const end = Math.min(msg.length, WORD.length + MAX_DATA_HEADER + 1);
  let nl = -1;
  for (let i = WORD.length; i < end; i++) {
    if (msg[i] === NEWLINE) {
      nl = i;
      break;
    }
  }
  if (nl < 0) return { ok: false, error: `DATA needs <header JSON ≤ ${MAX_DATA_HEADER} bytes>\\n<payload>` };
  let header: string;
  try {
    header = utf8Decode(msg.subarray(WORD.length, nl));
  } catch {
    return { ok: false, error: 'DATA header is not UTF-8' };
  }
  return { ok: true, value: { header, payload: msg.subarray(nl + 1) } };
}

/** UTF-8 size of a payload. */
export function payloadBytes(p: DataPayload): number {
  return typeof p === 'string' ? utf8Encode(p).length : p.length;
}

function checkTo(to: unknown): Checked<string[] | undefined> {
  if (to === undefined) return { ok: true, value: undefined };
  if (!Array.isArray(to) || to.length === 0 || to.length > MAX_DATA_RECIPIENTS)
    return { ok: false, error: `"to" must be a list of 1-${MAX_DATA_RECIPIENTS} participant ids` };
  for (const id of to) {
    if (typeof id !== 'string') return { ok: false, error: '"to" must hold participant ids (strings)' };
    const bad = checkName('id', id);
    if (bad) return { ok: false, error: `"to": ${bad}` };
  }
  return { ok: true, value: [...new Set(to as string[])] };
}

function checkTopic(topic: unknown): Checked<string | undefined> {
  if (topic === undefined) return { ok: true, value: undefined };
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC)
    return { ok: false, error: `"topic" must be a string of 1-${MAX_TOPIC} characters` };
  return { ok: true, value: topic };
}

/** A client's `DATA` message, checked (header, recipients, topic, payload size). */
export function parseDataRequest(msg: DataPayload): Checked<DataRequest> {
  const s = split(msg);
  if (!s.ok) return s;
  let h: unknown;
  try {
    h = JSON.parse(s.value.header);
  } catch {
    return { ok: false, error: 'DATA header is not JSON' };
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h))
    return { ok: false, error: 'DATA header must be a JSON object {"to"?, "topic"?}' };
  const header = h as Record<string, unknown>;
  for (const k of Object.keys(header)) {
    if (k === 'from') return { ok: false, error: 'DATA header must not name a sender ("from" is set by the server)' };
    if (k !== 'to' && k !== 'topic') return { ok: false, error: `DATA header: unknown field ${JSON.stringify(k.slice(0, 32))}` };
  }
  const to = checkTo(header.to);
  if (!to.ok) return { ok: false, error: `DATA: ${to.error}` };
  const topic = checkTopic(header.topic);
  if (!topic.ok) return { ok: false, error: `DATA: ${topic.error}` };
  const size = payloadBytes(s.value.payload);
  if (size > MAX_DATA_PAYLOAD) return { ok: false, error: `DATA: payload too large (${size} bytes, limit ${MAX_DATA_PAYLOAD})` };
  const out: DataRequest = { payload: s.value.payload };
  if (to.value) out.to = to.value;
  if (topic.value) out.topic = topic.value;
  return { ok: true, value: out };
}

function headerJson(m: { from?: string; to?: string[]; topic?: string }): string {
  const h: Record<string, unknown> = {};
  if (m.from !== undefined) h.from = m.from;
  if (m.to) h.to = m.to;
  if (m.topic !== undefined) h.topic = m.topic;
  return JSON.stringify(h);
}

function join(header: string, payload: DataPayload): DataPayload {
  if (typeof payload === 'string') return `${WORD}${header}\n${payload}`;
  const head = utf8Encode(`${WORD}${header}\n`);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** What a client sends (text stays text, bytes stay bytes). */
export const encodeDataRequest = (r: DataRequest): DataPayload => join(headerJson(r), r.payload);

/** What the server sends a receiver. */
export const encodeDataDelivery = (d: DataDelivery): DataPayload => join(headerJson(d), d.payload);

/** A receiver's `DATA` message (the SDK). */
export function parseDataDelivery(msg: DataPayload): Checked<DataDelivery> {
  const s = split(msg);
  if (!s.ok) return s;
  let h: { from?: unknown; to?: unknown; topic?: unknown };
  try {
    h = JSON.parse(s.value.header);
  } catch {
    return { ok: false, error: 'DATA header is not JSON' };
  }
  if (typeof h?.from !== 'string') return { ok: false, error: 'DATA without a sender' };
  const to = checkTo(h.to);
  const topic = checkTopic(h.topic);
  if (!to.ok || !topic.ok) return { ok: false, error: 'DATA header is malformed' };
  const out: DataDelivery = { from: h.from, payload: s.value.payload };
  if (to.value) out.to = to.value;
  if (topic.value) out.topic = topic.value;
  return { ok: true, value: out };
}

/** One data message between instances. */
export interface DataEnvelope extends DataDelivery {
  lossy: boolean;
}

const BINARY = 1;
const LOSSY = 2;

/** byte 0 flags (bit 0 binary, bit 1 lossy), the header JSON, `\n`, the payload */
export function encodeEnvelope(e: DataEnvelope): Uint8Array {
  const head = utf8Encode(headerJson(e));
  const body = typeof e.payload === 'string' ? utf8Encode(e.payload) : e.payload;
  const out = new Uint8Array(1 + head.length + 1 + body.length);
  out[0] = (typeof e.payload === 'string' ? 0 : BINARY) | (e.lossy ? LOSSY : 0);
  out.set(head, 1);
  out[1 + head.length] = NEWLINE;
  out.set(body, 2 + head.length);
  return out;
}

/** null when the bytes are not an envelope (another instance's bug, never trusted blindly). */
export function decodeEnvelope(b: Uint8Array): DataEnvelope | null {
  if (b.length < 3) return null;
  const flags = b[0]!;
  const end = Math.min(b.length, 1 + MAX_DATA_HEADER + 64);
  let nl = -1;
  for (let i = 1; i < end; i++) {
    if (b[i] === NEWLINE) {
      nl = i;
      break;
    }
  }
  if (nl < 0) return null;
  let h: { from?: unknown; to?: unknown; topic?: unknown };
  let payload: DataPayload;
  try {
    h = JSON.parse(utf8Decode(b.subarray(1, nl)));
    payload = flags & BINARY ? b.subarray(nl + 1) : utf8Decode(b.subarray(nl + 1));
  } catch {
    return null;
  }
  if (typeof h?.from !== 'string' || checkName('id', h.from) !== null) return null;
  const to = checkTo(h.to);
  const topic = checkTopic(h.topic);
  if (!to.ok || !topic.ok || payloadBytes(payload) > MAX_DATA_PAYLOAD) return null;
  const out: DataEnvelope = { from: h.from, payload, lossy: (flags & LOSSY) !== 0 };
  if (to.value) out.to = to.value;
  if (topic.value) out.topic = topic.value;
  return out;
}
