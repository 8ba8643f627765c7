// The Fastify plugin: one `app.register(headroom, options)` wires the toolkit into an app —
// health/live/ready, /metrics, the admin API, load shedding in an onRequest hook, the proxy and
// image routes (ordinary routes, so the app's own hooks run for them), `app.memory` and
// `app.headroom` decorators, and the app's close: preClose drains (readiness 503, new requests
// refused), onClose closes headroom.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
import type { MemoryMonitor, MemorySample, MemoryStatus } from '../../monitor/types.js';
import { resolveOptions } from '../../options/spec.js';
import { proxyRoutes } from '../../proxy/fastify.js';
import { fastifyPluginSpecs } from './options.js';
import { adminRoutes, healthRoutes, imageRoutes, metricsRoutes, OWN_ROUTE, sendPlain } from './routes.js';

export interface FastifyHeadroomOptions extends HeadroomOptions {
  /** Health routes: the path, its /live and /ready probes (default /health); false = not mounted. */
  healthPath?: string | false;
  /** Prometheus scrape path (default /metrics); false = not mounted. */
  metricsPath?: string | false;
  /** Admin API, ANY <path>/* (default /admin); false = not mounted. */
  adminPath?: string | false;
  /** Mount the proxy at its prefix when `proxy` is set (default true). false: mount `proxyRoutes` yourself. */
  proxyRoutes?: boolean;
  /** Mount GET /image and /image/meta when `image` is set (default true). false: mount `imageRoutes` yourself. */
  imageRoutes?: boolean;
}

/** What handlers can ask about memory: `app.memory` (also `request.server.memory`). */
export interface FastifyMemory {
  /** healthy, warning or critical, with the monitor's hysteresis. */
  status(): MemoryStatus;
  /** The latest sample: V8 heap against its limit, process memory, event loop (bytes). */
  current(): MemorySample;
  /** True while a request to `path` would be answered 503 (critical or draining; shedExempt honoured). */
  shedding(path?: string): boolean;
  /** The process's shared memory monitor (onPressure, history, heap snapshots). */
  readonly monitor: MemoryMonitor;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** headroom's parts (proxy, image, cache, registry) and lifecycle (drain, idle, close), from the headroom plugin. */
    headroom: Headroom;
    /** Memory status for handlers, from the headroom plugin. */
    memory: FastifyMemory;
  }
}

function memoryView(h: Headroom): FastifyMemory {
  const { monitor } = h;
  return {
    status: () => monitor.status(),
    current: () => monitor.current(),
    shedding: (path) => h.wouldShed(path),
    monitor,
  };
}

/**
 * onRequest: 503 + Retry-After while critical or draining; otherwise the request is counted in
 * flight until its response closes ('close' fires on finish and on abort alike, so an aborted
 * request gives its slot back). headroom's own routes are neither shed nor counted.
 */
function shedding(h: Headroom) {
  return function onRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const config = request.routeOptions.config as unknown as Record<symbol, unknown> | undefined;
    if (config?.[OWN_ROUTE]) return done();
    const url = request.url;
    const q = url.indexOf('?');
    const refused = h.shed(q === -1 ? url : url.slice(0, q));
    if (refused) {
      void sendPlain(reply, refused);
      return;
    }
    // 'close' fires once per response; on() spares once()'s wrapper (the release is idempotent).
    reply.raw.on('close', h.track());
    done();
  };
}

async function plugin(app: FastifyInstance, options: FastifyHeadroomOptions): Promise<void> {
  const o = resolveOptions('headroom (Fastify plugin)', fastifyPluginSpecs, options);
  const h = createHeadroom(options);
  try {
    app.decorate('headroom', h);
    app.decorate('memory', memoryView(h));
  } catch (err) {
    await h.close();
    throw err;
  }
  app.addHook('onClose', () => h.close());
  // Fastify answers 503 itself once close() starts; drain() also turns readiness 503 and sheds
  // requests on connections that are already open.
  app.addHook('preClose', (done) => {
    h.drain();
    done();
  });
  app.addHook('onRequest', shedding(h));

  if (o.healthPath) await app.register(healthRoutes, { headroom: h, prefix: o.healthPath });
  if (o.metricsPath) await app.register(metricsRoutes, { headroom: h, prefix: o.metricsPath });
  if (o.adminPath) await app.register(adminRoutes, { headroom: h, prefix: o.adminPath });
  if (h.proxy && o.proxyRoutes) await app.register(proxyRoutes, { proxy: h.proxy });
  if (h.image && o.imageRoutes) await app.register(imageRoutes, { image: h.image });
}

// The effect of fastify-plugin, without depending on it: skip-override runs the plugin in the
// scope it is registered in, so the decorators and the onRequest hook reach the app's routes.
// (fastify-plugin is only a transitive dependency here; these symbols are Fastify's documented contract.)
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'headroom-memory',
  [Symbol.for('plugin-meta')]: { name: 'headroom-memory', fastify: '5.x' },
});

/** The headroom plugin: `await app.register(headroom, { proxy: { upstreamUrl } })`. Register it once, at the root. */
export const headroom: FastifyPluginAsync<FastifyHeadroomOptions> = plugin;
