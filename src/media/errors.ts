/**
 * Why the media layer refuses a request. Named classes, so the signalling layer decides
 * what each means on the wire (HTTP status, headers) and the media layer knows no HTTP.
 */

/** Base of every refusal; the message is one line, fit to show a client. */
export abstract class SfuError extends Error {}

/** The offer (or a renegotiation, or a trickled fragment) is malformed or not acceptable. */
export class BadOfferError extends SfuError {
  override name = 'BadOfferError';
}

/** A peer with this full id is already in the room. */
export class DuplicatePeerError extends SfuError {
  override name = 'DuplicatePeerError';
}

/** The instance is draining: the client should connect to another one. */
export class DrainingError extends SfuError {
  override name = 'DrainingError';
  constructor() {
    super('instance is draining; connect to another one');
  }
}

/** Too many sessions are connecting at once: the client should try again shortly. */
export class OverloadedError extends SfuError {
  override name = 'OverloadedError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The state store cannot be reached. */
export class StoreUnavailableError extends SfuError {
  override name = 'StoreUnavailableError';
  constructor() {
    super('state store unavailable');
  }
}

/** A WHEP player asked for a publisher that is not live (yet); it may ask again later. */
export class PublisherNotLiveError extends SfuError {
  override name = 'PublisherNotLiveError';
  constructor(
    message: string,
    /** seconds the client should wait before asking again */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The client asked for an ICE restart, which the engine cannot do. */
export class IceRestartError extends SfuError {
  override name = 'IceRestartError';
  constructor() {
    super('ICE restart is not supported (the WebRTC engine cannot restart ICE); trickle ICE is. DELETE this session and POST a new offer');
  }
}

/** First line of an error's message, at most 200 characters: what a log line or a client sees. */
export function oneLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err)
    .split('\n')[0]!
    .slice(0, 200);
}
