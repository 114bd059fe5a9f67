/**
 * Tracks as the protocol names them (docs/protocol.md, "Media"): `<kind><n>`, numbered per
 * publisher and kind in arrival order and never reused while the publisher lives, so a
 * track that ends and comes back gets a new id everywhere (SDP msid, NATS subject, store).
 */

export type Kind = 'audio' | 'video';

export const KINDS: readonly Kind[] = ['audio', 'video'];

/** Encoding names we forward. */
export type CodecName = 'opus' | 'VP8' | 'H264';

export interface TrackInfo {
  kind: Kind;
  /** `<kind><n>`: stable for the track's life */
  trackId: string;
  /** encoding when not the kind's default (VP8/opus), e.g. H264 from a WHIP client */
  codec?: CodecName;
  /**
   * The publisher's RTP header extension ids (RFC 8285) of this track, by URI: only the
   * extensions the server forwards. Absent from older instances: then none is forwarded.
   */
  ext?: Record<string, number>;
  /**
   * Video sent in simulcast: this many spatial layers (2–3), layer 0 the smallest, each on
   * its own subject (`subjects.layer`). Absent: one stream.
   */
  layers?: number;
  /** the publisher muted it (`MUTE`): nothing of it is forwarded until it unmutes */
  muted?: boolean;
  /**
   * Video: each layer's picture size as its key frames say (`[width, height]`, layer 0
   * first; `[0, 0]` not seen yet), for adaptive stream. Absent: not known (H.264, or no
   * key frame yet).
   */
  sizes?: [number, number][];
}

/** Largest picture side taken from a key frame or a `VIDEO_SIZE` (VP8 allows 16383). */
export const MAX_PICTURE_SIDE = 16383;

/** Layer sizes from JSON (`[[w, h], …]`) or a store value part (`320x180+640x360`); undefined when none is readable. */
export function layerSizes(v: unknown): [number, number][] | undefined {
  const items: unknown[] =
    typeof v === 'string'
      ? v.split('+').map((x) => x.split('x').map((n) => (/^\d{1,5}$/.test(n) ? Number(n) : Number.NaN)))
      : Array.isArray(v)
        ? v
        : [];
  if (items.length === 0 || items.length > MAX_LAYERS) return undefined;
  const out: [number, number][] = [];
  for (const it of items) {
    if (!Array.isArray(it) || it.length !== 2) return undefined;
    const [w, h] = it as unknown[];
    if (!Number.isInteger(w) || !Number.isInteger(h) || (w as number) < 0 || (h as number) < 0) return undefined;
    if ((w as number) > MAX_PICTURE_SIDE || (h as number) > MAX_PICTURE_SIDE) return undefined;
    out.push([w as number, h as number]);
  }
  return out.some(([w, h]) => w > 0 && h > 0) ? out : undefined;
}

/** At most this many simulcast layers are taken from a publisher. */
export const MAX_LAYERS = 3;

/** A layer count from JSON or a store value; undefined unless 2..MAX_LAYERS. */
export function layerCount(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return Number.isInteger(n) && (n as number) >= 2 && (n as number) <= MAX_LAYERS ? (n as number) : undefined;
}

/** At most this many header extensions are carried per track. */
export const MAX_TRACK_EXTENSIONS = 16;

/** A track's header extension map from JSON (or a store value); undefined when empty or not one. */
export function headerExtensions(v: unknown): Record<string, number> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, number> = {};
  let n = 0;
  for (const [uri, id] of Object.entries(v as Record<string, unknown>)) {
    if (n === MAX_TRACK_EXTENSIONS) break;
    if (uri.length === 0 || uri.length > 256 || !Number.isInteger(id) || (id as number) < 1 || (id as number) > 255) continue;
    out[uri] = id as number;
    n++;
  }
  return n > 0 ? out : undefined;
}

const TRACK_ID = /^(audio|video)(\d{1,9})$/;

export const trackId = (kind: Kind, n: number): string => `${kind}${n}`;

/** True when `id` is a track id of `kind` (or of any kind). */
export function isTrackId(id: string, kind?: Kind): boolean {
  const m = TRACK_ID.exec(id);
  return m !== null && (kind === undefined || m[1] === kind);
}

/**
 * The codec a track names: only a video codec other than the default (H264) is named; a
 * track without one carries its kind's default. Undefined for the default or an unknown name.
 */
export function namedCodec(kind: Kind, name: unknown): CodecName | undefined {
  return kind === 'video' && name === 'H264' ? 'H264' : undefined;
}

/** A TrackInfo with the codec only when it is named, and the header extensions only when there are some. */
export function trackInfo(
  kind: Kind,
  id: string,
  codec?: unknown,
  ext?: unknown,
  layers?: unknown,
  muted?: unknown,
  sizes?: unknown,
): TrackInfo {
  const named = namedCodec(kind, codec);
  const info: TrackInfo = named ? { kind, trackId: id, codec: named } : { kind, trackId: id };
  const extensions = headerExtensions(ext);
  if (extensions) info.ext = extensions;
  const n = kind === 'video' ? layerCount(layers) : undefined;
  if (n) info.layers = n;
  if (muted === true) info.muted = true;
  const sz = kind === 'video' ? layerSizes(sizes) : undefined;
  if (sz) info.sizes = sz;
  return info;
}
