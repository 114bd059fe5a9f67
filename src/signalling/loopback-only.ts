/**
 * The guard of --debug's management routes on the public server (docs/security.md, "Defaults"):
 * they answer only a peer on this machine, as if they did not exist for anyone else, unless
 * the operator opened them with --debug-remote-management.
 */
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x: the kernel's own loopback peers. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/**
 * A Host header a local browser sends to this machine: localhost, *.localhost, or an IP literal.
 * Anything else on a loopback socket is a DNS-rebinding page in the operator's own browser.
 */
export function isLocalHostHeader(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0;
}

/**
 * onRequest hook: the socket's peer (never X-Forwarded-For, which any client may write) must be
 * loopback; otherwise the usual 404 of an unknown route, so a scan learns nothing.
 */
export async function loopbackOnly(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (isLoopback(req.raw.socket.remoteAddress) && isLocalHostHeader(req.headers.host)) return;
  return reply.callNotFound();
}
