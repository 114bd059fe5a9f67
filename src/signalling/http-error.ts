/**
 * What a refusal means on the wire. The signalling layer's own refusals are `HttpError`s;
 * the media layer's named errors (src/media/errors.ts) are mapped to a status here, so
 * the media layer knows no HTTP.
 */
import {
  BadOfferError,
  DrainingError,
  DuplicatePeerError,
  IceRestartError,
  OverloadedError,
  PublisherNotLiveError,
  SfuError,
  StoreUnavailableError,
} from '../media/errors.js';

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The HTTP form of a known refusal; undefined for anything else (an internal error). */
export function httpErrorOf(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (!(err instanceof SfuError)) return undefined;
  if (err instanceof BadOfferError) return new HttpError(400, err.message);
  if (err instanceof DuplicatePeerError) return new HttpError(409, err.message);
  // WHEP: 409 + Retry-After while the publisher is not live.
  if (err instanceof PublisherNotLiveError) return new HttpError(409, err.message, { 'Retry-After': String(err.retryAfterSeconds) });
  // WHIP/WHEP: 422 when trickle ICE is supported and ICE restart is not.
  if (err instanceof IceRestartError) return new HttpError(422, err.message);
  if (err instanceof OverloadedError) return new HttpError(503, err.message, { 'Retry-After': String(err.retryAfterSeconds) });
  if (err instanceof DrainingError || err instanceof StoreUnavailableError) return new HttpError(503, err.message);
  return new HttpError(500, err.message);
}
