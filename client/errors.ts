/** Typed errors: HTTP failures carry the status and the server's one-line reason. */

export type WeeverErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'not-found'
  | 'conflict'
  | 'too-large'
  | 'unsupported-media-type'
  | 'unavailable'
  | 'server-error'
  | 'network'
  | 'protocol'
  | 'media';

export class WeeverError extends Error {
  override readonly name = 'WeeverError';
  /** HTTP status, or 0 when there was no HTTP answer (network, protocol or media error) */
  readonly status: number;
  /** the server's one-line reason, or what failed on this side */
  readonly reason: string;
  readonly code: WeeverErrorCode;

  constructor(status: number, reason: string, code: WeeverErrorCode = codeOf(status)) {
    super(status > 0 ? `${status} ${reason}` : reason);
    this.status = status;
    this.reason = reason;
    this.code = code;
  }

  /** Worth trying again later: the server was unreachable, draining or failing, not refusing us. */
  get retryable(): boolean {
    return this.code === 'network' || this.code === 'unavailable' || this.code === 'server-error' || this.code === 'protocol';
  }

  /** Builds the error from a failed HTTP answer: its status and first line of text. */
  static async fromResponse(res: Response): Promise<WeeverError> {
    let text = '';
    try {
      text = await res.text();
    } catch {
      // body unreadable: the status alone still says what happened
    }
    const line = text.split('\n', 1)[0]?.trim() || res.statusText || 'request failed';
    return new WeeverError(res.status, line);
  }
}

function codeOf(status: number): WeeverErrorCode {
  switch (status) {
    case 0:
      return 'network';
    case 400:
      return 'bad-request';
    case 401:
    case 403:
      return 'unauthorized';
    case 404:
      return 'not-found';
    case 409:
      return 'conflict';
    case 413:
      return 'too-large';
    case 415:
      return 'unsupported-media-type';
    case 503:
      return 'unavailable';
    default:
      return status >= 500 ? 'server-error' : 'bad-request';
  }
}
