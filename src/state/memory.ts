/**
 * The embedded state store: the same keys and shapes as Redis (docs/protocol.md), held in this
 * process, with the same 24 h expiry. Default when no --redis is given.
 */
import { encodeInfo, type ParticipantInfo, type TrackInfo } from 'weever-protocol';
import { fromKeyPart, infosOf, keys, mediaValue, parseMediaHash, type Role, STATE_TTL_SECONDS, type StateStore } from './store.js';

interface Entry<T> {
  value: T;
  expiresAt: number;
}

const startedKey = (room: string) => keys.started(room);

export class MemoryStateStore implements StateStore {
  private readonly sets = new Map<string, Entry<Set<string>>>();
  private readonly hashes = new Map<string, Entry<Map<string, string>>>();
  private readonly strings = new Map<string, Entry<string>>();

  constructor(
    private readonly ttlMs = STATE_TTL_SECONDS * 1000,
    private readonly now = Date.now,
  ) {}

  private live<T>(map: Map<string, Entry<T>>, key: string): T | undefined {
    const e = map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      map.delete(key);
      return undefined;
    }
    return e.value;
  }

  private touch<T>(map: Map<string, Entry<T>>, key: string, make: () => T): T {
    const value = this.live(map, key) ?? make();
    map.set(key, { value, expiresAt: this.now() + this.ttlMs });
    return value;
  }

  async addPeer(role: Role, room: string, fullId: string): Promise<boolean> {
    const set = this.touch(this.sets, keys.list(role, room), () => new Set<string>());
    if (set.has(fullId)) return false;
    set.add(fullId);
    return true;
  }

  async removePeer(role: Role, room: string, fullId: string): Promise<void> {
    const key = keys.list(role, room);
    const set = this.live(this.sets, key);
    if (!set) return;
    set.delete(fullId);
    if (set.size === 0) this.sets.delete(key);
  }

  async listPeers(role: Role, room: string): Promise<string[]> {
    return [...(this.live(this.sets, keys.list(role, room)) ?? [])];
  }

  async setMedia(room: string, pubFullId: string, tracks: readonly TrackInfo[]): Promise<void> {
    const hash = this.touch(this.hashes, keys.media(room), () => new Map<string, string>());
    hash.set(keys.mediaField(pubFullId, 'audio'), mediaValue(tracks, 'audio'));
    hash.set(keys.mediaField(pubFullId, 'video'), mediaValue(tracks, 'video'));
  }

  async removeMedia(room: string, pubFullId: string): Promise<void> {
    const key = keys.media(room);
    const hash = this.live(this.hashes, key);
    if (!hash) return;
    hash.delete(keys.mediaField(pubFullId, 'audio'));
    hash.delete(keys.mediaField(pubFullId, 'video'));
    if (hash.size === 0) this.hashes.delete(key);
  }

  async getMedia(room: string): Promise<Map<string, TrackInfo[]>> {
    const hash = this.live(this.hashes, keys.media(room));
    return parseMediaHash(hash ? Object.fromEntries(hash) : {});
  }

  async getParticipantInfos(room: string): Promise<Map<string, ParticipantInfo>> {
    return infosOf(this.live(this.hashes, keys.participants(room)) ?? new Map());
  }

  async setParticipantInfo(room: string, id: string, info: ParticipantInfo): Promise<void> {
    this.touch(this.hashes, keys.participants(room), () => new Map<string, string>()).set(id, encodeInfo(info));
  }

  async removeParticipantInfo(room: string, id: string): Promise<void> {
    const key = keys.participants(room);
    const hash = this.live(this.hashes, key);
    if (!hash) return;
    hash.delete(id);
    if (hash.size === 0) this.hashes.delete(key);
  }

  async setAway(room: string, fullId: string, away: boolean): Promise<void> {
    const key = keys.away(room);
    if (away) {
      this.touch(this.sets, key, () => new Set<string>()).add(fullId);
      return;
    }
    const set = this.live(this.sets, key);
    if (!set) return;
    set.delete(fullId);
    if (set.size === 0) this.sets.delete(key);
  }

  async listAway(room: string): Promise<string[]> {
    return [...(this.live(this.sets, keys.away(room)) ?? [])];
  }

  async setToken(role: Role, room: string, id: string, token: string): Promise<void> {
    this.strings.set(keys.token(role, room, id), { value: token, expiresAt: this.now() + this.ttlMs });
  }

  async removeToken(role: Role, room: string, id: string): Promise<void> {
    this.strings.delete(keys.token(role, room, id));
  }

  async getToken(role: Role, room: string, id: string): Promise<string | null> {
    return this.live(this.strings, keys.token(role, room, id)) ?? null;
  }

  async listRooms(): Promise<string[]> {
    const rooms = new Set<string>();
    for (const key of [...this.sets.keys()]) {
      const m = /^room#(.*)#(pub|sub)_list$/.exec(key);
      if (m && this.live(this.sets, key)) rooms.add(fromKeyPart(m[1]!));
    }
    return [...rooms];
  }

  async markRoom(room: string): Promise<boolean> {
    const key = startedKey(room);
    if (this.live(this.strings, key) !== undefined) return false;
    this.strings.set(key, { value: '1', expiresAt: this.now() + this.ttlMs });
    return true;
  }

  async unmarkRoomIfEmpty(room: string): Promise<boolean> {
    if (this.live(this.sets, keys.list('pub', room)) || this.live(this.sets, keys.list('sub', room))) return false;
    const key = startedKey(room);
    const had = this.live(this.strings, key) !== undefined;
    this.strings.delete(key);
    return had;
  }

  /** Drops expired keys; the server calls it periodically so tokens do not pile up. */
  purgeExpired(): void {
    const now = this.now();
    for (const map of [this.sets, this.hashes, this.strings] as Map<string, Entry<unknown>>[]) {
      for (const [key, e] of map) if (e.expiresAt <= now) map.delete(key);
    }
  }

  /** Number of live keys; lets tests prove nothing is left behind. */
  size(): number {
    this.purgeExpired();
    return this.sets.size + this.hashes.size + this.strings.size;
  }

  health(): string | null {
    return null;
  }

  localEntries(): number {
    return this.size();
  }

  async close(): Promise<void> {
    this.sets.clear();
    this.hashes.clear();
    this.strings.clear();
  }
}
