/**
 * Ids as the protocol has them (docs/protocol.md, "Rooms and ids"): `<id>+<suffix>`, and
 * `<id>-screen` for screen shares. The rules live in the protocol module; the SDK re-exports them.
 */
export { newFullId, type PublisherInfo, type PublisherKind, publisherInfo, screenIdOf } from 'weever-protocol';
