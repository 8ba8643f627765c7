// REQUEST_ACCOUNTING in the gateway: a ledger per request, so what the proxy and the image service
// hold for a request is charged to it (they find the ledger through AsyncLocalStorage). Proxied
// requests take the raw fast path before Fastify (routes/proxy.ts), so they are accounted here, by
// wrapping proxy.handle; every request Fastify routes is accounted by the Fastify plugin's hook.
import type { Logger } from 'pino';
import { createRequestAccounting, type RequestAccounting } from '../log/accounting.js';
import { proxyRoute } from '../observe/observe-proxy.js';
import type { Proxy } from '../proxy/proxy.js';

export function gatewayAccounting(warnBytes: number, logger: Logger): RequestAccounting {
  return createRequestAccounting({
    warnBytes,
    onHeavy: (s) =>
      logger.warn(
        { route: s.route, ms: Math.round(s.ms * 100) / 100, peak: s.peak, charged: s.charged },
        `request held ${s.peak} bytes at its peak (above ${warnBytes})`,
      ),
  });
}

/** The proxy whose handle() runs each request inside its own ledger, ended (all given back) when the response closes. */
export function accountProxy(proxy: Proxy, accounting: RequestAccounting): Proxy {
  const route = proxyRoute(proxy.prefix);
  const accounted = Object.create(proxy) as Proxy;
  accounted.handle = (req, res, ...rest) => {
    // Routed by Fastify (an absolute-form target takes that way), the request has its ledger already.
    if (accounting.current() !== undefined) return proxy.handle(req, res, ...rest);
    const ledger = accounting.open();
    res.once('close', () => ledger.end(route));
    accounting.run(ledger, () => proxy.handle(req, res, ...rest));
  };
  return accounted;
}
