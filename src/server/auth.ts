// Bearer-token check for /admin/*: constant-time comparison, 401 with WWW-Authenticate when the
// token is missing or wrong, 403 explaining how to enable the API when no token is configured.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HeadroomError } from '../errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function createAdminAuth(token: string | undefined): (request: FastifyRequest) => Promise<void> {
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const expected = token === undefined ? undefined : digest(token);
  return async (request) => {
    if (!expected) {
      throw new HeadroomError(
        'HEADROOM_ADMIN_DISABLED',
        'the admin API is off: set HEADROOM_ADMIN_TOKEN (16+ random characters) and send it as "Authorization: Bearer <token>"',
      );
    }
    const header = request.headers.authorization;
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new HeadroomError('HEADROOM_UNAUTHORIZED', header ? 'wrong admin token' : 'missing "Authorization: Bearer <token>" header', {
        headers: { 'www-authenticate': 'Bearer realm="headroom-admin"' },
      });
    }
  };
}
