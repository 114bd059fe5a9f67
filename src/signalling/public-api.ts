/**
 * The public HTTP API (contract §2): one POST per peer carrying its offer, answered
 * with `201` + SDP + `Location`; `DELETE` on the session URL ends the session.
 */
import cors from '@fastify/cors';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import { type Sfu, SfuError } from '../media/sfu.js';
import type { Role } from '../state/store.js';
import { bearer, looksLikeJwt, tokensEqual, verifyJwt } from './auth.js';
import { corsAllows } from './cors.js';
import { checkRoomAndFullId, idOf, ownerOf } from './validate.js';

interface PeerParams {
  room: string;
  fullId: string;
}

/** Every error leaves as one line of plain text with the right status. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err instanceof SfuError ? err.status : (err.statusCode ?? 500);
    const message =
      status === 413
        ? 'request body is too large'
        : status === 415
          ? 'unsupported Content-Type (send application/sdp)'
          : status >= 500 && !(err instanceof SfuError)
            ? 'internal error'
            : err.message;
    if (status >= 500) req.log.error({ err }, 'request failed');
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

export async function registerPublicApi(app: FastifyInstance, config: Config, sfu: Sfu): Promise<void> {
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin === undefined ? false : corsAllows(origin, config.corsDomain)),
    methods: ['GET', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Accept', 'Content-Type', 'If-Match'],
    exposedHeaders: ['Location', 'ETag', 'Link'],
    maxAge: 600,
  });
  // Only SDP and JSON (management routes under --debug) are parsed; text/plain is not.
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser('application/sdp', { parseAs: 'string', bodyLimit: config.maxBodyBytes }, (_req, body, done) => {
    done(null, body);
  });

  const connect = (role: Role) => async (req: FastifyRequest<{ Params: PeerParams }>, reply: FastifyReply) => {
    const { room, fullId } = req.params;
    const invalid = checkRoomAndFullId(room, fullId);
    if (invalid) throw new SfuError(400, invalid);
    if (!/^application\/sdp\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
      throw new SfuError(415, 'unsupported Content-Type (send application/sdp)');
    if (typeof req.body !== 'string' || req.body.length === 0) throw new SfuError(400, 'request body must be an SDP offer');
    if (config.auth) await authorize(sfu, config, role, room, fullId, req.headers.authorization);
    const { answer, sessionId } = await sfu.connect(role, room, fullId, req.body);
    const links = iceLinks(config);
    if (links.length > 0) void reply.header('Link', links);
    return reply.code(201).type('application/sdp').header('Location', `/session/${sessionId}`).send(answer);
  };
  app.post('/pub/:room/:fullId', connect('pub'));
  app.post('/sub/:room/:fullId', connect('sub'));

  app.delete('/session/:id', async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const peer = sfu.session(req.params.id);
    if (!peer) throw new SfuError(404, 'no such session');
    await peer.close('delete');
    return reply.code(200).type('text/plain; charset=utf-8').send('OK\n');
  });
}

async function authorize(sfu: Sfu, config: Config, role: Role, room: string, fullId: string, header: string | undefined): Promise<void> {
  // `alice-screen` publishes under alice's token.
  const user = role === 'pub' ? ownerOf(idOf(fullId)) : idOf(fullId);
  const given = bearer(header);
  // A JWT grants by itself: no token lookup, no private-API call needed for this peer.
  if (given !== undefined && config.jwtSecret && looksLikeJwt(given)) {
    const refused = await verifyJwt(given, config.jwtSecret, { role, room, id: user });
    if (refused) throw new SfuError(401, refused);
    return;
  }
  let expected: string | null;
  try {
    expected = await sfu.store.getToken(role, room, user);
  } catch {
    throw new SfuError(503, 'state store unavailable');
  }
  if (expected === null) return; // no token set for this peer: open (contract §5)
  if (given === undefined) throw new SfuError(401, 'missing bearer token');
  if (!tokensEqual(given, expected)) throw new SfuError(401, 'bad token');
}

/** WHIP `Link` headers announcing our STUN/TURN servers. */
function iceLinks(config: Config): string[] {
  const links: string[] = [];
  if (config.stun) links.push(`<${config.stun}>; rel="ice-server"`);
  if (config.turn) {
    const { url, username, credential } = config.turn;
    links.push(`<${url}>; rel="ice-server"; username="${username}"; credential="${credential}"; credential-type="password"`);
  }
  return links;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n[\s\S]*$/, '').slice(0, 300);
}
