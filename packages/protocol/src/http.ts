/** The public HTTP endpoints (docs/protocol.md, "Public HTTP API" and "WHIP and WHEP"), as paths a client POSTs to. */
import type { Role } from './keys.js';

const seg = encodeURIComponent;

export const paths = {
  /** connect as publisher or subscriber */
  connect: (role: Role, room: string, fullId: string): string => `/${role}/${seg(room)}/${seg(fullId)}`,
  /** WHEP player of one publisher (its id, or a full id) */
  whep: (room: string, pubId: string): string => `/whep/${seg(room)}/${seg(pubId)}`,
  /**
   * GET: the STUN/TURN servers (`IceServer[]`, TURN credentials fresh for this response) for
   * the connection about to POST to `/{kind}/{room}/{id}`, authorised as that POST would be.
   */
  iceServers: (kind: Role | 'whep', room: string, id: string): string => `/ice-servers/${kind}/${seg(room)}/${seg(id)}`,
  /** the session resource (DELETE, PATCH), as the 201's Location names it */
  session: (sessionId: string): string => `/session/${seg(sessionId)}`,
};

export const SDP_CONTENT_TYPE = 'application/sdp';
/** the body of a trickle-ICE PATCH (RFC 8840 fragment) on the session resource */
export const TRICKLE_ICE_CONTENT_TYPE = 'application/trickle-ice-sdpfrag';

/**
 * One entry of `GET /ice-servers/…` (JSON array), the shape of the browser's
 * `RTCIceServer`: pass the array as `iceServers` to `RTCPeerConnection`.
 */
export interface IceServer {
  urls: string[];
  /** TURN: `<expiry unix seconds>:<random>` with a --turn-secret, else the configured username */
  username?: string;
  /** TURN: base64 HMAC-SHA1 of `username` under the secret, else the configured password */
  credential?: string;
}
