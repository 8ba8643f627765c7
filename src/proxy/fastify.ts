// The proxy's Fastify plugin (exported from headroom-memory/proxy). proxyRoutes mounts every method under
// the prefix. By default it also puts the proxy in front of Fastify's own request listener on the HTTP server, so proxied
// requests skip Fastify's routing and request/reply objects (the throughput target needs that);
// every proxy rule lives in proxy.handle(), so both paths behave the same. The Fastify routes
// remain for inject() and for servers where the listener cannot be wrapped. Register it
// encapsulated (not with fastify-plugin): it replaces the content-type parsers of its scope so
// request bodies stay unread streams for the upstream.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireOption, resolveOptions } from '../options/spec.js';
import { proxyRouteSpecs } from './options.js';
import type { Proxy } from './proxy.js';

export interface ProxyRouteOptions {
  /** From createProxy(). Required. */
  proxy: Proxy;
  /** Route the prefix on the raw server before Fastify. Default true. */
  raw?: boolean;
}

type Listener = (this: Server, req: IncomingMessage, res: ServerResponse) => void;

export async function proxyRoutes(app: FastifyInstance, options: ProxyRouteOptions): Promise<void> {
  const o = resolveOptions('proxyRoutes', proxyRouteSpecs, options);
  const proxy = requireOption('proxyRoutes', 'proxy', proxyRouteSpecs.proxy, o.proxy);
  if (o.raw) wrapServerListener(app, proxy);
  // Fastify's return503OnClosing does not see requests routed before it, so drain them here.
  app.addHook('preClose', (done) => {
    proxy.drain();
    done();
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const handler = (request: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack();
    proxy.handle(request.raw, reply.raw);
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
