/**
 * The Weever Streaming wire protocol, documented in docs/protocol.md. Imported by the
 * server, the browser SDK, the load tool and the tests: the one place each rule is written.
 */
export * from './control.js';
export * from './data.js';
export * from './http.js';
export * from './ids.js';
export * from './keys.js';
export * from './participants.js';
export * from './room-events.js';
export * from './subjects.js';
export * from './tracks.js';
