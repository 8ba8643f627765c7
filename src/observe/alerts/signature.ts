// HMAC signature of a notification: `X-Headroom-Signature: sha256=<hex>` over `<timestamp>.<body>`,
// with the timestamp (Unix seconds) in `X-Headroom-Timestamp`. Signing the timestamp with the body
// lets a receiver refuse replays: a captured request is only valid while its timestamp is recent.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-headroom-signature';
export const TIMESTAMP_HEADER = 'x-headroom-timestamp';

export function sign(secret: string, timestamp: number, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/**
 * What a receiver does: true when `signature` is the body's signature for `timestamp` and the
 * timestamp is within `toleranceSeconds` of `nowSeconds`.
 */
export function verifySignature(
  secret: string,
  body: Buffer | string,
  timestamp: string | undefined,
  signature: string | undefined,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(sign(secret, ts, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
