/**
 * RTP and RTCP on raw buffers (RFC 3550, RFC 4585): what the server's media pipeline, its
 * bus and the load tool all read the same way. A leaf: depends on nothing of ours.
 */
export * from './extensions.js';
export * from './header.js';
export * from './rtcp.js';
export * from './vp8.js';
