// HeadroomService: what a Nest app injects to reach headroom — the toolkit object (`headroom`:
// monitor, cache, proxy, image, metrics registry), the memory status and stats, and the proxy and
// image as handlers a controller or middleware of the app can call. It also drains and closes
// headroom through Nest's shutdown hooks.
import { HeadroomError } from '../../errors.js';
import { optionalRoutePath, resolveOptions } from '../../options/spec.js';
import { mountToPrefix } from '../../proxy/mount.js';
import type { MemorySample, MemoryStatus, HealthReport } from '../../monitor/types.js';
import type { RequestAccounting } from '../../log/accounting.js';
import type { BodyCapture } from '../../log/capture.js';
import type { Headroom } from '../../toolkit/headroom.js';
import type { AppRequestStats } from '../../toolkit/metrics.js';
import { serveNodeImage } from '../../toolkit/node-image.js';
import { proxyNodeRequest } from '../../toolkit/node-proxy.js';
import { originForm } from '../../proxy/headers.js';
import { pathOf } from '../../toolkit/node-middleware.js';
import { errorResponse, writePlain } from '../../toolkit/response.js';
import { restoreBody } from './body.js';
import { joinPath } from './mount.js';
import { originalUrl, rawRequest, rawResponse, type AnyRequest, type AnyResponse } from './raw.js';

export interface ProxyRequestOptions {
  /**
   * The path your controller is mounted at (e.g. "/legacy-api"): what follows it in the client's URL
   * is forwarded as if it followed the proxy's prefix. The app's global prefix is allowed in front
   * (/v1/legacy-api/x). Default: the URL is forwarded as it came, so the handler must be mounted at
   * the proxy's prefix.
   */
  mount?: string;
}

export interface HeadroomStats {
  status: MemoryStatus;
  draining: boolean;
  requests: AppRequestStats;
  proxy: ReturnType<NonNullable<Headroom['proxy']>['stats']> | null;
  cache: ReturnType<NonNullable<Headroom['cache']>['stats']> | null;
  image: ReturnType<NonNullable<Headroom['image']>['stats']> | null;
}

const HANDLER_SPECS = {
  mount: optionalRoutePath({ doc: 'Where the route is mounted.', default: undefined, example: '/legacy-api' }),
};

const noProxy = new HeadroomError(
  'HEADROOM_CONFIG_INVALID',
  "HeadroomService: no proxy is configured: pass `proxy: { upstreamUrl }` to HeadroomModule.forRoot() (or return it from forRootAsync's factory)",
);
const noImage = new HeadroomError(
  'HEADROOM_CONFIG_INVALID',
  "HeadroomService: no image service is configured: pass `image: { allowedOrigins }` to HeadroomModule.forRoot() (or return it from forRootAsync's factory)",
);

/** The route's path is not where the handler was told it is mounted (the proxy's prefix would be the wrong thing to name). */
const notUnder = (url: string, mounts: readonly string[]): HeadroomError =>
  new HeadroomError(
    'HEADROOM_PATH_REJECTED',
    `path ${pathOf(url)} is not under ${mounts.join(' or ')}, where this proxy handler was told it is mounted: give proxyHandler({ mount }) (or proxyRequest's mount) the path the route really has (URI versioning puts the version, e.g. /v1, in front)`,
  );

/**
 * Proxies req with the part of its URL after `mount` put after the proxy's prefix (mount
 * undefined: the URL as it came). The body headers the early middleware set aside are put back.
 */
export function forwardUnder(
  headroom: Headroom,
  req: AnyRequest,
  res: AnyResponse,
  mounts: readonly string[],
  caseInsensitive = false,
): void {
  const nodeReq = rawRequest(req);
  const nodeRes = rawResponse(res);
  const proxy = headroom.proxy;
  if (!proxy) return writePlain(nodeRes, errorResponse(noProxy), nodeReq.method);
  restoreBody(nodeReq);
  const url = originForm(originalUrl(nodeReq));
  let target: string | undefined;
  for (let i = 0; target === undefined && i < mounts.length; i++) target = mountToPrefix(url, mounts[i]!, proxy.prefix, caseInsensitive);
  if (target === undefined && mounts.length > 0) return writePlain(nodeRes, errorResponse(notUnder(url, mounts)), nodeReq.method);
  // On Fastify the raw request has no ip: the per-client limit takes Fastify's.
  const ip = req === nodeReq ? undefined : (req as { ip?: string }).ip;
  proxyNodeRequest(proxy, nodeReq, nodeRes, target ?? url, ip);
}

export class HeadroomService {
  /**
   * @param headroom the toolkit object
   * @param owned closed on application shutdown when true (the module created it)
   * @param drainTimeout longest wait for in-flight requests on shutdown, ms
   * @param routing how the platform routes (the module passes Nest's): the app's global prefix, allowed
   *   in front of a mount, whether paths match in any case (Express's default), and where to keep
   *   request bodies from Nest's parser for proxyHandler({ mount })
   * @param parts the capture and accounting of the module's `capture` / `accounting` options, what
   *   to undo at shutdown (the module's hold on the server's 100 Continue), and Nest's HTTP server
   *   (its connections are closed when requests still run after the drain)
   */
  constructor(
    readonly headroom: Headroom,
    private readonly owned = false,
    private readonly drainTimeout = 10_000,
    private readonly routing: { globalPrefix(): string; caseInsensitive(): boolean; keepBodiesUnder?(mount: string): void } = {
      globalPrefix: () => '',
      caseInsensitive: () => false,
    },
    parts: { capture?: BodyCapture; accounting?: RequestAccounting; release?: () => void; server?: () => unknown } = {},
  ) {
    this.capture = parts.capture;
    this.accounting = parts.accounting;
    this.release = parts.release;
    this.server = parts.server;
  }

