// Bearer-token check for /admin/*: constant-time comparison, 401 with WWW-Authenticate when the
// token is missing or wrong, 403 explaining how to enable the API when no token is configured.
import { createHash, timingSafeEqual } from 'node:crypto';
import { HeadroomError } from '../errors.js';
import { ADMIN_TOKEN_ACCEPTED, ADMIN_TOKEN_CHARS } from '../options/admin-token.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Throws the HeadroomError to answer with, or returns when the Authorization header carries the token. */
export function createAdminAuth(
  token: string | undefined,
  howToEnable = 'set HEADROOM_ADMIN_TOKEN (16+ random characters)',
): (authorization: string | undefined) => void {
  // A backstop for callers that skip the option check: a token no header can match is a mistake.
  if (token !== undefined && !ADMIN_TOKEN_CHARS.test(token))
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `admin token: ${ADMIN_TOKEN_ACCEPTED}`);
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const expected = token === undefined ? undefined : digest(token);
  return (header) => {
    if (!expected) {
      throw new HeadroomError(
        'HEADROOM_ADMIN_DISABLED',
        `the admin API is off: ${howToEnable} and send it as "Authorization: Bearer <token>"`,
      );
    }
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new HeadroomError('HEADROOM_UNAUTHORIZED', header ? 'wrong admin token' : 'missing "Authorization: Bearer <token>" header', {
        headers: { 'www-authenticate': 'Bearer realm="headroom-admin"' },
      });
    }
  };
}
