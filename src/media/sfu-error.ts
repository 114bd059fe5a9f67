/**
 * A request the SFU refuses, thrown from wherever the reason is found (the SFU, a peer
 * answering or trickling); the HTTP layer answers it with `status`, `headers` and the
 * message as the one-line reason.
 */
export class SfuError extends Error {
  override name = 'SfuError';
  constructor(
    readonly status: number,
    message: string,
    /** extra response headers, e.g. Retry-After on a 409 of the WHEP endpoint */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
