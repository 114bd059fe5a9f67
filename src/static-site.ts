/**
 * Static files of the public server: the browser SDK at `/sdk/<file>` (always: apps load
 * it from here), and the demo site from `public/` (only with --debug). Names are checked
 * against a strict pattern, so no request can reach outside these folders.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { HttpError } from './signalling/http-error.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/src
/** The browser bundle (esbuild: the SDK with weever-protocol inside), `weever.js` and its map. */
export const SDK_DIR = join(HERE, '..', 'sdk');
/** The SDK's type declarations (tsc). */
export const SDK_TYPES_DIR = join(HERE, '..', 'client');
export const PUBLIC_DIR = join(HERE, '..', '..', 'public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

const SDK_FILE = /^[a-z][a-z0-9-]*\.(js|js\.map|d\.ts)$/;
const SITE_FILE = /^[a-z][a-z0-9-]*\.(html|js|css|png|svg)$/;

async function sendFile(reply: FastifyReply, dir: string, name: string): Promise<FastifyReply> {
  let body: Buffer;
  try {
    body = await readFile(join(dir, name));
  } catch {
    throw new HttpError(404, `no file ${name}`);
  }
  // The demo and SDK change with each build: let browsers revalidate instead of caching stale code.
  return reply
    .type(TYPES[extname(name)] ?? 'application/octet-stream')
    .header('Cache-Control', 'no-cache')
    .send(body);
}

/**
 * The SDK as one ES module, `import { WeeverClient } from '/sdk/weever.js'` (a bundle, so
 * browsers need no import map for weever-protocol), and its `.d.ts` files.
 */
export function registerSdk(app: FastifyInstance): void {
  app.get('/sdk/:file', async (req, reply) => {
    const { file } = req.params as { file: string };
    if (!SDK_FILE.test(file)) throw new HttpError(404, `no file ${file}`);
    return sendFile(reply, file.endsWith('.d.ts') ? SDK_TYPES_DIR : SDK_DIR, file);
  });
}

/** The demo site (--debug): `/` is index.html, other pages by name. */
export function registerDemoSite(app: FastifyInstance): void {
  app.get('/', async (_req, reply) => sendFile(reply, PUBLIC_DIR, 'index.html'));
  app.get('/:file', async (req, reply) => {
    const { file } = req.params as { file: string };
    if (!SITE_FILE.test(file)) throw new HttpError(404, `no file ${file}`);
    return sendFile(reply, PUBLIC_DIR, file);
  });
}
