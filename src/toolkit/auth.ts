// Bearer-token checks for /admin/* and /metrics (METRICS_TOKEN, metricsToken): constant-time
// comparison, 401 with WWW-Authenticate when the token is missing or wrong; the admin API answers
// 403 explaining how to enable it when no token is configured.
import { createHash, timingSafeEqual } from 'node:crypto';
import { HeadroomError } from '../errors.js';
import { ADMIN_TOKEN_ACCEPTED, ADMIN_TOKEN_CHARS } from '../options/admin-token.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Whether an Authorization header carries `token` as "Bearer <token>", compared in constant time
 * (both sides hashed, so whatever the lengths).
 */
export function bearerMatcher(token: string): (authorization: string | undefined) => boolean {
  // A backstop for callers that skip the option check: a token no header can match is a mistake.
  if (!ADMIN_TOKEN_CHARS.test(token)) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `bearer token: ${ADMIN_TOKEN_ACCEPTED}`);
  const expected = digest(token);
  return (header) => {
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    return !!match && timingSafeEqual(digest(match[1]!), expected);
  };
}

/** The 401 for a request without the right bearer token for `what` ("admin", "metrics"). */
export function unauthorized(what: string, header: string | undefined): HeadroomError {
  // "Bearer " with nothing after it carries no token to be wrong.
  const given = header !== undefined && !/^\s*(bearer\s*)?$/i.test(header);
  return new HeadroomError('HEADROOM_UNAUTHORIZED', given ? `wrong ${what} token` : 'missing "Authorization: Bearer <token>" header', {
    headers: { 'www-authenticate': `Bearer realm="headroom-${what}"` },
  });
}

/** Throws the HeadroomError to answer with, or returns when the Authorization header carries the token. */
export function createAdminAuth(
  token: string | undefined,
  howToEnable = 'set HEADROOM_ADMIN_TOKEN (16+ random characters)',
): (authorization: string | undefined) => void {
  const matches = token === undefined ? undefined : bearerMatcher(token);
  return (header) => {
    if (!matches) {
      throw new HeadroomError(
        'HEADROOM_ADMIN_DISABLED',
        `the admin API is off: ${howToEnable} and send it as "Authorization: Bearer <token>"`,
      );
    }
    if (!matches(header)) throw unauthorized('admin', header);
  };
}
