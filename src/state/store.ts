/**
 * Room state shared by every instance of the service (docs/protocol.md, "State sharing").
 * Async and key-shaped so the in-memory store and the Redis store are interchangeable.
 * Key and value shapes come from the protocol module.
 */
import { type ParticipantInfo, parseInfo, type Role, type TrackInfo } from 'weever-protocol';

export { fromKeyPart, keyPart, keys, mediaValue, parseMediaHash, type Role, STATE_TTL_SECONDS } from 'weever-protocol';

export interface StateStore {
  /** Adds a full id to the room's list; false when it is already there (→ 409). */
  addPeer(role: Role, room: string, fullId: string): Promise<boolean>;
  removePeer(role: Role, room: string, fullId: string): Promise<void>;
  listPeers(role: Role, room: string): Promise<string[]>;
  /** Records a publisher's flowing tracks, with their stable ids, in `room#<room>#media`. */
  setMedia(room: string, pubFullId: string, tracks: readonly TrackInfo[]): Promise<void>;
  removeMedia(room: string, pubFullId: string): Promise<void>;
  /** Each publisher's tracks, audio first. */
  getMedia(room: string): Promise<Map<string, TrackInfo[]>>;
  /** Participants' info (`room#<room>#participants`), by user id; invalid entries are left out. */
  getParticipantInfos(room: string): Promise<Map<string, ParticipantInfo>>;
  setParticipantInfo(room: string, id: string, info: ParticipantInfo): Promise<void>;
  removeParticipantInfo(room: string, id: string): Promise<void>;
  /** Marks a connection away (silent) or back (`room#<room>#away`). */
  setAway(room: string, fullId: string, away: boolean): Promise<void>;
  listAway(room: string): Promise<string[]>;
  setToken(role: Role, room: string, id: string, token: string): Promise<void>;
  removeToken(role: Role, room: string, id: string): Promise<void>;
  getToken(role: Role, room: string, id: string): Promise<string | null>;
  /** Rooms with at least one peer in a list, any instance (admin; may scan). */
  listRooms(): Promise<string[]>;
  /**
   * Sets the room's started mark (`room#<room>#started`) when absent: true when this call set
   * it — the caller announces room_started (webhooks). Atomic across instances.
   */
  markRoom(room: string): Promise<boolean>;
  /**
   * When both lists of the room are empty, removes its started mark in the same atomic step:
   * true when this call removed it — the caller announces room_finished.
   */
  unmarkRoomIfEmpty(room: string): Promise<boolean>;
  /** Drops what has expired; a store whose entries expire by themselves does nothing. */
  purgeExpired(): void;
  /** null when usable, else why not (readiness) */
  health(): string | null;
  /** keys (or owned entries) this instance holds; zero when it holds no peer and no token */
  localEntries(): number;
  close(): Promise<void>;
}

/** A participants hash's valid entries. */
export function infosOf(fields: Map<string, string> | Record<string, string>): Map<string, ParticipantInfo> {
  const out = new Map<string, ParticipantInfo>();
  for (const [id, text] of fields instanceof Map ? fields : Object.entries(fields)) {
    const info = parseInfo(text);
    if (info) out.set(id, info);
  }
  return out;
}
