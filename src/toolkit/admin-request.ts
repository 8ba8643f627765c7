// The admin API's request, built from what follows the admin mount in a URL. Every adapter that
// answers /admin/* itself (Express/Connect and NestJS through nodeMiddleware, the Fastify routes)
// builds it here, so the path and query are read the same way everywhere.
import type { AdminRequest } from './admin.js';

/**
 * @param rest the URL after the admin mount: "/memory-stats?x=1", "", "?tag=a"
 * @param client the address the rate limit keys on (Express req.ip, Fastify request.ip: both honour trust proxy)
 * @param headers the request's headers (the dashboard's files honour accept-encoding and if-none-match)
 */
export function adminRequestFromUrl(
  method: string,
  rest: string,
  authorization: string | undefined,
  client: string,
  headers: { 'accept-encoding'?: string; 'if-none-match'?: string } = {},
): AdminRequest {
  const q = rest.indexOf('?');
  return {
    method,
    path: (q === -1 ? rest : rest.slice(0, q)) || '/',
    query: new URLSearchParams(q === -1 ? '' : rest.slice(q + 1)),
    authorization,
    client,
    acceptEncoding: headers['accept-encoding'],
    ifNoneMatch: headers['if-none-match'],
  };
}
