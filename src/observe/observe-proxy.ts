// The gateway's proxy with request ids, access log and request metrics: the proxy's raw path runs
// before Fastify, so none of Fastify's hooks see it. Every request gets an id (the client's
// X-Request-Id when valid, else a new one) that the proxy forwards upstream and returns, and a
// note it fills in for the access log line.
import type { Proxy } from '../proxy/proxy.js';
import { newProxyNote } from '../proxy/note.js';
import { REQUEST_ID_HEADER, requestIdFrom } from './request-id.js';
import type { RequestObserver } from './request-observer.js';

/** The route label of proxied requests: PROXY_PREFIX followed by /* (`/api/*` by default). */
export const proxyRoute = (prefix: string): string => `${prefix.replace(/\/+$/, '')}/*`;

export function observeProxy(proxy: Proxy, observer: RequestObserver): Proxy {
  const route = proxyRoute(proxy.prefix);
  return {
    get prefix() {
      return proxy.prefix;
    },
    get enabled() {
      return proxy.enabled;
    },
    get limitsClients() {
      return proxy.limitsClients;
    },
    matches: (url) => proxy.matches(url),
    drain: () => proxy.drain(),
    handle(req, res) {
      const id = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
      const note = newProxyNote(id);
      observer.begin(req, res, id, route, note);
      proxy.handle(req, res, note);
    },
    fetch: (request, info) => proxy.fetch(request, info),
    stats: () => proxy.stats(),
    close: () => proxy.close(),
    abortInFlight: () => proxy.abortInFlight(),
    [Symbol.asyncDispose]: () => proxy.close(),
  };
}
