/**
 * The private HTTP API (docs/protocol.md, private API): room lists, tokens, probes. Plain HTTP on its
 * own port; with --debug the same routes are also on the public server.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from 'weever-protocol';
import { checkName } from 'weever-protocol';
import type { Sfu } from '../media/sfu.js';
import { HttpError } from './http-error.js';

export interface Management {
  /** what the instance holds (debug) */
  resources(): object;
  /** Prometheus exposition */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** starts draining (Kubernetes preStop hook); resolves when no peer is left */
  preStop(): Promise<void>;
}

export function registerPrivateApi(app: FastifyInstance, sfu: Sfu, management: Management): void {
  const list = (role: Role) => async (req: FastifyRequest<{ Params: { room: string } }>, reply: FastifyReply) => {
    const invalid = checkName('room', req.params.room);
    if (invalid) throw new HttpError(400, invalid);
    let ids: string[];
    try {
      ids = (await sfu.store.listPeers(role, req.params.room)).sort();
    } catch {
      throw new HttpError(503, 'state store unavailable');
    }
    if ((req.headers.accept ?? '').includes('application/json')) return reply.type('application/json').send(JSON.stringify(ids));
    return reply.type('text/plain; charset=utf-8').send(ids.join(','));
  };
  app.get('/list/pub/:room', list('pub'));
  app.get('/list/sub/:room', list('sub'));

  const create = (role: Role) => async (req: FastifyRequest, reply: FastifyReply) => {
    const body = req.body as { room?: unknown; id?: unknown; token?: unknown } | undefined;
    const room = typeof body?.room === 'string' ? body.room : '';
    const id = typeof body?.id === 'string' ? body.id : '';
    const invalid = checkName('room', room) ?? checkName('id', id);
    if (invalid) throw new HttpError(400, invalid);
    if (body?.token !== undefined && typeof body.token !== 'string') throw new HttpError(400, 'token must be a string');
    const token = typeof body?.token === 'string' ? body.token : '';
    if (token.length > 4096) throw new HttpError(400, 'token must be at most 4096 characters');
    if (/\s/.test(token)) throw new HttpError(400, 'token must not contain whitespace');
    // No token (or an empty one) clears it: that peer is open again (docs/protocol.md, authentication).
    try {
      if (token === '') await sfu.store.removeToken(role, room, id);
      else await sfu.store.setToken(role, room, id, token);
    } catch {
      throw new HttpError(503, 'state store unavailable');
    }
    return reply.type('text/plain; charset=utf-8').send('OK\n');
  };
  app.post('/create/pub', create('pub'));
  app.post('/create/sub', create('sub'));

  // Not OK once the media engine stopped passing packets: the process is alive but useless.
  app.get('/liveness', async (_req, reply) =>
    sfu.engine.healthy() ? reply.type('text/plain').send('OK') : reply.code(503).type('text/plain').send('media engine wedged'),
  );
  app.get('/readiness', async (_req, reply) => {
    const why = sfu.notReady();
    if (why === null) return reply.type('text/plain').send('OK');
    return reply
      .code(503)
      .type('text/plain')
      .send(why === 'BUSY' ? 'BUSY' : `NOT READY: ${why}`);
  });
  // The room as the state store has it: lists and announced media.
  app.get('/debug/room/:room', async (req: FastifyRequest<{ Params: { room: string } }>, reply) => {
    const room = req.params.room;
    const invalid = checkName('room', room);
    if (invalid) throw new HttpError(400, invalid);
    let pub: string[];
    let sub: string[];
    let media: Map<string, unknown>;
    try {
      [pub, sub, media] = await Promise.all([sfu.store.listPeers('pub', room), sfu.store.listPeers('sub', room), sfu.store.getMedia(room)]);
    } catch {
      throw new HttpError(503, 'state store unavailable');
    }
    return reply.send({ pub: pub.sort(), sub: sub.sort(), media: Object.fromEntries(media) });
  });
  // Packets received per publisher and kind in a room on this instance (input of a load test).
  app.get('/debug/traffic/:room', async (req: FastifyRequest<{ Params: { room: string } }>, reply) => {
    const invalid = checkName('room', req.params.room);
    if (invalid) throw new HttpError(400, invalid);
    return reply.send({ publishers: sfu.roomTraffic(req.params.room) });
  });
  // What the instance holds right now (peers, timers, bus subscriptions, store keys).
  app.get('/debug/resources', async (_req, reply) => reply.send(management.resources()));
  app.get('/metrics', async (_req, reply) => {
    const m = await management.metrics();
    return reply.type(m.contentType).send(m.body);
  });
  // Kubernetes calls this before SIGTERM and waits for the answer: stop taking peers, let
  // the current ones finish (or --drain-timeout pass), then answer; both servers close after.
  app.get('/preStop', async (_req, reply) => {
    await management.preStop();
    return reply.type('text/plain').send('DRAINED');
  });
}
