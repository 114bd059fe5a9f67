/**
 * The public HTTP API (docs/protocol.md: public HTTP API, WHIP and WHEP): one POST per peer carrying its offer, answered
 * with `201` + SDP + `Location` + `ETag`; the session URL takes `DELETE` (end) and `PATCH`
 * with a trickle-ice-sdpfrag (WHIP RFC 9725 / WHEP). `/whep/{room}/{pubId}` plays one publisher.
 */
import { randomBytes } from 'node:crypto';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from 'weever-protocol';
import { checkName, checkRoomAndFullId, idOf, ownerOf } from 'weever-protocol';
import type { Config } from '../config/config.js';
import { oneLine } from '../media/errors.js';
import type { ConnectOptions, Sfu } from '../media/sfu.js';
import { bearer, looksLikeJwt, tokensEqual, verifyJwt } from './auth.js';
import { corsAllows } from './cors.js';
import { HttpError, httpErrorOf } from './http-error.js';
import { iceLinks, iceServersFor } from './ice-servers.js';

interface PeerParams {
  room: string;
  fullId: string;
}

/** Every error leaves as one line of plain text with the right status. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const known = httpErrorOf(err);
    const status = known ? known.status : (err.statusCode ?? 500);
    const message = known
      ? known.message
      : status === 413
        ? 'request body is too large'
        : status === 415
          ? 'unsupported Content-Type (send application/sdp)'
          : status >= 500
            ? 'internal error'
            : err.message;
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (known) for (const [k, v] of Object.entries(known.headers)) void reply.header(k, v);
    void reply
      .code(status)
      .type('text/plain; charset=utf-8')
      .send(`${oneLine(message)}\n`);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send(`no route for ${req.method} ${req.url.split('?')[0]}\n`);
  });
}

/** Requests the HTTP layer refused before any state was touched, by reason (metrics). */
export interface HttpRefusals {
  /** over --post-rate from one source address */
  rateLimited: number;
  /** not received whole within --request-timeout */
  requestTimeout: number;
}

