// Request ids: the client's X-Request-Id when it is a sane token, else a fresh random UUID. A bad
// id is replaced, never refused: an id is for correlating log lines, not a reason to fail a
// request. The bound and the character set keep ids from carrying log or header injection
// (no spaces, quotes, commas, semicolons or control characters) or bloating every line.
import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Longest client id kept, characters (a UUID is 36, a W3C traceparent 55). */
export const MAX_REQUEST_ID_LENGTH = 128;

// Letters, digits and - _ . : / + = @ — enough for UUIDs, ULIDs, base64 and AWS/GCP trace ids.
const REQUEST_ID = /^[A-Za-z0-9._:/+=@-]+$/;

/** True when `value` is an acceptable client request id. */
export function isValidRequestId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH && REQUEST_ID.test(value);
}

/**
 * The id for a request whose X-Request-Id header is `header`: the client's when valid, otherwise
 * a new UUID. Several header lines (Node joins them with ", ") are not one valid id.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && isValidRequestId(header) ? header : randomUUID();
}
