/**
 * Webhook signatures (docs/protocol.md, webhooks): HMAC-SHA256 over `<unix seconds>.<raw body>`,
 * sent as `X-Weever-Signature: t=<unix seconds>,v1=<hex>`. The timestamp is inside the signed
 * string so a receiver can refuse an old (replayed) request, as with Stripe's signatures.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-weever-signature';

/** The header value for `body` sent at `unixSeconds`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Named reasons a signature is refused. */
export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';
}

/**
 * Checks a header value against the raw body (what a receiver does; our tests use it too).
 * Throws WebhookSignatureError when malformed, wrong, or older than `toleranceSeconds`.
 */
export function verifyWebhook(secret: string, body: string, header: string, nowSeconds: number, toleranceSeconds = 300): void {
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) throw new WebhookSignatureError('malformed signature header');
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > toleranceSeconds) throw new WebhookSignatureError('timestamp outside the tolerance');
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  if (!timingSafeEqual(expected, Buffer.from(m[2]!))) throw new WebhookSignatureError('signature mismatch');
}
