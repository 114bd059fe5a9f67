/**
 * The private HTTP API (docs/protocol.md, private API): room lists, tokens, probes. Plain HTTP on its
 * own port; with --debug the same routes are also on the public server.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from 'weever-protocol';
import { checkName, checkRoomAndFullId } from 'weever-protocol';
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

/** A kick waits this long for the participant to leave the store's lists. */
const KICK_WAIT_MS = 5000;
const KICK_POLL_MS = 50;

async function participants(sfu: Sfu, room: string): Promise<{ id: string; role: Role }[]> {
  try {
    const [pub, sub] = await Promise.all([sfu.store.listPeers('pub', room), sfu.store.listPeers('sub', room)]);
    return [...pub.sort().map((id) => ({ id, role: 'pub' as const })), ...sub.sort().map((id) => ({ id, role: 'sub' as const }))];
  } catch {
    throw new HttpError(503, 'state store unavailable');
  }
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

  // Admin (the `weever` CLI): rooms and participants as the shared store has them, every instance.
  app.get('/rooms', async (_req, reply) => {
    try {
      const rooms = (await sfu.store.listRooms()).sort();
      const counted = await Promise.all(
        rooms.map(async (room) => {
          const [pub, sub] = await Promise.all([sfu.store.listPeers('pub', room), sfu.store.listPeers('sub', room)]);
          return { room, publishers: pub.length, subscribers: sub.length };
        }),
      );
      // a room that emptied between the scan and the counts is gone
      return reply.send(counted.filter((r) => r.publishers + r.subscribers > 0));
    } catch {
      throw new HttpError(503, 'state store unavailable');
    }
  });
  app.get('/rooms/:room/participants', async (req: FastifyRequest<{ Params: { room: string }; Querystring: { by?: string } }>, reply) => {
    const invalid = checkName('room', req.params.room);
    if (invalid) throw new HttpError(400, invalid);
    const by = req.query.by;
    if (by !== undefined && by !== 'user')
      throw new HttpError(400, 'by must be "user" (participants with name, attributes and connections)');
    if (by === 'user') {
      try {
        return reply.send(await sfu.participants.list(req.params.room));
      } catch {
        throw new HttpError(503, 'state store unavailable');
      }
    }
    return reply.send(await participants(sfu, req.params.room));
  });
  // Ends every session of that full id in the room, on whichever instance holds it (a bus
  // message), and answers once the store lists it no more (or after KICK_WAIT_MS: 202).
  app.delete('/rooms/:room/participants/:id', async (req: FastifyRequest<{ Params: { room: string; id: string } }>, reply) => {
    const { room, id } = req.params;
    const invalid = checkRoomAndFullId(room, id);
    if (invalid) throw new HttpError(400, invalid);
    const present = async () => (await participants(sfu, room)).some((p) => p.id === id);
    if (!(await present())) throw new HttpError(404, `no participant ${id} in room ${room}`);
    sfu.kick(room, id);
    const deadline = Date.now() + KICK_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, KICK_POLL_MS));
      if (!(await present())) return reply.send({ room, id, ended: true });
    }
    return reply.code(202).send({ room, id, ended: false });
  });

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
    return reply.send({ publishers: sfu.roomTraffic(req.params.room), subscribers: sfu.roomForwarded(req.params.room) });
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
