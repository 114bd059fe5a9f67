/**
 * The STUN/TURN servers a client is told about (docs/protocol.md, "ICE servers"): the JSON
 * of `GET /ice-servers/…` and the `Link` headers of a 201. With --turn-secret each call
 * mints short-lived TURN credentials by the TURN REST API scheme (coturn `use-auth-secret`);
 * the secret itself is only ever an HMAC key here.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IceServer } from 'weever-protocol';
import type { Config } from '../config/config.js';

/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest-00, what coturn's
 * `--use-auth-secret --static-auth-secret` checks): username `<expiry unix seconds>:<id>`,
 * credential base64(HMAC-SHA1(secret, username)). coturn refuses them once `expiry` has passed.
 */
export function turnRestCredentials(secret: string, expiresAt: number, id: string): { username: string; credential: string } {
  const username = `${expiresAt}:${id}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

/** The servers for one client, TURN credentials fresh (valid --turn-ttl from `nowMs`). */
export function iceServersFor(config: Pick<Config, 'stun' | 'turn'>, nowMs = Date.now()): IceServer[] {
  const out: IceServer[] = [];
  if (config.stun) out.push({ urls: [config.stun] });
  const turn = config.turn;
  if (turn) {
    const auth = turn.auth;
    if (auth.kind === 'secret') {
      // the id part only makes the username unique (coturn logs it); nothing in it is trusted
      const creds = turnRestCredentials(auth.secret, Math.floor(nowMs / 1000) + auth.ttlSeconds, randomBytes(8).toString('hex'));
      out.push({ urls: [...turn.urls], ...creds });
    } else {
      out.push({ urls: [...turn.urls], username: auth.username, credential: auth.credential });
    }
  }
  return out;
}

/** WHIP/WHEP `Link` headers (RFC 9725 §4.6): one per URL, TURN with its username and credential. */
export function iceLinks(servers: readonly IceServer[]): string[] {
  const links: string[] = [];
  for (const s of servers) {
    for (const url of s.urls) {
      links.push(
        s.username === undefined
          ? `<${url}>; rel="ice-server"`
          : `<${url}>; rel="ice-server"; username="${quoted(s.username)}"; credential="${quoted(s.credential ?? '')}"; credential-type="password"`,
      );
    }
  }
  return links;
}

/** The inside of an HTTP quoted-string (RFC 9110 §5.6.4): `"` and `\` escaped. */
function quoted(s: string): string {
  return s.replace(/["\\]/g, '\\$&');
}
