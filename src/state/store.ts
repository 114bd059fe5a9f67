/**
 * Room state shared by every instance of the service (contract §8). Async and
 * key-shaped so the in-memory store and the Redis store are interchangeable.
 */
import type { CodecName, Kind } from '../media/sdp.js';

export type Role = 'pub' | 'sub';

/**
 * Track counts of one publisher; `videoCodecs[n]` is the codec of `video<n>` when any
 * video track is not VP8 (stored after the count, `2;H264,VP8`: readers that only
 * parseInt the value still get the count).
 */
export type TrackCounts = Record<Kind, number> & { videoCodecs?: CodecName[] };

/** The `room#<room>#media` field value of one kind. */
export function mediaValue(counts: TrackCounts, kind: Kind): string {
  const codecs = kind === 'video' ? counts.videoCodecs : undefined;
  return codecs?.some((c) => c !== 'VP8') ? `${counts[kind]};${codecs.join(',')}` : String(counts[kind]);
}

/** Entries expire after 24 h unless rewritten, as the Redis keys do. */
export const STATE_TTL_SECONDS = 24 * 60 * 60;

export interface StateStore {
  /** Adds a full id to the room's list; false when it is already there (→ 409). */
  addPeer(role: Role, room: string, fullId: string): Promise<boolean>;
  removePeer(role: Role, room: string, fullId: string): Promise<void>;
  listPeers(role: Role, room: string): Promise<string[]>;
  /** Records a publisher's flowing tracks in `room#<room>#media`. */
  setMedia(room: string, pubFullId: string, counts: TrackCounts): Promise<void>;
  removeMedia(room: string, pubFullId: string): Promise<void>;
  getMedia(room: string): Promise<Map<string, TrackCounts>>;
  setToken(role: Role, room: string, id: string, token: string): Promise<void>;
  removeToken(role: Role, room: string, id: string): Promise<void>;
  getToken(role: Role, room: string, id: string): Promise<string | null>;
  /** null when usable, else why not (readiness) */
  health(): string | null;
  /** keys (or owned entries) this instance holds; zero when it holds no peer and no token */
  localEntries(): number;
  close(): Promise<void>;
}

export const keys = {
  list: (role: Role, room: string) => `room#${room}#${role}_list`,
  media: (room: string) => `room#${room}#media`,
  token: (role: Role, room: string, id: string) => `token#${role}#${room}#${id}`,
  mediaField: (pubFullId: string, kind: Kind) => `${pubFullId}#${kind}`,
};

/** Parses the fields of `room#<room>#media` back into per-publisher counts. */
export function parseMediaHash(hash: Record<string, string>): Map<string, TrackCounts> {
  const out = new Map<string, TrackCounts>();
  for (const [field, value] of Object.entries(hash)) {
    const hashAt = field.lastIndexOf('#');
    if (hashAt <= 0) continue;
    const pub = field.slice(0, hashAt);
    const kind = field.slice(hashAt + 1);
    if (kind !== 'audio' && kind !== 'video') continue;
    const n = Number.parseInt(value, 10);
    if (!Number.isFinite(n) || n < 0) continue;
    let counts = out.get(pub);
    if (!counts) {
      counts = { audio: 0, video: 0 };
      out.set(pub, counts);
    }
    counts[kind] = n;
    if (kind === 'video') {
      const codecs = value.split(';')[1]?.split(',');
      if (codecs?.every((c) => c === 'VP8' || c === 'H264')) counts.videoCodecs = codecs as CodecName[];
    }
  }
  return out;
}
