/**
 * Rooms, ids and full ids (docs/protocol.md, "Roles, rooms and ids"). Checked before any state, bus subject
 * or media object is touched, so a bad name never reaches a Redis key or a NATS subject.
 */

export const MAX_NAME_LENGTH = 128;

/** The suffix of a screen-share publisher id: `alice-screen` belongs to user `alice`. */
export const SCREEN_SUFFIX = '-screen';

/** Returns null when valid, else a one-line reason naming the rule that failed. */
export function checkName(what: string, value: string): string | null {
  if (value.length === 0) return `${what} must not be empty`;
  if (value.length > MAX_NAME_LENGTH) return `${what} must be at most ${MAX_NAME_LENGTH} characters`;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return `${what} must be printable ASCII (0x21-0x7E) without spaces`;
    if (c === 0x2e) return `${what} must not contain '.' (NATS subject separator)`;
    if (c === 0x2a || c === 0x3e) return `${what} must not contain '*' or '>' (NATS wildcards)`;
  }
  return null;
}

/** Checks room and full id; returns null or the reason. */
export function checkRoomAndFullId(room: string, fullId: string): string | null {
  return checkName('room', room) ?? checkName('full id', fullId) ?? checkName('id', idOf(fullId));
}

/** `<id>+<anything>` → `<id>`; a full id without `+` is its own id. */
export function idOf(fullId: string): string {
  const plus = fullId.indexOf('+');
  return plus < 0 ? fullId : fullId.slice(0, plus);
}

/**
 * The user an id belongs to: `alice-screen` → `alice`. A bare `-screen` names no user
 * before the suffix, so it is its own user.
 */
export function ownerOf(id: string): string {
  return id.endsWith(SCREEN_SUFFIX) && id.length > SCREEN_SUFFIX.length ? id.slice(0, -SCREEN_SUFFIX.length) : id;
}

export const screenIdOf = (id: string): string => `${id}${SCREEN_SUFFIX}`;

export type PublisherKind = 'camera' | 'screen';

export interface PublisherInfo {
  /** the user id: `alice` for `alice+x1` and for her screen share `alice-screen+x2` */
  id: string;
  /** the publisher's full id, unique per connection */
  fullId: string;
  kind: PublisherKind;
}

/** Who a publisher's full id names, and whether it is a camera or a screen share. */
export function publisherInfo(fullId: string): PublisherInfo {
  const id = idOf(fullId);
  const owner = ownerOf(id);
  return { id: owner, fullId, kind: owner === id ? 'camera' : 'screen' };
}

/** True when a subscriber with id `subscriberId` must not receive publisher `pubFullId` (its own media). */
export function isOwnMedia(subscriberId: string, pubFullId: string): boolean {
  return ownerOf(idOf(pubFullId)) === subscriberId;
}

// Web Crypto: global in browsers and in Node ≥ 19; declared here so the module needs no DOM or Node types.
declare const crypto: { getRandomValues<T extends Uint8Array>(array: T): T };

/** A fresh full id for one connection: a reconnect is a new peer and never collides. */
export function newFullId(id: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let suffix = '';
  for (const b of bytes) suffix += (b % 36).toString(36);
  return `${id}+${suffix}`;
}
