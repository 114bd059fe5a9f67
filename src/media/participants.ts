/**
 * Participants per room (docs/protocol.md, "Participants"): one per user id, whatever
 * connections it holds on whichever instance.
 *
 * Two jobs:
 * - **Changes made here** (a connection joined or left, `SET_INFO`, a dead instance reaped):
 *   the info is written to the state store, the participant is read back whole (its
 *   connections from the room's lists) and sent as a room event on the bus. Changes of one
 *   user in one room run one after the other, so a join and a quick leave never cross.
 * - **What subscribers here are told**: per room with a control-channel subscriber here,
 *   the room's participants (a snapshot from the store, then room events), and each change
 *   as `PARTICIPANT_JOINED` / `_UPDATED` / `_LEFT` — only what changed, so an event that
 *   repeats what is known sends nothing.
 */
import {
  control,
  defaultInfo,
  type InfoUpdate,
  idOf,
  mergeInfo,
  ownerOf,
  type Participant,
  type ParticipantInfo,
  type Role,
  type RoomEvent,
  sameParticipant,
  sortConnections,
} from 'weever-protocol';
import type { Bus, Unsubscribe } from '../bus/bus.js';
import type { Logger } from '../observability/log.js';
import type { StateStore } from '../state/store.js';
import { oneLine } from './errors.js';

/** A subscriber here: receives each change as a control message. */
export type ParticipantListener = (message: string) => void;

/** The user a full id belongs to. */
export const userOf = (fullId: string): string => ownerOf(idOf(fullId));

/**
 * Reads a room's participants from the store: info by user id, connections from both lists
 * except those away (silent). `users` also gets the users whose every connection is away.
 */
async function readRoom(store: StateStore, room: string, users?: Set<string>): Promise<Map<string, Participant>> {
  const [infos, pubs, subs, awayList] = await Promise.all([
    store.getParticipantInfos(room),
    store.listPeers('pub', room),
    store.listPeers('sub', room),
    store.listAway(room),
  ]);
  const away = new Set(awayList);
  const out = new Map<string, Participant>();
  const add = (fullId: string, role: Role) => {
    const id = userOf(fullId);
    users?.add(id);
    if (away.has(fullId)) return;
    let p = out.get(id);
    if (!p) {
      p = { id, ...(infos.get(id) ?? defaultInfo(id)), connections: [] };
      out.set(id, p);
    }
    p.connections.push({ fullId, role });
  };
  for (const f of pubs) add(f, 'pub');
  for (const f of subs) add(f, 'sub');
  for (const p of out.values()) sortConnections(p.connections);
  return out;
}

/** One room watched for the subscribers here. */
class RoomParticipants {
  readonly listeners = new Set<ParticipantListener>();
  readonly participants = new Map<string, Participant>();
  private readonly unsubscribe: Unsubscribe;
  /** events that arrive while the snapshot loads */
  private queued: RoomEvent[] | undefined = [];
  readonly loaded: Promise<void>;

  constructor(
    readonly room: string,
    bus: Bus,
    store: StateStore,
    log: Logger,
  ) {
    // Events first, then the snapshot, so no change falls between the two.
    this.unsubscribe = bus.subscribeRoom(room, (e) => {
      if (this.queued) this.queued.push(e);
      else this.apply(e);
    });
    this.loaded = readRoom(store, room)
      .then((ps) => {
        for (const [id, p] of ps) this.participants.set(id, p);
      })
      .catch((err) => log.warn({ room, err: oneLine(err) }, 'participants: room unavailable; following room events only'))
      .finally(() => {
        const queued = this.queued ?? [];
        this.queued = undefined;
        for (const e of queued) this.apply(e);
      });
  }

  private apply(e: RoomEvent): void {
    if (e.type === 'participant') {
      const before = this.participants.get(e.participant.id);
      if (before && sameParticipant(before, e.participant)) return;
      this.participants.set(e.participant.id, e.participant);
      this.tell(before ? control.participantUpdated(e.participant) : control.participantJoined(e.participant));
    } else if (e.type === 'participant-left') {
      if (!this.participants.delete(e.id)) return;
      this.tell(control.participantLeft(e.id));
    }
  }

  private tell(message: string): void {
    for (const l of [...this.listeners]) l(message);
  }

