// Per-route heap attribution for Fastify: `await app.register(attributeRouteHeap, { attribution })`.
// Each response counts its request under the route template and hands over the route's handler
// (routeOptions.handler), whose allocations are then charged to it. Only apps that register it pay
// for it (one onResponse hook).
import type { FastifyPluginAsync } from 'fastify';
import type { RouteHandler, RouteHeapAttribution } from '../../log/route-heap.js';
import { HeadroomError } from '../../errors.js';
import { UNMATCHED_ROUTE } from '../../observe/route-labels.js';

export interface AttributeRouteHeapOptions {
  /** Made by createRouteHeapAttribution(); the caller closes it. */
  attribution: RouteHeapAttribution;
}

const plugin: FastifyPluginAsync<AttributeRouteHeapOptions> = async (app, options) => {
  const attribution = options?.attribution;
  if (!attribution || typeof attribution.count !== 'function' || typeof attribution.report !== 'function')
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'attributeRouteHeap: attribution must be made by createRouteHeapAttribution()');
  app.addHook('onResponse', (request, _reply, done) => {
    const route = request.routeOptions;
    attribution.count(route.url ?? UNMATCHED_ROUTE, route.handler as RouteHandler | undefined);
    done();
  });
};

Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'headroom-memory-route-heap',
  [Symbol.for('plugin-meta')]: { name: 'headroom-memory-route-heap', fastify: '5.x' },
});

/** Charges the heap still alive to the routes whose handlers allocated it; register once, at the root. */
export const attributeRouteHeap: FastifyPluginAsync<AttributeRouteHeapOptions> = plugin;
