/** Ids as the protocol has them (contract §1): `<id>+<suffix>`, and `<id>-screen` for screen shares. */

export type PublisherKind = 'camera' | 'screen';

export interface PublisherInfo {
  /** the user id: `alice` for `alice+x1` and for her screen share `alice-screen+x2` */
  id: string;
  /** the publisher's full id, unique per connection */
  fullId: string;
  kind: PublisherKind;
}

const SCREEN = '-screen';

/** A fresh full id for one connection: a reconnect is a new peer and never collides. */
export function newFullId(id: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let suffix = '';
  for (const b of bytes) suffix += (b % 36).toString(36);
  return `${id}+${suffix}`;
}

export function publisherInfo(fullId: string): PublisherInfo {
  const plus = fullId.indexOf('+');
  const id = plus < 0 ? fullId : fullId.slice(0, plus);
  return id.endsWith(SCREEN) && id.length > SCREEN.length
    ? { id: id.slice(0, -SCREEN.length), fullId, kind: 'screen' }
    : { id, fullId, kind: 'camera' };
}

export const screenIdOf = (id: string): string => `${id}${SCREEN}`;