export async function registerPublicApi(app: FastifyInstance, config: Config, sfu: Sfu, refusals: HttpRefusals): Promise<void> {
  await app.register(rateLimit, { global: false });
  // One count per source address over all the connect routes (a route's own limit would count each apart).
  const limiter =
    config.postRatePerMinute > 0
      ? app.createRateLimit({ max: config.postRatePerMinute, timeWindow: 60_000, keyGenerator: (req) => req.ip })
      : undefined;
  const postLimit = {
    onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
      if (!limiter) return;
      const r = await limiter(req);
      if (r.isAllowed || !r.isExceeded) return;
      refusals.rateLimited++;
      void reply.header('Retry-After', String(r.ttlInSeconds));
      throw new HttpError(429, `too many requests from this address: at most ${r.max} per minute`);
    },
  };
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin === undefined ? false : corsAllows(origin, config.corsDomain)),
    methods: ['GET', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Accept', 'Content-Type', 'If-Match'],
    exposedHeaders: ['Location', 'ETag', 'Link', 'Retry-After'],
    maxAge: 600,
  });
  // Only SDP and JSON (management routes under --debug) are parsed; text/plain is not.
  app.removeContentTypeParser(['text/plain']);
  for (const type of ['application/sdp', 'application/trickle-ice-sdpfrag']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: config.maxBodyBytes }, (_req, body, done) => {
      done(null, body);
    });
  }

  const answer = async (
    req: FastifyRequest,
    reply: FastifyReply,
    role: Role,
    room: string,
    fullId: string,
    opts: ConnectOptions = {},
  ): Promise<FastifyReply> => {
    if (!/^application\/sdp\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
      throw new HttpError(415, 'unsupported Content-Type (send application/sdp)');
    if (typeof req.body !== 'string' || req.body.length === 0) throw new HttpError(400, 'request body must be an SDP offer');
    const { answer, sessionId, etag } = await sfu.connect(role, room, fullId, req.body, opts);
    const links = iceLinks(iceServersFor(config));
    if (links.length > 0) void reply.header('Link', links);
    return reply.code(201).type('application/sdp').header('Location', `/session/${sessionId}`).header('ETag', etag).send(answer);
  };

  const connect =
    (role: Role) => async (req: FastifyRequest<{ Params: PeerParams; Querystring: { subscribe?: string } }>, reply: FastifyReply) => {
      const { room, fullId } = req.params;
      const invalid = checkRoomAndFullId(room, fullId);
      if (invalid) throw new HttpError(400, invalid);
      // ?subscribe=manual|auto (a subscriber's starting mode; docs/protocol.md, "Choosing what to receive")
      const mode = req.query.subscribe;
      if (mode !== undefined && (role !== 'sub' || (mode !== 'auto' && mode !== 'manual')))
        throw new HttpError(400, role === 'sub' ? 'subscribe must be auto or manual' : 'subscribe is a subscriber option');
      const granted = config.auth ? await authorize(sfu, config, role, room, idOfUser(role, fullId), req.headers.authorization) : undefined;
      return answer(req, reply, role, room, fullId, { ...granted, ...(mode === 'manual' ? { subscribe: 'manual' as const } : {}) });
    };
  app.post<{ Params: PeerParams; Querystring: { subscribe?: string } }>('/pub/:room/:fullId', postLimit, connect('pub'));
  app.post<{ Params: PeerParams; Querystring: { subscribe?: string } }>('/sub/:room/:fullId', postLimit, connect('sub'));

  // WHEP for one publisher: the "watch this stream" link. The viewer is a subscriber with
  // id `whep` (its token, when auth is on, is the subscriber token of id `whep`).
  app.post('/whep/:room/:pubId', postLimit, async (req: FastifyRequest<{ Params: { room: string; pubId: string } }>, reply) => {
    const { room, pubId } = req.params;
    const invalid = checkName('room', room) ?? checkName('publisher id', pubId) ?? checkName('publisher id', idOf(pubId));
    if (invalid) throw new HttpError(400, invalid);
    if (config.auth) await authorize(sfu, config, 'sub', room, WHEP_VIEWER_ID, req.headers.authorization);
    const fullId = `${WHEP_VIEWER_ID}+${randomBytes(6).toString('hex')}`;
    return answer(req, reply, 'sub', room, fullId, { whepTarget: pubId });
  });

  // The ICE servers for the connection about to POST to /{kind}/{room}/{id}, before its
  // offer is made (the Link headers come with the answer: too late for a non-trickle
  // offer). Authorised exactly as that POST: the credentials let a client use the relay.
  app.get(
    '/ice-servers/:kind/:room/:id',
    async (req: FastifyRequest<{ Params: { kind: string; room: string; id: string } }>, reply: FastifyReply) => {
      const { kind, room, id } = req.params;
      if (kind === 'pub' || kind === 'sub') {
        const invalid = checkRoomAndFullId(room, id);
        if (invalid) throw new HttpError(400, invalid);
        if (config.auth) await authorize(sfu, config, kind, room, idOfUser(kind, id), req.headers.authorization);
      } else if (kind === 'whep') {
        const invalid = checkName('room', room) ?? checkName('publisher id', id) ?? checkName('publisher id', idOf(id));
        if (invalid) throw new HttpError(400, invalid);
        if (config.auth) await authorize(sfu, config, 'sub', room, WHEP_VIEWER_ID, req.headers.authorization);
      } else {
        throw new HttpError(404, `no route for GET /ice-servers/${kind}: use pub, sub or whep`);
      }
      // credentials: never kept by a cache on the way
      return reply
        .header('Cache-Control', 'no-store')
        .type('application/json')
        .send(JSON.stringify(iceServersFor(config)));
    },
  );

  app.delete('/session/:id', async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const peer = sfu.session(req.params.id);
    if (!peer) throw new HttpError(404, 'no such session');
    await peer.close('delete');
    return reply.code(200).type('text/plain; charset=utf-8').send('OK\n');
  });

  // Trickle ICE (RFC 8840 fragment). ICE restart is answered 422: see Peer.trickle.
  app.patch('/session/:id', async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const peer = sfu.session(req.params.id);
    if (!peer) throw new HttpError(404, 'no such session');
    if (!/^application\/trickle-ice-sdpfrag\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
      throw new HttpError(415, 'unsupported Content-Type (send application/trickle-ice-sdpfrag)');
    const ifMatch = req.headers['if-match'];
    if (ifMatch === undefined) throw new HttpError(428, 'If-Match with the ETag of the session is required');
    if (ifMatch.trim() !== '*' && !ifMatch.split(',').some((t) => t.trim() === peer.etag)) {
      throw new HttpError(412, 'If-Match does not match the ETag of the session');
    }
    if (typeof req.body !== 'string') throw new HttpError(400, 'request body must be an SDP fragment');
    peer.trickle(req.body);
    return reply.code(204).header('ETag', peer.etag).send();
  });

  // Wrong methods on our resources get 405 + Allow; OPTIONS (not a CORS preflight, which
  // the CORS hook answers first) gets the allowed methods.
  const resources: [string, string][] = [
    ['/pub/:room/:fullId', 'POST, OPTIONS'],
    ['/sub/:room/:fullId', 'POST, OPTIONS'],
    ['/whep/:room/:pubId', 'POST, OPTIONS'],
    ['/session/:id', 'PATCH, DELETE, OPTIONS'],
    ['/ice-servers/:kind/:room/:id', 'GET, OPTIONS'],
  ];
  for (const [url, allow] of resources) {
    const allowed = allow.split(', ');
    const others = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'].filter(
      (m) => !allowed.includes(m) && !(m === 'HEAD' && allowed.includes('GET')),
    );
    app.route({
      method: others as ('GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH')[],
      url,
      exposeHeadRoute: false,
      handler: async (req, reply) =>
        reply.code(405).header('Allow', allow).type('text/plain; charset=utf-8').send(`method ${req.method} not allowed; use ${allow}\n`),
    });
    app.options(url, async (_req, reply) => reply.code(204).header('Allow', allow).send());
  }
}

