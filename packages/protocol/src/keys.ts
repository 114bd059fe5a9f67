/**
 * Redis keys and values (docs/protocol.md, "Several instances: Redis and NATS"): the original project's key names, kept for
 * compatibility, plus the instance-ownership keys.
 */
import { isTrackId, KINDS, type Kind, type TrackInfo, trackId, trackInfo } from './tracks.js';

export type Role = 'pub' | 'sub';

/** Entries expire after 24 h unless rewritten. */
export const STATE_TTL_SECONDS = 24 * 60 * 60;

/**
 * A name as one part of a key. `#` separates key parts and names may contain it, so `#` is
 * written `%23` and `%` itself `%25`: room `a#b` with id `c` and room `a` with id `b#c` can
 * never share a key. Names without `#` or `%` are unchanged (the original project's keys).
 */
export function keyPart(name: string): string {
  return name.includes('#') || name.includes('%') ? name.replace(/%/g, '%25').replace(/#/g, '%23') : name;
}

/** The name a key part was made from. */
export function fromKeyPart(part: string): string {
  return part.includes('%') ? part.replace(/%23/g, '#').replace(/%25/g, '%') : part;
}

export const keys = {
  list: (role: Role, room: string): string => `room#${keyPart(room)}#${role}_list`,
  media: (room: string): string => `room#${keyPart(room)}#media`,
  /** a field of the media hash; the kind is after the last `#`, so the id needs no encoding */
  mediaField: (pubFullId: string, kind: Kind): string => `${pubFullId}#${kind}`,
  /** set while the room has had a peer since it was last empty (webhooks: room_started/finished) */
  started: (room: string): string => `room#${keyPart(room)}#started`,
  /** hash: user id → its participant info (name, attributes) as JSON */
  participants: (room: string): string => `room#${keyPart(room)}#participants`,
  /** set: full ids whose connection has gone silent (away: not listed as a participant's) */
  away: (room: string): string => `room#${keyPart(room)}#away`,
  token: (role: Role, room: string, id: string): string => `token#${role}#${keyPart(room)}#${keyPart(id)}`,
  /** the ids of the live instances */
  instances: 'instances',
  /** rewritten every second with a short expiry while the instance lives */
  heartbeat: (instance: string): string => `instance#${instance}`,
  /** set of `<role> <room> <fullId>`: every list entry the instance wrote */
  owned: (instance: string): string => `instance#${instance}#peers`,
};

/**
 * One entry of an instance's owned set: role, the room as a key part (so the reaping script
 * can build the room's keys from it) and the full id as stored in the room's list. Names
 * hold no space, so a space separates the fields.
 */
export const ownedEntry = (role: Role, room: string, fullId: string): string => `${role} ${keyPart(room)} ${fullId}`;

export function parseOwnedEntry(entry: string): { role: Role; room: string; fullId: string } | null {
  const m = /^(pub|sub) (\S+) (\S+)$/.exec(entry);
  return m ? { role: m[1] as Role, room: fromKeyPart(m[2]!), fullId: m[3]! } : null;
}

/**
 * The `room#<room>#media` field value of one kind: the track count first (what the
 * original project stores, so a reader that parses the integer still works), then the
 * stable track ids, each with its codec when named: `2;video0,video3/H264`; then, when
 * the track has header extensions, a third part `<id>=<uri>+…` with each URI
 * percent-encoded: `1;video0//13=urn%3A3gpp%3Avideo-orientation+2=http%3A%2F%2F…`
 * (readers that split on `/` and take two parts still read id and codec); a fourth, the
 * simulcast layer count; a fifth, `m` while the track is muted: `audio0////m`; a sixth, the
 * layers' picture sizes, when known: `video0///3//320x180+640x360+1280x720`.
 */
export function mediaValue(tracks: readonly TrackInfo[], kind: Kind): string {
  const own = tracks.filter((t) => t.kind === kind);
  return `${own.length};${own.map(trackValue).join(',')}`;
}

function trackValue(t: TrackInfo): string {
  const ext = t.ext ? Object.entries(t.ext) : [];
  const extPart = ext.map(([uri, id]) => `${id}=${encodeURIComponent(uri)}`).join('+');
  if (t.sizes)
    return `${t.trackId}/${t.codec ?? ''}/${extPart}/${t.layers ?? ''}/${t.muted ? 'm' : ''}/${t.sizes.map(([w, h]) => `${w}x${h}`).join('+')}`;
  if (t.muted) return `${t.trackId}/${t.codec ?? ''}/${extPart}/${t.layers ?? ''}/m`;
  if (t.layers) return `${t.trackId}/${t.codec ?? ''}/${extPart}/${t.layers}`;
  if (ext.length === 0) return t.codec ? `${t.trackId}/${t.codec}` : t.trackId;
  return `${t.trackId}/${t.codec ?? ''}/${extPart}`;
}

/** The third part of a track's media value back into its extension map (unreadable entries are skipped). */
function parseExtPart(part: string | undefined): Record<string, number> | undefined {
  if (!part) return undefined;
  const out: Record<string, number> = {};
  for (const item of part.split('+')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[decodeURIComponent(item.slice(eq + 1))] = Number(item.slice(0, eq));
    } catch {
      // a bad escape: that entry is skipped
    }
  }
  return out;
}

/**
 * Parses the fields of `room#<room>#media` back into each publisher's tracks. A value
 * without ids (a bare count, or `2;H264,VP8` of earlier versions) numbers tracks by position.
 */
export function parseMediaHash(hash: Record<string, string>): Map<string, TrackInfo[]> {
  const out = new Map<string, TrackInfo[]>();
  for (const [field, value] of Object.entries(hash)) {
    const hashAt = field.lastIndexOf('#');
    if (hashAt <= 0) continue;
    const pub = field.slice(0, hashAt);
    const kind = field.slice(hashAt + 1) as Kind;
    if (!KINDS.includes(kind)) continue;
    const count = Number.parseInt(value, 10);
    if (!Number.isFinite(count) || count < 0) continue;
    const items = value.includes(';')
      ? value
          .slice(value.indexOf(';') + 1)
          .split(',')
          .filter((s) => s !== '')
      : [];
    const withIds = items.length === count && items.every((s) => isTrackId(s.split('/')[0]!, kind));
    const tracks: TrackInfo[] = [];
    for (let i = 0; i < count; i++) {
      if (withIds) {
        const [id, codec, ext, layers, flags, sizes] = items[i]!.split('/');
        tracks.push(trackInfo(kind, id!, codec, parseExtPart(ext), layers, flags === 'm', sizes));
      } else tracks.push(trackInfo(kind, trackId(kind, i), items[i]));
    }
    const list = out.get(pub) ?? [];
    list.push(...tracks);
    out.set(pub, list);
  }
  // audio before video, as publishers announce them
  for (const list of out.values()) list.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'audio' ? -1 : 1));
  for (const [pub, list] of out) if (list.length === 0) out.delete(pub);
  return out;
}