  snapshot(): string {
    return control.participants([...this.participants.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  }

  close(): void {
    this.unsubscribe();
  }
}

export class Participants {
  private readonly rooms = new Map<string, RoomParticipants>();
  /** per `room user`: the tail of its chain of changes */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly bus: Bus,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  /**
   * A subscriber here follows the room's participants: `listener` gets the snapshot
   * (`PARTICIPANTS`) when this resolves, then every change. Call the result to leave.
   */
  async join(room: string, listener: ParticipantListener): Promise<Unsubscribe> {
    let r = this.rooms.get(room);
    if (!r) {
      r = new RoomParticipants(room, this.bus, this.store, this.log);
      this.rooms.set(room, r);
    }
    const watched = r;
    await watched.loaded;
    watched.listeners.add(listener);
    listener(watched.snapshot());
    return () => {
      if (!watched.listeners.delete(listener) || watched.listeners.size > 0) return;
      watched.close();
      if (this.rooms.get(room) === watched) this.rooms.delete(room);
    };
  }

  /** Runs `step` after the earlier changes of `id` in `room`. */
  private chain<T>(room: string, id: string, step: () => Promise<T>): Promise<T> {
    const key = `${room} ${id}`;
    const run = (this.chains.get(key) ?? Promise.resolve()).then(step, step);
    const tail = run.catch(() => {});
    this.chains.set(key, tail);
    void tail.finally(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return run;
  }

  /** The participant as the store has it now (undefined: no connection left), then its room event. */
  private async announce(room: string, id: string): Promise<void> {
    const users = new Set<string>();
    const p = (await readRoom(this.store, room, users)).get(id);
    if (p) {
      this.bus.publishRoomEvent(room, { type: 'participant', participant: p });
      return;
    }
    // Its info stays while a connection is only away (it may come back).
    if (!users.has(id)) await this.store.removeParticipantInfo(room, id);
    this.bus.publishRoomEvent(room, { type: 'participant-left', id });
  }

  /**
   * A connection of `fullId` fell silent (`away`: its client pinged or published, and
   * nothing came for PRESENCE_TIMEOUT_MS) or is heard again: it is left out of, or back in,
   * its participant; a participant with every connection away has left the list.
   */
  setAway(room: string, fullId: string, away: boolean): Promise<void> {
    const id = userOf(fullId);
    return this.chain(room, id, async () => {
      await this.store.setAway(room, fullId, away);
      await this.announce(room, id);
    }).catch((err) => this.log.warn({ room, id, err: oneLine(err) }, 'participant: could not announce a presence change'));
  }

  /**
   * A connection of `fullId` joined (its list entry is written): the participant joins
   * with its first one, or is updated. `claims` (the JWT's name and attributes) apply.
   */
  connected(room: string, fullId: string, claims?: InfoUpdate): Promise<void> {
    const id = userOf(fullId);
    return this.chain(room, id, async () => {
      const infos = await this.store.getParticipantInfos(room);
      let info: ParticipantInfo = infos.get(id) ?? defaultInfo(id);
      if (claims) {
        const merged = mergeInfo(info, claims);
        if (merged.ok) info = merged.value;
        else this.log.info({ room, id, reason: merged.error }, 'participant: JWT name/attributes over the limits, ignored');
      }
      if (!infos.has(id) || claims) await this.store.setParticipantInfo(room, id, info);
      await this.announce(room, id);
    }).catch((err) => this.log.warn({ room, id, err: oneLine(err) }, 'participant: could not announce a join'));
  }

  /** A connection of `fullId` left (its list entry is gone): updated, or left with its last one. */
  disconnected(room: string, fullId: string): Promise<void> {
    const id = userOf(fullId);
    return this.chain(room, id, async () => {
      await this.store.setAway(room, fullId, false);
      await this.announce(room, id);
    }).catch((err) => this.log.warn({ room, id, err: oneLine(err) }, 'participant: could not announce a leave'));
  }

  /** `SET_INFO` from a connection of `fullId`: null when applied, else why not. */
  setInfo(room: string, fullId: string, update: InfoUpdate): Promise<string | null> {
    const id = userOf(fullId);
    return this.chain(room, id, async () => {
      const info = (await this.store.getParticipantInfos(room)).get(id) ?? defaultInfo(id);
      const merged = mergeInfo(info, update);
      if (!merged.ok) return merged.error;
      await this.store.setParticipantInfo(room, id, merged.value);
      await this.announce(room, id);
      return null;
    }).catch((err) => {
      this.log.warn({ room, id, err: oneLine(err) }, 'participant: could not set info');
      return 'room state unavailable';
    });
  }

  /** The room's participants as the store has them, sorted by id (private API). */
  async list(room: string): Promise<Participant[]> {
    return [...(await readRoom(this.store, room)).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Resolves when every change started so far has been announced (shutdown, tests). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }

  /** Rooms watched for subscribers here (tests: nothing is left behind). */
  get watchedRooms(): number {
    return this.rooms.size;
  }
}
