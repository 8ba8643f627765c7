// The gateway's proxy plugins: proxyRoutes on the raw fast path (the library's plugin from
// src/proxy/fastify.ts with raw: true) and proxyAdminRoutes, which the gateway mounts inside the
// authenticated /admin scope.
import type { FastifyInstance } from 'fastify';
import { proxyRoutes as libraryProxyRoutes, type ProxyRouteOptions } from '../../proxy/fastify.js';
import type { Proxy } from '../../proxy/proxy.js';

export type { ProxyRouteOptions };

/**
 * The gateway routes /api/* on the raw server, before Fastify: it has no user hooks to skip, and
 * proxy.handle() checks Host itself. Library users get hooks-respecting routes (raw: false).
 */
export async function proxyRoutes(app: FastifyInstance, options: ProxyRouteOptions): Promise<void> {
  await libraryProxyRoutes(app, { ...options, raw: options.raw ?? true });
}

/** GET /proxy-stats; the gateway mounts it inside the authenticated /admin scope. */
export async function proxyAdminRoutes(app: FastifyInstance, options: { proxy: Pick<Proxy, 'stats'> }): Promise<void> {
  app.get('/proxy-stats', async () => options.proxy.stats());
}
