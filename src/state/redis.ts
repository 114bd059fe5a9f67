/**
 * The Redis state store (docs/protocol.md, "State sharing"): the protocol's keys with 24 h TTLs, shared by
 * every instance. Beyond the original project's keys, every entry this instance writes is owned:
 *
 * - `instance#<id>` is a heartbeat key rewritten every second with a 5 s expiry (Redis's
 *   clock decides, so instance clocks need not agree);
 * - `instance#<id>#peers` is the set of `<role> <room> <fullId>` entries it wrote;
 * - `instances` lists the instance ids.
 *
 * A surviving instance that finds an id in `instances` without its heartbeat key reaps
 * it with one Lua script: the script removes the id from `instances` first, so only one
 * caller ever gets the entries back (exactly once), and removes them from the room
 * lists and media hashes atomically. The caller then tells the rooms (`pub-left`).
 *
 * While Redis is down, calls fail at once (no offline queue): POSTs get 503 and media
 * keeps flowing. When it returns, `resync` rewrites this instance's entries from its
 * own view and drops those it owns in Redis but no longer has (peers that left meanwhile).
 */
import { Redis } from 'ioredis';
import { encodeInfo, ownedEntry, type ParticipantInfo, parseOwnedEntry, type TrackInfo } from 'weever-protocol';
import type { Logger } from '../observability/log.js';
import { fromKeyPart, infosOf, keys, mediaValue, parseMediaHash, type Role, STATE_TTL_SECONDS, type StateStore } from './store.js';

export const HEARTBEAT_INTERVAL_MS = 1000;
/** An instance whose heartbeat key is this old is dead. */
export const HEARTBEAT_TTL_MS = 5000;
/** Full rewrite of our entries now and then: refreshes TTLs of long rooms and repairs drift. */
const RESYNC_INTERVAL_MS = 5 * 60_000;

/** An entry owned by this instance: a peer in a room list, with its media when announced. */
interface Owned {
  role: Role;
  room: string;
  fullId: string;
  media?: readonly TrackInfo[];
}

export interface ReapedPeer {
  role: Role;
  room: string;
  fullId: string;
}

// KEYS: list, owner set. ARGV: fullId, entry, ttl. Adds to the room list only when free.
const ADD_PEER = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1`;

// KEYS: instances, heartbeat, owner set. ARGV: instance id, then the key shapes of the
// protocol module with {role}/{room}/{id} holes: list, media hash, audio field, video field.
// An entry's room is already a key part (protocol keyPart), its full id as the list holds it.
// Names are validated (printable ASCII, no spaces), so a space separates an entry's fields;
// holes are filled in one pass, so a name that looks like a hole is never filled again.
const REAP = `
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return false end
local entries = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', KEYS[3])
for _, e in ipairs(entries) do
  local role, room, id = string.match(e, '^(%S+) (%S+) (%S+)$')
  if role then
    local v = { role = role, room = room, id = id }
    local function fill(shape) return (string.gsub(shape, '{(%a+)}', function(k) return v[k] end)) end
    redis.call('SREM', fill(ARGV[2]), id)
    if role == 'pub' then
      redis.call('HDEL', fill(ARGV[3]), fill(ARGV[4]), fill(ARGV[5]))
    end
  end
