/**
 * Participants (docs/protocol.md, "Participants"): one per user id in a room, whatever
 * connections it holds. Their JSON shape, the limits on what a participant may set about
 * itself (`SET_INFO`, JWT claims), and the merge of an update into the stored info.
 */
import { checkName } from './ids.js';
import type { Role } from './keys.js';
import { utf8Encode } from './text.js';

export const MAX_PARTICIPANT_NAME = 128;
export const MAX_ATTRIBUTES = 32;
export const MAX_ATTRIBUTE_KEY = 64;
export const MAX_ATTRIBUTE_VALUE = 1024;
/** name + attributes, as stored JSON */
export const MAX_INFO_BYTES = 4096;

/** What a participant (or its JWT) says about itself; kept per room and user id. */
export interface ParticipantInfo {
  name: string;
  attributes: Record<string, string>;
}

/** One connection of a participant: a full id in one of the room's lists. */
export interface ParticipantConnection {
  fullId: string;
  role: Role;
}

/** A participant as subscribers are told about it. */
export interface Participant extends ParticipantInfo {
  id: string;
  /** publishers first, each sorted */
  connections: ParticipantConnection[];
}

/** A change asked for by `SET_INFO` or carried by a JWT: attributes merge, `null` removes one. */
export interface InfoUpdate {
  name?: string;
  attributes?: Record<string, string | null>;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates an update's shape and sizes (not yet its merged size: see `mergeInfo`). */
export function checkInfoUpdate(v: unknown): Checked<InfoUpdate> {
  if (!isObject(v)) return { ok: false, error: 'expected a JSON object {"name"?, "attributes"?}' };
  for (const k of Object.keys(v))
    if (k !== 'name' && k !== 'attributes') return { ok: false, error: `unknown field ${JSON.stringify(k.slice(0, 32))}` };
  const out: InfoUpdate = {};
  if (v.name !== undefined) {
    if (typeof v.name !== 'string') return { ok: false, error: 'name must be a string' };
    if (v.name.length > MAX_PARTICIPANT_NAME) return { ok: false, error: `name must be at most ${MAX_PARTICIPANT_NAME} characters` };
    out.name = v.name;
  }
  if (v.attributes !== undefined) {
    if (!isObject(v.attributes)) return { ok: false, error: 'attributes must be an object of strings' };
    const attrs: Record<string, string | null> = {};
    const entries = Object.entries(v.attributes);
    if (entries.length > MAX_ATTRIBUTES) return { ok: false, error: `at most ${MAX_ATTRIBUTES} attributes` };
    for (const [key, value] of entries) {
      if (key.length === 0 || key.length > MAX_ATTRIBUTE_KEY)
        return { ok: false, error: `attribute keys must be 1-${MAX_ATTRIBUTE_KEY} characters` };
      if (value !== null && typeof value !== 'string')
        return { ok: false, error: `attribute ${JSON.stringify(key.slice(0, 32))} must be a string or null` };
      if (typeof value === 'string' && value.length > MAX_ATTRIBUTE_VALUE)
        return { ok: false, error: `attribute ${JSON.stringify(key.slice(0, 32))} must be at most ${MAX_ATTRIBUTE_VALUE} characters` };
      attrs[key] = value;
    }
    out.attributes = attrs;
  }
  return { ok: true, value: out };
}

/** `info` with `update` applied; an error when the result is over the limits. */
export function mergeInfo(info: ParticipantInfo, update: InfoUpdate): Checked<ParticipantInfo> {
  const attributes = { ...info.attributes };
  for (const [k, v] of Object.entries(update.attributes ?? {})) {
    if (v === null) delete attributes[k];
    else attributes[k] = v;
  }
  const merged: ParticipantInfo = { name: update.name ?? info.name, attributes };
  if (Object.keys(attributes).length > MAX_ATTRIBUTES) return { ok: false, error: `at most ${MAX_ATTRIBUTES} attributes` };
  const bytes = utf8Encode(encodeInfo(merged)).length;
  if (bytes > MAX_INFO_BYTES) return { ok: false, error: `name and attributes must be at most ${MAX_INFO_BYTES} bytes as JSON (${bytes})` };
  return { ok: true, value: merged };
}

export const defaultInfo = (id: string): ParticipantInfo => ({ name: id, attributes: {} });

export const encodeInfo = (info: ParticipantInfo): string => JSON.stringify({ name: info.name, attributes: info.attributes });

/** Reads stored info back; null when it is not valid (then the default applies). */
export function parseInfo(text: string): ParticipantInfo | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const c = checkInfoUpdate(v);
  if (!c.ok || c.value.name === undefined) return null;
  const attributes: Record<string, string> = {};
  for (const [k, val] of Object.entries(c.value.attributes ?? {})) if (val !== null) attributes[k] = val;
  return { name: c.value.name, attributes };
}

/** The participant's connections in their order: publishers first, each sorted. */
export function sortConnections(connections: ParticipantConnection[]): ParticipantConnection[] {
  return connections.sort((a, b) =>
    a.role === b.role ? (a.fullId < b.fullId ? -1 : a.fullId > b.fullId ? 1 : 0) : a.role === 'pub' ? -1 : 1,
  );
}

/** Validates a participant from the wire (another instance, or the server for a client). */
export function checkParticipant(v: unknown): Participant | null {
  if (!isObject(v) || typeof v.id !== 'string' || checkName('id', v.id) !== null || !Array.isArray(v.connections)) return null;
  const info = parseInfo(JSON.stringify({ name: v.name, attributes: v.attributes }));
  if (!info) return null;
  const connections: ParticipantConnection[] = [];
  for (const c of v.connections as unknown[]) {
    if (!isObject(c) || typeof c.fullId !== 'string' || checkName('full id', c.fullId) !== null) return null;
    if (c.role !== 'pub' && c.role !== 'sub') return null;
    connections.push({ fullId: c.fullId, role: c.role });
  }
  return { id: v.id, ...info, connections };
}

export const encodeParticipant = (p: Participant): string =>
  JSON.stringify({ id: p.id, name: p.name, attributes: p.attributes, connections: p.connections });

/** Two participants say the same (a repeated event changes nothing). */
export function sameParticipant(a: Participant, b: Participant): boolean {
  return encodeParticipant(a) === encodeParticipant(b);
}
