/**
 * The private API as the admin CLI calls it (docs/protocol.md, private API): one method per
 * route, named errors with a message fit for a terminal.
 */

/** The server could not be reached at all. */
export class AdminUnreachableError extends Error {
  override name = 'AdminUnreachableError';
}

/** The server answered with an error status; `message` is its reason. */
export class AdminHttpError extends Error {
  override name = 'AdminHttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RoomCount {
  room: string;
  publishers: number;
  subscribers: number;
}

export interface Participant {
  id: string;
  role: 'pub' | 'sub';
}

export class AdminClient {
  private readonly base: URL;

  constructor(
    url: string,
    private readonly timeoutMs: number,
  ) {
    this.base = new URL(url.endsWith('/') ? url : `${url}/`);
  }

  private async call(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs: number | null = this.timeoutMs,
  ): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.base);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(timeoutMs === null ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why =
        e.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : e.cause?.code === 'ECONNREFUSED'
            ? 'connection refused'
            : (e.cause?.message ?? e.message);
      throw new AdminUnreachableError(
        `cannot reach the private API at ${this.base.href}: ${why} (is the server running? set --url or WEEVER_ADMIN_URL)`,
      );
    }
    const text = await res.text();
    if (res.status >= 400) throw new AdminHttpError(res.status, `${method} ${url.pathname}: ${res.status} ${reasonOf(text)}`);
    return { status: res.status, text };
  }

  async setToken(role: 'pub' | 'sub', room: string, id: string, token: string): Promise<void> {
    await this.call('POST', `create/${role}`, { room, id, token });
  }

  async rooms(): Promise<RoomCount[]> {
    return JSON.parse((await this.call('GET', 'rooms')).text) as RoomCount[];
  }

  async participants(room: string): Promise<Participant[]> {
    return JSON.parse((await this.call('GET', `rooms/${encodeURIComponent(room)}/participants`)).text) as Participant[];
  }

  /** true when the participant is gone from the room; false when still listed after the server's wait */
  async kick(room: string, id: string): Promise<boolean> {
    const r = await this.call('DELETE', `rooms/${encodeURIComponent(room)}/participants/${encodeURIComponent(id)}`);
    return (JSON.parse(r.text) as { ended: boolean }).ended;
  }

  /** Answers when the instance has no peer left (its --drain-timeout bounds that): no client timeout. */
  async drain(): Promise<string> {
    return (await this.call('GET', 'preStop', undefined, null)).text.trim();
  }
}

// Fastify's JSON error body, or the plain text one.
function reasonOf(text: string): string {
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof j.message === 'string') return j.message;
    if (typeof j.error === 'string') return j.error;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 500);
}
