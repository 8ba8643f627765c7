// The proxy's Fastify plugin (exported from headroom-memory/proxy and headroom-memory/fastify).
// proxyRoutes mounts every method under the proxy's prefix as ordinary Fastify routes, so the app's
// own hooks (an onRequest auth check, rate limits, request ids) run for proxied requests exactly as
// for its other routes. That is the safe default for an app.
//
// `raw: true` is the gateway's fast path: it puts the proxy in front of Fastify's request listener
// on the HTTP server, so requests under the prefix skip Fastify's routing, request/reply objects
// and EVERY hook of the app. The gateway opts in (src/server/routes/proxy.ts): it has no user hooks
// and checks Host itself in proxy.handle(). Every proxy rule lives in proxy.handle(), so both paths
// answer the same.
//
// Register it encapsulated (not with fastify-plugin): it replaces the content-type parsers of its
// own scope so request bodies stay unread streams for the upstream; the app's other routes keep
// their parsers.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HeadroomError } from '../errors.js';
import { FASTIFY_REGISTER_KEYS, requireOption, resolveOptions } from '../options/spec.js';
import { proxyRouteSpecs } from './options.js';
import { afterMount } from './mount.js';
import { originForm } from './headers.js';
import type { Proxy } from './proxy.js';
import { handOverIp } from './client.js';

export interface ProxyRouteOptions {
  /** From createProxy(). Required. */
  proxy: Proxy;
  /**
   * Route the prefix on the raw server before Fastify: faster, but the app's hooks do NOT run for
   * proxied requests. Only at the root (no register prefix). Default false.
   */
  raw?: boolean;
}

type Listener = (this: Server, req: IncomingMessage, res: ServerResponse) => void;

/**
 * The URL the proxy should see: a register prefix (`app.register(proxyRoutes, { prefix: '/v1' })`)
 * is cut off, so the proxy's own prefix rules apply to the rest and path and query stay exact.
 */
export function withoutMount(url: string, mount: string): string {
  return afterMount(url, mount) ?? url;
}

export async function proxyRoutes(app: FastifyInstance, options: ProxyRouteOptions): Promise<void> {
  const o = resolveOptions('proxyRoutes', proxyRouteSpecs, options, FASTIFY_REGISTER_KEYS);
  const proxy = requireOption('proxyRoutes', 'proxy', proxyRouteSpecs.proxy, o.proxy, options);
  const mount = app.prefix;
  if (o.raw) {
    if (mount !== '') {
      throw new HeadroomError(
        'HEADROOM_CONFIG_INVALID',
        `proxyRoutes: raw=true routes ${proxy.prefix} on the bare server and cannot live under the register prefix ${mount}; use raw: false`,
      );
    }
    wrapServerListener(app, proxy);
  }
  // Fastify's return503OnClosing does not see requests routed before it, so drain them here.
  app.addHook('preClose', (done) => {
    proxy.drain();
    done();
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const handler = (request: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack();
    handOverIp(proxy, request.raw, request.ip);
    const url = originForm(request.raw.url ?? '/');
    proxy.handle(request.raw, reply.raw, undefined, mount === '' ? url : withoutMount(url, mount));
  };
  app.all(proxy.prefix, handler);
  app.all(`${proxy.prefix}/*`, handler);
}

function wrapServerListener(app: FastifyInstance, proxy: Proxy): void {
  const server = app.server as Server | undefined;
  const listeners = server?.listeners('request') as Listener[] | undefined;
  if (!server || !listeners || listeners.length !== 1) return; // unknown server setup: Fastify routes only
  const fastifyListener = listeners[0]!;
  const listener: Listener = function (req, res) {
    if (proxy.matches(req.url ?? '')) proxy.handle(req, res);
    else fastifyListener.call(this, req, res);
  };
  server.removeListener('request', fastifyListener);
  server.on('request', listener);
  app.addHook('onClose', async () => {
    server.removeListener('request', listener);
    server.on('request', fastifyListener);
  });
}