end
return entries`;

// KEYS: pub list, sub list, started mark. Removes the mark only when both lists are empty.
const UNMARK_IF_EMPTY = `
if redis.call('SCARD', KEYS[1]) + redis.call('SCARD', KEYS[2]) > 0 then return 0 end
return redis.call('DEL', KEYS[3])`;

/** The key shapes REAP fills in, from the protocol module. */
const REAP_SHAPES = [
  keys.list('{role}' as Role, '{room}'),
  keys.media('{room}'),
  keys.mediaField('{id}', 'audio'),
  keys.mediaField('{id}', 'video'),
] as const;

type Scripted = Redis & {
  weeverAddPeer(list: string, owner: string, fullId: string, entry: string, ttl: number): Promise<number>;
  weeverUnmark(pub: string, sub: string, mark: string): Promise<number>;
  weeverReap(all: string, heartbeat: string, owner: string, instance: string, ...shapes: string[]): Promise<string[] | null>;
};

export interface RedisStoreOptions {
  url: string;
  instanceId: string;
  log: Logger;
  /** peers of a dead instance, removed from Redis by us (and by no other instance) */
  onReaped(peers: ReapedPeer[], instance: string): void;
  /** Redis is back and our entries are rewritten: the rooms may need telling again */
  onResynced(): void;
}

export class RedisStateStore implements StateStore {
  private readonly redis: Scripted;
  private readonly owned = new Map<string, Owned>();
  /** entries whose addPeer script is in flight (count per entry) */
  private readonly adding = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readySince = 0;
  private wasReady = false;
  private closing = false;
  private resyncing: Promise<void> | undefined;
  private lastError = '';
  /** a heartbeat has been written once: later, our id missing from `instances` means we were reaped */
  private beaten = false;
  /** the last resync failed: the next tick tries again */
  private resyncDue = false;

  private constructor(private readonly opts: RedisStoreOptions) {
    this.redis = new Redis(opts.url, {
      lazyConnect: true,
      // Fail at once while disconnected: a POST gets 503 now, not after a queue drains.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      commandTimeout: 2000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    }) as Scripted;
    this.redis.defineCommand('weeverAddPeer', { numberOfKeys: 2, lua: ADD_PEER });
    this.redis.defineCommand('weeverUnmark', { numberOfKeys: 3, lua: UNMARK_IF_EMPTY });
    this.redis.defineCommand('weeverReap', { numberOfKeys: 3, lua: REAP });
    this.redis.on('ready', () => this.onReady());
    this.redis.on('error', (err: Error) => {
      // ioredis repeats the same error on every retry: log changes only.
      if (err.message !== this.lastError) opts.log.warn({ err: err.message }, 'redis error');
      this.lastError = err.message;
    });
    this.redis.on('close', () => {
      if (this.readySince !== 0 && !this.closing) opts.log.warn('redis connection lost');
      this.readySince = 0;
    });
  }

  /** Connects, or throws when Redis cannot be reached within a few seconds. */
  static async connect(opts: RedisStoreOptions): Promise<RedisStateStore> {
    const store = new RedisStateStore(opts);
    try {
      await store.redis.connect();
      await store.redis.ping();
    } catch (err) {
      store.closing = true;
      store.redis.disconnect();
      throw new Error(`cannot connect to Redis at ${redactUrl(opts.url)}: ${(err as Error).message}`);
    }
    store.timers.push(setInterval(() => store.tick(), HEARTBEAT_INTERVAL_MS));
    store.timers.push(setInterval(() => store.resync(), RESYNC_INTERVAL_MS));
    for (const t of store.timers) t.unref();
    return store;
  }

  private onReady(): void {
    this.readySince = Date.now();
    this.lastError = '';
    if (this.wasReady) {
      this.opts.log.info('redis connection back; rewriting our entries');
      this.resync();
    } else {
      this.wasReady = true;
      this.beat();
    }
  }

  /** null when usable, else why not (readiness). */
  health(): string | null {
    return this.redis.status === 'ready' ? null : `redis ${this.redis.status}`;
  }

  /** Entries this instance owns in Redis; zero when it holds no peer. */
  localEntries(): number {
    let n = 0;
    for (const o of this.owned.values()) n += o.media ? 2 : 1;
    return n;
  }

  private tick(): void {
    if (this.readySince === 0) return;
    if (this.resyncDue) {
      void this.resync();
      return;
    }
    this.beat();
    // Just reconnected: give the others time to rewrite their heartbeats before judging them.
    if (Date.now() - this.readySince >= HEARTBEAT_TTL_MS) void this.reapDead();
  }

  private beat(): void {
    const id = this.opts.instanceId;
    const first = !this.beaten;
    this.redis
      .multi()
      .set(keys.heartbeat(id), String(Date.now()), 'PX', HEARTBEAT_TTL_MS)
      .sadd(keys.instances, id)
      .expire(keys.owned(id), STATE_TTL_SECONDS)
      .exec()
      .then((replies) => {
        this.beaten = true;
        // Our id was missing from `instances`: another instance took us for dead (a pause
        // longer than the heartbeat's life) and reaped our entries. Write them back.
        if (!first && replies?.[1]?.[1] === 1) {
          this.opts.log.warn('this instance was reaped while alive; rewriting its entries');
          void this.resync();
        }
      })
      .catch(() => {
        // Redis is down: the 'close'/'error' handlers already said so.
      });
  }

  private async reapDead(): Promise<void> {
    try {
      const ids = await this.redis.smembers(keys.instances);
      for (const id of ids) {
        if (id === this.opts.instanceId) continue;
        const entries = await this.redis.weeverReap(keys.instances, keys.heartbeat(id), keys.owned(id), id, ...REAP_SHAPES);
        if (!entries) continue;
        const peers: ReapedPeer[] = [];
        for (const e of entries) {
          const p = parseOwnedEntry(e);
          if (p) peers.push(p);
        }
        this.opts.log.warn({ instance: id, peers: peers.length }, 'reaped a dead instance');
        try {
          this.opts.onReaped(peers, id);
        } catch (err) {
          this.opts.log.error({ err, instance: id }, 'could not announce the peers of a reaped instance');
        }
      }
    } catch {
      // Redis went away mid-way; the next tick tries again.
    }
  }

  /**
   * Rewrites everything we own from our own view: heartbeat, lists, media, owner set, and
   * removes what Redis says we own but we no longer have. One at a time.
   */
  resync(announce = true): Promise<void> {
    this.resyncing ??= this.doResync(announce).finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async doResync(announce: boolean): Promise<void> {
    const id = this.opts.instanceId;
    const ownerKey = keys.owned(id);
    try {
      const inRedis = await this.redis.smembers(ownerKey);
      // Built after the read, from the current view: a peer removed meanwhile is out of
      // `owned` and its removal was sent before ours; one being added is in `adding`.
      const m = this.redis.multi();
      m.set(keys.heartbeat(id), String(Date.now()), 'PX', HEARTBEAT_TTL_MS).sadd(keys.instances, id);
      for (const e of inRedis) {
        if (this.owned.has(e) || this.adding.has(e)) continue;
        const p = parseOwnedEntry(e);
        if (!p) continue;
        const { role, room, fullId } = p;
        m.srem(keys.list(role, room), fullId).srem(ownerKey, e);
        if (role === 'pub') m.hdel(keys.media(room), keys.mediaField(fullId, 'audio'), keys.mediaField(fullId, 'video'));
      }
      for (const [entry, o] of this.owned) {
        const list = keys.list(o.role, o.room);
        m.sadd(list, o.fullId).expire(list, STATE_TTL_SECONDS).sadd(ownerKey, entry);
        if (o.media) this.writeMedia(m, o.room, o.fullId, o.media);
      }
      m.expire(ownerKey, STATE_TTL_SECONDS);
      await m.exec();
      this.resyncDue = false;
      this.beaten = true;
      this.opts.log.info(
        { entries: this.owned.size, removed: inRedis.filter((e) => !this.owned.has(e)).length },
        'state rewritten to redis',
      );
      if (announce) this.opts.onResynced();
    } catch (err) {
      this.resyncDue = true;
      this.opts.log.warn({ err: (err as Error).message }, 'could not rewrite state to redis; retrying in a second');
    }
  }

  private writeMedia(m: ReturnType<Redis['multi']>, room: string, fullId: string, tracks: readonly TrackInfo[]): void {
    const key = keys.media(room);
    m.hset(
      key,
      keys.mediaField(fullId, 'audio'),
      mediaValue(tracks, 'audio'),
      keys.mediaField(fullId, 'video'),
      mediaValue(tracks, 'video'),
    );
    m.expire(key, STATE_TTL_SECONDS);
  }

  async addPeer(role: Role, room: string, fullId: string): Promise<boolean> {
    const entry = ownedEntry(role, room, fullId);
    // While the script is in flight, a resync must not take its entry for a ghost.
    this.adding.set(entry, (this.adding.get(entry) ?? 0) + 1);
    let added: number;
    try {
      added = await this.redis.weeverAddPeer(keys.list(role, room), keys.owned(this.opts.instanceId), fullId, entry, STATE_TTL_SECONDS);
    } catch (err) {
      // It may have run (a timeout): the next resync removes it if we do not own it.
      this.resyncDue = true;
      throw err;
    } finally {
      const n = (this.adding.get(entry) ?? 1) - 1;
      if (n > 0) this.adding.set(entry, n);
      else this.adding.delete(entry);
    }
    if (added === 1) this.owned.set(entry, { role, room, fullId });
    return added === 1;
  }

  async removePeer(role: Role, room: string, fullId: string): Promise<void> {
    const entry = ownedEntry(role, room, fullId);
    // Forgotten first: if Redis is down now, the resync after it returns removes it there.
    if (!this.owned.delete(entry)) return;
    await this.redis.multi().srem(keys.list(role, room), fullId).srem(keys.owned(this.opts.instanceId), entry).exec();
  }

  async listPeers(role: Role, room: string): Promise<string[]> {
    return this.redis.smembers(keys.list(role, room));
  }

  async listRooms(): Promise<string[]> {
    // SCAN, not KEYS: an admin call must not block Redis for the other instances.
    const rooms = new Set<string>();
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', 'room#*_list', 'COUNT', 500);
      cursor = next;
      for (const key of found) {
        const m = /^room#(.*)#(pub|sub)_list$/.exec(key);
        if (m) rooms.add(fromKeyPart(m[1]!));
      }
    } while (cursor !== '0');
    return [...rooms];
  }

  async markRoom(room: string): Promise<boolean> {
    return (await this.redis.set(keys.started(room), this.opts.instanceId, 'EX', STATE_TTL_SECONDS, 'NX')) === 'OK';
  }

  async unmarkRoomIfEmpty(room: string): Promise<boolean> {
    return (await this.redis.weeverUnmark(keys.list('pub', room), keys.list('sub', room), keys.started(room))) === 1;
  }

  async setMedia(room: string, pubFullId: string, tracks: readonly TrackInfo[]): Promise<void> {
    const o = this.owned.get(ownedEntry('pub', room, pubFullId));
    if (!o) return; // left already
    o.media = [...tracks];
    const m = this.redis.multi();
    this.writeMedia(m, room, pubFullId, tracks);
    await m.exec();
  }

  async removeMedia(room: string, pubFullId: string): Promise<void> {
    const o = this.owned.get(ownedEntry('pub', room, pubFullId));
    if (o) delete o.media;
    await this.redis.hdel(keys.media(room), keys.mediaField(pubFullId, 'audio'), keys.mediaField(pubFullId, 'video'));
  }

  async getMedia(room: string): Promise<Map<string, TrackInfo[]>> {
    return parseMediaHash(await this.redis.hgetall(keys.media(room)));
  }

  async getParticipantInfos(room: string): Promise<Map<string, ParticipantInfo>> {
    return infosOf(await this.redis.hgetall(keys.participants(room)));
  }

  async setParticipantInfo(room: string, id: string, info: ParticipantInfo): Promise<void> {
    const key = keys.participants(room);
    await this.redis.multi().hset(key, id, encodeInfo(info)).expire(key, STATE_TTL_SECONDS).exec();
  }

  async removeParticipantInfo(room: string, id: string): Promise<void> {
    await this.redis.hdel(keys.participants(room), id);
  }

  async setAway(room: string, fullId: string, away: boolean): Promise<void> {
    const key = keys.away(room);
    if (away) await this.redis.multi().sadd(key, fullId).expire(key, STATE_TTL_SECONDS).exec();
    else await this.redis.srem(key, fullId);
  }

  async listAway(room: string): Promise<string[]> {
    return this.redis.smembers(keys.away(room));
  }

  /** Redis expires keys by itself. */
  purgeExpired(): void {}

  async setToken(role: Role, room: string, id: string, token: string): Promise<void> {
    await this.redis.set(keys.token(role, room, id), token, 'EX', STATE_TTL_SECONDS);
  }

  async removeToken(role: Role, room: string, id: string): Promise<void> {
    await this.redis.del(keys.token(role, room, id));
  }

  async getToken(role: Role, room: string, id: string): Promise<string | null> {
    return this.redis.get(keys.token(role, room, id));
  }

  /** Our peers are closed by now: drop our heartbeat and owner set, then disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    const id = this.opts.instanceId;
    if (this.redis.status === 'ready') {
      try {
        await this.resync(false); // removes entries whose removal failed earlier
        if (this.owned.size === 0) {
          await this.redis.multi().srem(keys.instances, id).del(keys.heartbeat(id), keys.owned(id)).exec();
        }
      } catch {
        // best effort: the others reap us when the heartbeat expires
      }
    }
    this.redis.disconnect();
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparsable url>';
  }
}
