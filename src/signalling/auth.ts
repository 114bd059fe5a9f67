/** Bearer tokens (docs/protocol.md, authentication): compared in constant time, never logged. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { checkInfoUpdate, type InfoUpdate } from 'weever-protocol';

/** What a valid JWT grants beyond the connection: the participant's name and attributes. */
export interface JwtGrant {
  info?: InfoUpdate;
  /** claim `canUpdateInfo: false` forbids SET_INFO */
  canUpdateInfo: boolean;
}

/** Constant-time equality that also hides the length of the expected token. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Three base64url parts: a JWT rather than a token set through the private API. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/**
 * Verifies a stateless token (docs/protocol.md, authentication): HS256 with the shared secret, `exp`
 * required, and claims granting this room, this user id and this role (`role`: "pub" |
 * "sub", or `roles`: an array of them). Optional: `name` and `attributes` (the participant's,
 * docs/protocol.md "Participants"), `canUpdateInfo`. Returns the grant, or why not (a string).
 */
export async function verifyJwt(
  token: string,
  secret: Uint8Array,
  want: { role: 'pub' | 'sub'; room: string; id: string },
): Promise<string | JwtGrant> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['exp'] }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) return 'token expired';
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid';
    if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed (HS256 only)';
    if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim invalid: ${err.claim}`;
    return 'token invalid';
  }
  if (payload.room !== want.room) return 'token is for another room';
  if (payload.id !== want.id) return 'token is for another id';
  const roles = Array.isArray(payload.roles) ? payload.roles : [payload.role];
  if (!roles.includes(want.role)) return `token does not grant ${want.role}`;
  const grant: JwtGrant = { canUpdateInfo: payload.canUpdateInfo !== false };
  if (payload.name !== undefined || payload.attributes !== undefined) {
    const c = checkInfoUpdate({
      ...(payload.name !== undefined ? { name: payload.name } : {}),
      ...(payload.attributes !== undefined ? { attributes: payload.attributes } : {}),
    });
    if (!c.ok) return `token claim invalid: ${c.error}`;
    grant.info = c.value;
  }
  return grant;
}
