// HeadroomService: what a Nest app injects to reach headroom — the toolkit object (`headroom`:
// monitor, cache, proxy, image, metrics registry), the memory status and stats, and the proxy and
// image as handlers a controller or middleware of the app can call. It also drains and closes
// headroom through Nest's shutdown hooks.
import { HeadroomError } from '../../errors.js';
import type { MemorySample, MemoryStatus, HealthReport } from '../../monitor/types.js';
import type { Headroom } from '../../toolkit/headroom.js';
import type { AppRequestStats } from '../../toolkit/metrics.js';
import { serveNodeImage } from '../../toolkit/node-image.js';
import { proxyNodeRequest } from '../../toolkit/node-proxy.js';
import { errorResponse, writePlain } from '../../toolkit/response.js';
import { restoreBody } from './body.js';
import { originalUrl, rawRequest, rawResponse, remount, type AnyRequest, type AnyResponse } from './raw.js';

export interface ProxyRequestOptions {
  /**
   * The path the handler is mounted at (e.g. "/parsed-api"): what follows it in the client's URL is
   * forwarded as if it followed the proxy's prefix. Default: the URL is forwarded as it came, so the
   * handler must be mounted at the proxy's prefix.
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

const noProxy = new HeadroomError('HEADROOM_NOT_FOUND', 'no proxy is configured: pass `proxy: { upstreamUrl }` to HeadroomModule');
const noImage = new HeadroomError('HEADROOM_NOT_FOUND', 'no image route is configured: pass `image: { … }` to HeadroomModule');

export class HeadroomService {
  /**
   * @param headroom the toolkit object
   * @param owned closed on application shutdown when true (the module created it)
   * @param drainTimeout longest wait for in-flight requests on shutdown, ms
   */
  constructor(
    readonly headroom: Headroom,
    private readonly owned = false,
    private readonly drainTimeout = 10_000,
  ) {}

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
   * HEADROOM_BODY_CONSUMED and never forwarded.
   */
  proxyRequest(req: AnyRequest, res: AnyResponse, options: ProxyRequestOptions = {}): void {
    const nodeReq = rawRequest(req);
    const nodeRes = rawResponse(res);
    const proxy = this.headroom.proxy;
    if (!proxy) return writePlain(nodeRes, errorResponse(noProxy), nodeReq.method);
    restoreBody(nodeReq);
    const url = originalUrl(nodeReq);
    proxyNodeRequest(proxy, nodeReq, nodeRes, options.mount === undefined ? url : remount(url, options.mount, proxy.prefix));
  }

  /** Answers GET /image?url=&w=&h=&q=&format= (the query of the request's URL). */
  imageRequest(req: AnyRequest, res: AnyResponse): Promise<void> {
    const nodeReq = rawRequest(req);
    const nodeRes = rawResponse(res);
    const image = this.headroom.image;
    if (!image) return Promise.resolve(writePlain(nodeRes, errorResponse(noImage), nodeReq.method));
    return serveNodeImage(image, nodeReq, nodeRes, originalUrl(nodeReq));
  }

  /** Nest hook (app.close() or enableShutdownHooks()): readiness turns 503, new requests are refused, in-flight ones finish. */
  async beforeApplicationShutdown(): Promise<void> {
    this.headroom.drain();
    await this.headroom.idle(this.drainTimeout);
  }

  /** Nest hook: closes headroom when the module created it (the shared monitor is given back). */
  async onApplicationShutdown(): Promise<void> {
    if (this.owned) await this.headroom.close();
  }
}