  private readonly release: (() => void) | undefined;
  private readonly server: (() => unknown) | undefined;

  /** The body capture of the module's `capture` option (its stats()), if on. */
  readonly capture: BodyCapture | undefined;
  /** The request accounting of the module's `accounting` option (charge(), held(), routes()), if on. */
  readonly accounting: RequestAccounting | undefined;

  /** healthy, warning or critical (with the monitor's hysteresis), from the latest sample. */
  status(): MemoryStatus {
    return this.headroom.monitor.status();
  }

  /** The latest memory sample (bytes; percents of the V8 heap limit). */
  current(): MemorySample {
    return this.headroom.monitor.current();
  }

  /** The body of GET /health. */
  report(): HealthReport {
    return this.headroom.monitor.report();
  }

  stats(): HeadroomStats {
    const h = this.headroom;
    return {
      status: h.monitor.status(),
      draining: h.isDraining(),
      requests: h.requests(),
      proxy: h.proxy?.stats() ?? null,
      cache: h.cache?.stats() ?? null,
      image: h.image?.stats() ?? null,
    };
  }

  /**
   * Streams the request to the upstream. Call it from a controller (`@Req()`, `@Res()`) or a
   * middleware, on Express or Fastify. A body that a parser already read is answered 500
   * HEADROOM_BODY_CONSUMED and never forwarded. Prefer proxyHandler(), which checks at start-up
   * that a proxy is configured; this answers 500 HEADROOM_CONFIG_INVALID per request when none is.
   */
  proxyRequest(req: AnyRequest, res: AnyResponse, options: ProxyRequestOptions = {}): void {
    const { mount } = options;
    if (mount === undefined) return forwardUnder(this.headroom, req, res, []);
    const prefix = this.routing.globalPrefix();
    const mounts = prefix ? [joinPath(prefix, mount), mount] : [mount];
    forwardUnder(this.headroom, req, res, mounts, this.routing.caseInsensitive());
  }

  /**
   * proxyRequest as a handler made once, e.g. in your controller's constructor:
   * `this.proxy = headroom.proxyHandler({ mount: '/legacy-api' })`. Request bodies under the mount
   * are kept from Nest's body parser, as under the proxy controller's (an app route under it other
   * than a catch-all at the mount stops start-up). Throws HEADROOM_CONFIG_INVALID when no proxy is
   * configured, so a missing `proxy` option stops start-up.
   */
  proxyHandler(options: ProxyRequestOptions = {}): (req: AnyRequest, res: AnyResponse) => void {
    if (!this.headroom.proxy) throw noProxy;
    const checked = resolveOptions('HeadroomService.proxyHandler', HANDLER_SPECS, options);
    if (checked.mount !== undefined) this.routing.keepBodiesUnder?.(checked.mount);
    return (req, res) => this.proxyRequest(req, res, checked);
  }

  /** Answers GET /image?url=&w=&h=&q=&format= (the query of the request's URL). */
  imageRequest(req: AnyRequest, res: AnyResponse): Promise<void> {
    const nodeReq = rawRequest(req);
    const nodeRes = rawResponse(res);
    const image = this.headroom.image;
    if (!image) return Promise.resolve(writePlain(nodeRes, errorResponse(noImage), nodeReq.method));
    return serveNodeImage(image, nodeReq, nodeRes, originalUrl(nodeReq));
  }

  /** imageRequest as a handler made once; throws HEADROOM_CONFIG_INVALID when no image service is configured. */
  imageHandler(): (req: AnyRequest, res: AnyResponse) => Promise<void> {
    if (!this.headroom.image) throw noImage;
    return (req, res) => this.imageRequest(req, res);
  }

  /** The module's drainTimeout, ms: enableHeadroomShutdown's wait unless given its own `timeout`. */
  get drainTimeoutMs(): number {
    return this.drainTimeout;
  }

  /**
   * For enableHeadroomShutdown: it has waited for the in-flight requests already (`idle`: whether
   * they all finished), so the shutdown hook does not wait again (the two waits added up, past a
   * pod's grace period).
   */
  drainedByShutdown(idle = true): void {
    this.waited = idle;
  }

  /** undefined: not waited yet; else whether the in-flight requests finished within the wait. */
  private waited: boolean | undefined;

  /** Nest hook (app.close() or enableShutdownHooks()): readiness turns 503, new requests are refused, in-flight ones finish. */
  async beforeApplicationShutdown(): Promise<void> {
    this.headroom.drain();
    const idle = this.waited ?? (await this.headroom.idle(this.drainTimeout));
    // Nest closes the HTTP server next, which waits for every open request: a proxied download
    // that never ends would hold it for ever. The proxy's close (closeTimeout, then its upstream
    // requests destroyed) starts now; onApplicationShutdown's close gets that same close.
    const proxyClosed = this.owned ? this.headroom.proxy?.close() : undefined;
    if (idle) return;
    // Requests still run after the drain (a stuck handler): once proxied ones have had their
    // closeTimeout, their connections are closed, else Nest's server close waits for ever.
    const server = this.server?.() as { closeAllConnections?: () => void } | undefined;
    if (typeof server?.closeAllConnections !== 'function') return;
    const cut = (): void => server.closeAllConnections!();
    if (proxyClosed) void proxyClosed.then(cut, cut);
    else cut();
  }

  /** Nest hook: closes headroom when the module created it (the shared monitor is given back). */
  async onApplicationShutdown(): Promise<void> {
    this.release?.();
    if (this.owned) await this.headroom.close();
  }
}
