#!/usr/bin/env node
/**
 * `weever`: the admin CLI (README, Administration). Talks to one instance's private API; rooms
 * and participants are those of the whole cluster (the shared store), and a kick reaches the
 * instance that holds the participant. Exit codes: 0 ok, 1 refused (bad input, HTTP error),
 * 2 server unreachable.
 */
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { checkName, checkRoomAndFullId } from 'weever-protocol';
import { AdminClient, AdminHttpError, AdminUnreachableError } from './client.js';
import { table } from './table.js';

const DEFAULT_URL = 'http://127.0.0.1:9443';

type Output = 'table' | 'json';

const name = (what: string) => (value: string) => {
  const invalid = checkName(what, value);
  if (invalid) throw new InvalidArgumentError(invalid);
  return value;
};

const httpUrl = (value: string) => {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be a URL such as http://127.0.0.1:9443');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('must be an http or https URL');
  return value;
};

const program = new Command('weever')
  .description('Administer a weever-streaming service through its private API')
  .addOption(new Option('--url <url>', 'private API of one instance').env('WEEVER_ADMIN_URL').default(DEFAULT_URL).argParser(httpUrl))
  .addOption(new Option('--output <format>', 'table or json (one JSON document)').choices(['table', 'json']).default('table'))
  .addOption(
    new Option('--timeout <ms>', 'per request (not drain)').default(10_000).argParser((v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
      return n;
    }),
  )
  .showHelpAfterError();

const client = () => {
  const o = program.opts<{ url: string; timeout: number }>();
  return new AdminClient(o.url, o.timeout);
};
const output = () => program.opts<{ output: Output }>().output;
const print = (json: unknown, rows: string[][]) => {
  process.stdout.write(output() === 'json' ? `${JSON.stringify(json, null, 2)}\n` : table(rows));
};

const token = program.command('token').description('tokens of participants');
token
  .command('create')
  .description('set the token a participant must present (Authorization: Bearer); printed')
  .addOption(new Option('--role <role>', 'pub or sub').choices(['pub', 'sub']).makeOptionMandatory())
  .requiredOption('--room <room>', 'room', name('room'))
  .requiredOption('--id <id>', 'participant id (without +suffix)', name('id'))
  .option('--token <token>', 'the token (default: 32 random bytes, base64url)')
  .action(async (o: { role: 'pub' | 'sub'; room: string; id: string; token?: string }) => {
    const t = o.token ?? randomBytes(32).toString('base64url');
    if (t.length === 0 || t.length > 4096 || /\s/.test(t)) fail('--token must be 1 to 4096 characters without whitespace');
    await client().setToken(o.role, o.room, o.id, t);
    print({ role: o.role, room: o.room, id: o.id, token: t }, [
      ['ROLE', 'ROOM', 'ID', 'TOKEN'],
      [o.role, o.room, o.id, t],
    ]);
  });

program
  .command('rooms')
  .description('rooms')
  .command('list')
  .description('rooms with peers, any instance, with their counts')
  .action(async () => {
    const rooms = await client().rooms();
    print(rooms, [['ROOM', 'PUBLISHERS', 'SUBSCRIBERS'], ...rooms.map((r) => [r.room, String(r.publishers), String(r.subscribers)])]);
  });

program
  .command('participants')
  .description('participants')
  .command('list')
  .description('full ids and roles in a room, any instance')
  .argument('<room>', 'room', name('room'))
  .action(async (room: string) => {
    const ps = await client().participants(room);
    print(ps, [['ID', 'ROLE'], ...ps.map((p) => [p.id, p.role])]);
  });

program
  .command('kick')
  .description("end a participant's sessions (both roles), on whichever instance holds them")
  .argument('<room>', 'room')
  .argument('<id>', 'full id, as participants list shows it')
  .action(async (room: string, id: string) => {
    const invalid = checkRoomAndFullId(room, id);
    if (invalid) fail(invalid);
    const ended = await client().kick(room, id);
    print({ room, id, ended }, [
      ['ROOM', 'ID', 'ENDED'],
      [room, id, String(ended)],
    ]);
    if (!ended) fail(`${id} is still listed in room ${room}; its instance may be unreachable`);
  });

program
  .command('drain')
  .description('drain the instance at --url (refuse new peers, wait for the last to leave); it then exits')
  .action(async () => {
    const answer = await client().drain();
    print({ drained: answer === 'DRAINED' }, [['DRAINED'], [String(answer === 'DRAINED')]]);
  });

function fail(message: string, code = 1): never {
  process.stderr.write(`weever: ${message}\n`);
  process.exit(code);
}

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof AdminUnreachableError) fail(err.message, 2);
  if (err instanceof AdminHttpError) fail(err.message, 1);
  throw err;
}
