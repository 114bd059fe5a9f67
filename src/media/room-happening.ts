/**
 * What the SFU reports about rooms (webhooks listen): typed, in the order it happened on this
 * instance, per room.
 */
import type { Role, TrackInfo } from 'weever-protocol';

export type RoomHappeningName =
  | 'room_started'
  | 'room_finished'
  | 'participant_joined'
  | 'participant_left'
  | 'track_published'
  | 'track_unpublished';

export interface RoomHappening {
  event: RoomHappeningName;
  room: string;
  participant?: { id: string; role: Role };
  track?: { id: string; kind: TrackInfo['kind']; codec?: string };
}