/** The id of viewers of the per-publisher WHEP endpoint (for auth and lists). */
export const WHEP_VIEWER_ID = 'whep';

/** The user a token is checked for: `alice-screen` publishes under alice's token. */
function idOfUser(role: Role, fullId: string): string {
  return role === 'pub' ? ownerOf(idOf(fullId)) : idOf(fullId);
}

/** Throws the refusal; returns what a JWT grants (name, attributes), else nothing. */
async function authorize(
  sfu: Sfu,
  config: Config,
  role: Role,
  room: string,
  user: string,
  header: string | undefined,
): Promise<ConnectOptions | undefined> {
  const given = bearer(header);
  // A JWT grants by itself: no token lookup, no private-API call needed for this peer.
  if (given !== undefined && config.jwtSecret && looksLikeJwt(given)) {
    const grant = await verifyJwt(given, config.jwtSecret, { role, room, id: user });
    if (typeof grant === 'string') throw new HttpError(401, grant);
    return { ...(grant.info ? { info: grant.info } : {}), ...(grant.canUpdateInfo ? {} : { canUpdateInfo: false }) };
  }
  let expected: string | null;
  try {
    expected = await sfu.store.getToken(role, room, user);
  } catch {
    throw new HttpError(503, 'state store unavailable');
  }
  if (expected === null) return; // no token set for this peer: open (docs/protocol.md, authentication)
  if (given === undefined) throw new HttpError(401, 'missing bearer token');
  if (!tokensEqual(given, expected)) throw new HttpError(401, 'bad token');
  return undefined;
}
