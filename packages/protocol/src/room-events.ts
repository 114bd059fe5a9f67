/**
 * Room events (docs/protocol.md, "Several instances: Redis and NATS"): a publisher's tracks are ready, or it left; a
 * participant joined, changed or left. Sent
 * between instances on the room's NATS subject as JSON, and delivered in-process as is.
 */
import { checkName } from './ids.js';
import { checkParticipant, type Participant } from './participants.js';
import { isTrackId, type TrackInfo, trackInfo } from './tracks.js';

export type RoomEvent =
  | { type: 'pub-join'; pub: string; tracks: TrackInfo[] }
  | { type: 'pub-left'; pub: string }
  /** a participant joined or changed: the whole of it */
  | { type: 'participant'; participant: Participant }
  | { type: 'participant-left'; id: string };

export const encodeRoomEvent = (event: RoomEvent): string => JSON.stringify(event);

/** Validates a room event from another instance; null when it is not one. */
export function parseRoomEvent(text: string): RoomEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const e = v as { type?: unknown; pub?: unknown; tracks?: unknown; participant?: unknown; id?: unknown };
  if (e.type === 'participant') {
    const participant = checkParticipant(e.participant);
    return participant ? { type: 'participant', participant } : null;
  }
  if (e.type === 'participant-left')
    return typeof e.id === 'string' && checkName('id', e.id) === null ? { type: 'participant-left', id: e.id } : null;
  if (typeof e.pub !== 'string' || checkName('full id', e.pub) !== null) return null;
  if (e.type === 'pub-left') return { type: 'pub-left', pub: e.pub };
  if (e.type !== 'pub-join' || !Array.isArray(e.tracks)) return null;
  const tracks: TrackInfo[] = [];
  for (const t of e.tracks as unknown[]) {
    const tt = (t ?? {}) as {
      kind?: unknown;
      trackId?: unknown;
      codec?: unknown;
      ext?: unknown;
      layers?: unknown;
      muted?: unknown;
      sizes?: unknown;
    };
    if ((tt.kind !== 'audio' && tt.kind !== 'video') || typeof tt.trackId !== 'string' || !isTrackId(tt.trackId, tt.kind)) return null;
    // An unknown codec is left out: the track is then taken as the kind's default codec.
    // A malformed `ext` is left out too: the track's header extensions are then not forwarded.
    tracks.push(trackInfo(tt.kind, tt.trackId, tt.codec, tt.ext, tt.layers, tt.muted, tt.sizes));
  }
  return { type: 'pub-join', pub: e.pub, tracks };
}
