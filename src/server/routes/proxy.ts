// The gateway's proxy plugins: proxyRoutes (the prefix, from src/proxy/fastify.ts, where library
// users get it too) and proxyAdminRoutes, which the gateway mounts inside the authenticated /admin scope.
import type { FastifyInstance } from 'fastify';
import type { Proxy } from '../../proxy/proxy.js';

export { proxyRoutes, type ProxyRouteOptions } from '../../proxy/fastify.js';

/** GET /proxy-stats; the gateway mounts it inside the authenticated /admin scope. */
export async function proxyAdminRoutes(app: FastifyInstance, options: { proxy: Pick<Proxy, 'stats'> }): Promise<void> {
  app.get('/proxy-stats', async () => options.proxy.stats());
}
