// Fastify plugins for each of headroom's routes, answered by the toolkit (src/toolkit). The main
// plugin (plugin.ts) registers them; they are exported so an app can mount one in a scope of its
// own choosing (e.g. the image route inside an authenticated scope, health under a prefix).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HeadroomError, isHeadroomError } from '../../errors.js';
import type { ImageService } from '../../image/types.js';
import type { Proxy } from '../../proxy/proxy.js';
import { withoutMount } from '../../proxy/fastify.js';
import { originForm } from '../../proxy/headers.js';
import { mountToPrefix } from '../../proxy/mount.js';
import { imageRoutes as gatewayImageRoutes } from '../../server/routes/image.js';
import type { Headroom } from '../../toolkit/headroom.js';
import { adminRequestFromUrl } from '../../toolkit/admin-request.js';
import { proxyNodeRequest } from '../../toolkit/node-proxy.js';
import { errorResponse, writePlain, type PlainResponse } from '../../toolkit/response.js';

/** Route config marking headroom's own routes (health, metrics, admin): never shed, not counted in flight. */
export const OWN_ROUTE = Symbol.for('headroom-memory.own-route');
const own = { config: { [OWN_ROUTE]: true } };

/**
 * First thing in every own route's handler: the response leaves the in-flight count. The plugin's
 * gate counts a server's requests by connection and, while healthy, does not look at the URL at
 * all (that would cost every request of the app), so an own route is told apart here, where
 * Fastify's router already has. Before it: a probe counts while the app's hooks run for it.
 */
const ownAnswer = (h: Headroom, reply: FastifyReply): void => h.uncount(reply.raw);

export function sendPlain(reply: FastifyReply, r: PlainResponse): FastifyReply {
  // A live body (the dashboard feed) is written on the raw response for as long as the viewer stays.
  if (r.live) return (reply.hijack(), writePlain(reply.raw, r, reply.request.method), reply);
  return reply
    .code(r.status)
    .headers(r.headers)
    .send(r.bytes ?? r.body);
}

export interface HeadroomRouteOptions {
  /** From createHeadroom(), or `app.headroom` after the main plugin. */
  headroom: Headroom;
}

function need(plugin: string, headroom: Headroom | undefined): Headroom {
  if (!headroom || typeof headroom.health !== 'function') {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${plugin}: headroom is required: must be what createHeadroom() from headroom-memory/toolkit returns (or app.headroom)`,
    );
  }
  return headroom;
}

/** GET <prefix> (full report, 503 when critical), <prefix>/live, <prefix>/ready. Register with `prefix: '/health'`. */
export async function healthRoutes(app: FastifyInstance, options: HeadroomRouteOptions): Promise<void> {
  const h = need('healthRoutes', options.headroom);
  app.get('/', own, (_request, reply) => (ownAnswer(h, reply), sendPlain(reply, h.health())));
  app.get('/live', own, (_request, reply) => (ownAnswer(h, reply), sendPlain(reply, h.live())));
  app.get('/ready', own, (_request, reply) => (ownAnswer(h, reply), sendPlain(reply, h.ready())));
}

/** GET <prefix>: Prometheus text of the headroom registry. Register with `prefix: '/metrics'`. */
export async function metricsRoutes(app: FastifyInstance, options: HeadroomRouteOptions): Promise<void> {
  const h = need('metricsRoutes', options.headroom);
  app.get('/', own, async (request, reply) => {
    ownAnswer(h, reply);
    return sendPlain(reply, await h.metrics(request.headers.authorization));
  });
}

/**
 * ANY <prefix>/*: the admin API (bearer token, rate limit per `request.ip` — set Fastify's
 * trustProxy behind a load balancer). Register with `prefix: '/admin'`. Bodies are not read.
 */
export async function adminRoutes(app: FastifyInstance, options: HeadroomRouteOptions): Promise<void> {
  const h = need('adminRoutes', options.headroom);
  const mount = app.prefix;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    ownAnswer(h, reply);
    // An absolute-form target (GET http://host/admin/… HTTP/1.1) is the same request: its path is what is mounted.
    const rest = withoutMount(originForm(request.url), mount);
    const r = await h.admin(adminRequestFromUrl(request.method, rest, request.headers.authorization, request.ip, request.headers));
    return sendPlain(reply, r);
  };
  app.all('/', own, handler);
  app.all('/*', own, handler);
}

/**
 * GET /image and GET /image/meta of an image service. Its errors answer in headroom's JSON shape
 * ({"error":{"code","message"}}); other errors go on to the app's error handler.
 */
export async function imageRoutes(app: FastifyInstance, options: { image: ImageService }): Promise<void> {
  if (!options.image || typeof options.image.handle !== 'function') {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      'imageRoutes: image is required: must be an image service (createImageService() from headroom-memory/image)',
    );
  }
  app.setErrorHandler((err, _request, reply) => {
    if (!isHeadroomError(err)) throw err;
    return sendPlain(reply, errorResponse(err));
  });
  await app.register(gatewayImageRoutes, { image: options.image });
}

/**
 * A route handler proxying to `proxy` from a route of your own, e.g.
 * `app.all('/v2/*', proxyHandler(proxy))`: the route's literal mount (its URL without the trailing
 * `/*`) stands in for the proxy's prefix. Unlike proxyRoutes it cannot keep body parsers away: a
 * body the scope's parser already read is answered 500 HEADROOM_BODY_CONSUMED and never sent
 * upstream (register proxyRoutes instead, or replace the scope's content-type parsers).
 */
export function proxyHandler(proxy: Proxy): (request: FastifyRequest, reply: FastifyReply) => void {
  return (request, reply) => {
    reply.hijack();
    const route = request.routeOptions.url ?? '';
    const mount = route.replace(/\/?\*$/, '');
    const url = originForm(request.raw.url ?? '/');
    const literal = !/[:*(]/.test(mount);
    const target = literal ? (mountToPrefix(url, mount, proxy.prefix) ?? url) : url;
    proxyNodeRequest(proxy, request.raw, reply.raw, target, request.ip);
  };
}
