// createHeadroom: the parts an app needs, wired once and answered in framework-neutral form. Every
// adapter (Fastify, Express, Next.js, NestJS) is a thin translation of this object, so shedding,
// health, metrics, the admin API and the proxy behave the same in each.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createAdmission, type AdmissionOptions, type HeadroomAdmission } from '../admission/index.js';
import { resolveAdmissionOptions } from '../admission/options.js';
import { createCache } from '../cache/index.js';
import type { Cache, CacheOptions } from '../cache/types.js';
import { HeadroomError } from '../errors.js';
import { createImageService } from '../image/service.js';
import type { ImageService, ImageServiceOptions } from '../image/types.js';
import type { MemoryMonitor, MemoryMonitorOptions } from '../monitor/types.js';
import { bool, list, nestedOptions, num, optionalObject, optionsGroup, optionsPlace, resolveOptions } from '../options/spec.js';
import { createProxy, type Proxy, type ProxyOptions } from '../proxy/proxy.js';
import { createDashboard, type DashboardOptions } from '../observe/dashboard/index.js';
import { createAdminApi, type AdminRequest } from './admin.js';
import { adminTokenSpec } from '../options/admin-token.js';
import { createHealthResponder } from './health.js';
import { addMetrics, createMetricsRegistry, scrape, type AppRequestStats } from './metrics.js';
import { errorResponse, type PlainResponse } from './response.js';
import { bearerMatcher, unauthorized } from './auth.js';
import { createInFlight } from './in-flight.js';
import { acquireSharedMonitor } from './shared-monitor.js';

export interface HeadroomOptions {
  /** Options of the process's one shared memory monitor (the first adapter to start it decides), or a monitor of your own. */
  monitor?: MemoryMonitorOptions | MemoryMonitor;
  /** Bearer token for the admin API (16–512 characters). Unset: the admin API answers 403. */
  adminToken?: string;
  /** Admin requests per client per minute (default 60). */
  adminRateLimit?: number;
  /** Bearer token the metrics route then asks for (16–512 characters; 401 without it). Unset: it answers anyone. */
  metricsToken?: string;
  /** Answer the app's routes 503 + Retry-After while memory is critical (default true). */
  shedding?: boolean;
  /** Path prefixes never shed (e.g. a payment webhook). Health, metrics and admin routes are never shed anyway. */
  shedExempt?: string[];
  /** Seconds in Retry-After when shedding or draining (default 5). */
  retryAfter?: number;
  /** A bounded two-tier cache (used by the proxy for cacheable GETs and by the image route). */
  cache?: CacheOptions;
  /** The streaming proxy. Admission and the monitor are supplied; `limits` below apply. */
  proxy?: Omit<ProxyOptions, 'monitor' | 'admission' | 'limits' | 'cache'> & { cache?: boolean };
  /** The image route. The cache and admission are supplied (an L1-only cache when `cache` is not set). */
  image?: Omit<ImageServiceOptions, 'cache' | 'monitor' | 'admission'>;
  /** Upstream concurrency shared by the proxy and image fetches (MAX_CONCURRENT_CONNECTIONS etc.). */
  limits?: Omit<AdmissionOptions, 'monitor'>;
  /** An existing prom-client registry to add headroom's metrics to (default: a registry of its own). */
  registry?: Registry;
  /** Add Node.js process metrics (prom-client's defaults but its event-loop lag and GC histogram, docs/deployment.md#prometheus) to the registry when it has none (default true). */
  defaultMetrics?: boolean;
  /** The live dashboard at <admin>/dashboard (viewers, interval, stall timeout; `enabled: false` turns it off). */
  dashboard?: Omit<DashboardOptions, 'monitor' | 'cache' | 'proxy' | 'image' | 'apiBase'>;
  logger?: Logger;
}

export interface Headroom {
  readonly monitor: MemoryMonitor;
  readonly registry: Registry;
  readonly cache: Cache | undefined;
  readonly proxy: Proxy | undefined;
  readonly image: ImageService | undefined;
  /**
   * 503 + Retry-After while memory is critical (with the monitor's hysteresis) or while draining;
   * undefined when the request may go on. `path` (no query) is checked against shedExempt, in any
   * case with `ignoreCase` (for an app that routes paths in any case, as Express does by default).
   */
  shed(path?: string, ignoreCase?: boolean): PlainResponse | undefined;
  /** True while shed(path) would refuse (critical or draining; shedExempt honoured). Counts nothing: for handlers that ask. */
  wouldShed(path?: string, ignoreCase?: boolean): boolean;
  health(): PlainResponse;
  live(): PlainResponse;
  ready(): PlainResponse;
  /** The Prometheus text; with `metricsToken`, a 401 unless `authorization` is "Bearer <that token>". */
  metrics(authorization?: string): Promise<PlainResponse>;
  admin(request: AdminRequest): Promise<PlainResponse>;
  /** Counts a request in flight; call the returned function when it ends (idempotent). */
  track(): () => void;
  /** Counts a Node response in flight until its 'close' (which Node emits exactly once, on finish and on abort alike). */
  trackResponse(res: ServerResponse): void;
  /**
   * The request path's form: counts a Node request in flight until its response finishes or its
   * connection closes, with no listener per request (in-flight.ts); other responses (HTTP/2's) until their 'close'.
   */
  countRequest(req: IncomingMessage, res: ServerResponse): void;
  /**
   * For an adapter in front of a Node http/https server: counts every request of the server's
   * connections, with nothing done per request (in-flight.ts); false when it is another kind of
   * server (count each request with countRequest then). Leave headroom's own answers out with uncount.
   */
  countServer(server: unknown): boolean;
  /** Leaves a response of a counted server out of the in-flight count. */
  uncount(res: ServerResponse): void;
  /** Leaves out of the in-flight count the counted responses `test` picks, asked when the count is read (each call adds a test; a response any of them picks is left out). */
  leaveOut(test: (res: ServerResponse) => boolean): void;
  requests(): AppRequestStats;
  /**
   * Readiness turns 503 while requests are still served: the graceful stop's `delay`, so load
   * balancers stop sending before anything is refused. drain() then refuses them.
   */
  unready(): void;
  /** Readiness turns 503 and new requests are shed; in-flight ones finish. */
  drain(): void;
  isDraining(): boolean;
  /** Resolves when no tracked request is in flight (or after `timeout` ms). */
  idle(timeout: number): Promise<boolean>;
  /**
   * For a stop whose time is up: drains, and ends the proxy's requests still in flight
   * (proxy.abortInFlight(): 503 HEADROOM_DRAINING to those not yet answered) before the caller
   * closes the remaining connections.
   */
  abortInFlight(): Promise<void>;
  /** Closes the parts it created and gives back the shared monitor. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** createHeadroom's own options (an adapter compares a route's options with them, defaults applied). */
export const headroomSpecs = {
  adminToken: adminTokenSpec({ doc: 'Bearer token for the admin API.' }),
  adminRateLimit: num({ doc: 'Admin requests per client per minute.', default: 60, min: 1, max: 100_000, integer: true }),
  metricsToken: adminTokenSpec({ doc: 'Bearer token for the metrics route.' }),
  shedding: bool({ doc: 'Shed app requests while critical.', default: true }),
  shedExempt: list({ doc: 'Path prefixes never shed.', default: [], item: /^\//, itemText: 'paths starting with /', maxItems: 100 }),
  retryAfter: num({ doc: 'Retry-After seconds.', default: 5, min: 0, max: 86_400, integer: true }),
  defaultMetrics: bool({
    doc: "Add Node.js process metrics (prom-client's defaults but its event-loop lag and GC histogram).",
    default: true,
  }),
  // The parts' options, handed on: each part checks their keys and values (named proxy.…, cache.…).
  cache: optionsGroup<CacheOptions>({ doc: 'The two-tier cache.', of: "createCache's" }),
  proxy: optionsGroup<NonNullable<HeadroomOptions['proxy']>>({ doc: 'The streaming proxy.', of: "createProxy's, with upstreamUrl" }),
  image: optionsGroup<NonNullable<HeadroomOptions['image']>>({ doc: 'The image route.', of: "createImageService's, with allowedOrigins" }),
  limits: optionsGroup<NonNullable<HeadroomOptions['limits']>>({ doc: 'Upstream concurrency.', of: "createAdmission's" }),
  dashboard: optionsGroup<NonNullable<HeadroomOptions['dashboard']>>({ doc: 'The live dashboard.', of: "createDashboard's" }),
  registry: optionalObject<Registry>({
    doc: "A prom-client registry for headroom's metrics.",
    what: 'a prom-client Registry',
    methods: ['registerMetric', 'getSingleMetric', 'metrics'],
  }),
  logger: optionalObject<Logger>({ doc: 'Where the parts log.', what: 'a logger such as pino', methods: ['info', 'warn', 'error'] }),
};

/**
 * createHeadroom's options beside its specs: `monitor` (options, handed on, or a monitor of the
 * app's own), and objects the parts check where they use them.
 */
const PART_KEYS = ['monitor'] as const;

/** Every key createHeadroom accepts (an adapter that takes createHeadroom's options and its own checks against these). */
export const HEADROOM_OPTION_KEYS: readonly string[] = [...Object.keys(headroomSpecs), ...PART_KEYS];

const isMonitor = (m: unknown): m is MemoryMonitor =>
  typeof m === 'object' &&
  m !== null &&
  typeof (m as MemoryMonitor).status === 'function' &&
  typeof (m as MemoryMonitor).report === 'function';

/** What createHeadroom supplies to its proxy itself (from the top-level limits and monitor): refused inside `proxy`. */
export const PROXY_SUPPLIED = ['admission', 'monitor', 'limits'] as const;

/**
 * Refuses `keys` inside `part` (createHeadroom's `proxy` or `image`): createHeadroom supplies them
 * (one admission shared by the proxy and image fetches, from the top-level `limits`; the shared
 * monitor; the cache from `cache`), so a value there would be silently ignored.
 */
function refuseSupplied(part: object | undefined, name: string, keys: readonly string[], options: HeadroomOptions): void {
  const given = keys.filter((k) => part !== undefined && (part as Record<string, unknown>)[k] !== undefined);
  if (given.length === 0) return;
  const at = optionsPlace('createHeadroom', options);
  const where: Record<string, string> = {
    admission: 'the proxy and image fetches share one admission, made from the top-level limits',
    limits: 'pass limits at the top level (shared by the proxy and image fetches)',
    monitor: "the process's shared monitor is used (the top-level monitor sets it)",
    cache: 'the image route uses the cache of the top-level cache option',
  };
  throw new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `${at.factory}: ${given.map((k) => `${at.prefix}${name}.${k}`).join(' and ')} ${given.length > 1 ? 'are' : 'is'} not taken there: ${given.map((k) => where[k]).join('; ')}`,
  );
}

/**
 * createHeadroom's own options checked and resolved, creating nothing (the parts' nested options
 * are checked by each part as it is made): also for adapters that check options when a module loads.
 */
export function resolveHeadroomOptions(options: HeadroomOptions) {
  const o = resolveOptions('createHeadroom', headroomSpecs, options, PART_KEYS);
  // What createHeadroom supplies to its parts itself: given inside them, it would be ignored.
  refuseSupplied(o.proxy, 'proxy', PROXY_SUPPLIED, options);
  refuseSupplied(o.image, 'image', ['admission', 'monitor', 'cache'], options);
  return o;
}

export function createHeadroom(options: HeadroomOptions = {}): Headroom {
  const o = resolveHeadroomOptions(options);
  // The parts check the objects handed on, naming each option by its path here (proxy.upstreamUrl).
  const nested = <T extends object>(value: T | undefined, key: string): T => nestedOptions(value, 'createHeadroom', options, key);
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    let monitor: MemoryMonitor;
    if (isMonitor(o.monitor)) monitor = o.monitor;
    else {
      const shared = acquireSharedMonitor(nested({ logger: o.logger, ...nested(o.monitor, 'monitor') }, 'monitor'));
      monitor = shared.monitor;
      closers.push(() => shared.release());
    }
    let cache: Cache | undefined;
    if (o.cache || o.image) {
      cache = createCache(nested({ ...o.cache, monitor, logger: o.logger }, 'cache'));
      closers.push(() => cache!.close());
    }
    let admission: HeadroomAdmission | undefined;
    // Checked even when nothing uses them yet, so a bad value fails where it is written, not once a proxy is added.
    if (o.limits && !(o.proxy || o.image)) resolveAdmissionOptions(nested(o.limits, 'limits'));
    if (o.proxy || o.image) {
      admission = createAdmission(nested({ ...o.limits, monitor }, 'limits'));
      closers.push(() => admission!.close());
    }
    let proxy: Proxy | undefined;
    if (o.proxy) {
      const { cache: cacheResponses = true, ...proxyOptions } = o.proxy;
      proxy = createProxy(
        nested({ logger: o.logger, ...proxyOptions, admission, monitor, cache: cacheResponses ? o.cache && cache : undefined }, 'proxy'),
      );
      closers.push(() => proxy!.close());
    }
    let image: ImageService | undefined;
    if (o.image) {
      image = createImageService(nested({ logger: o.logger, ...o.image, cache: cache!, monitor, admission }, 'image'));
      closers.push(() => image!.close());
    }

    const inFlight = createInFlight();
    closers.push(async () => inFlight.close());
    let shedCount = 0;
    let draining = false;
    let unready = false;
    const requests = (): AppRequestStats => ({ inFlight: inFlight.value(), shed: shedCount });
    const dashboard = createDashboard(nested({ logger: o.logger, ...o.dashboard, monitor, cache, proxy, image }, 'dashboard'));
    closers.push(() => dashboard.close());
    const metricParts = { monitor, cache, proxy, image, dashboard, requests };
    let registry: Registry;
    if (o.registry) {
      // The app's registry outlives this headroom: take its metrics out again on close.
      const at = optionsPlace('createHeadroom', options);
      const remove = addMetrics(metricParts, o.registry, o.defaultMetrics, `${at.factory}: ${at.prefix}registry`);
      closers.push(async () => remove());
      registry = o.registry;
    } else registry = createMetricsRegistry(metricParts, undefined, o.defaultMetrics);
    const responder = createHealthResponder(monitor, () => draining || unready);
    const metricsTokenMatches = o.metricsToken === undefined ? undefined : bearerMatcher(o.metricsToken);
    const adminApi = createAdminApi({
      token: o.adminToken,
      rateLimit: o.adminRateLimit,
      // Names what the user called: createHeadroom, or the adapter that handed its options on.
      howToEnable: `pass adminToken (16+ random characters) to ${optionsPlace('createHeadroom() from headroom-memory/toolkit', options).factory}`,
      monitor,
      cache,
      proxy,
      image,
      dashboard,
    });
    const retry = { 'retry-after': String(o.retryAfter) };
    const pressure = errorResponse(
      new HeadroomError('HEADROOM_MEMORY_PRESSURE', 'memory is critical: this instance sheds requests until it recovers', {
        headers: retry,
      }),
    );
    const drainingResponse = errorResponse(
      new HeadroomError('HEADROOM_DRAINING', 'this instance is shutting down; retry on another one', {
        headers: { ...retry, connection: 'close' },
      }),
    );

    // On every request's path: a plain loop over prefixes prepared once (no closure, nothing when there are none).
    const exemptExact = o.shedExempt.map((p) => (p.endsWith('/') ? undefined : p));
    const exemptPrefix = o.shedExempt.map((p) => (p.endsWith('/') ? p : `${p}/`));
    const lowerExact = exemptExact.map((p) => p?.toLowerCase());
    const lowerPrefix = exemptPrefix.map((p) => p.toLowerCase());
    const exempt = (path: string, ignoreCase = false): boolean => {
      const [exact, prefix, p] = ignoreCase ? [lowerExact, lowerPrefix, path.toLowerCase()] : [exemptExact, exemptPrefix, path];
      for (let i = 0; i < prefix.length; i++) if (p === exact[i] || p.startsWith(prefix[i]!)) return true;
      return false;
    };

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        draining = true;
        await closeAll();
      })());

    const drain = (): void => {
      draining = true;
      proxy?.drain();
      dashboard.endViewers();
    };

    return {
      monitor,
      registry,
      cache,
      proxy,
      image,
      shed(path, ignoreCase) {
        // The common case (healthy, not draining) decides before looking at the exempt paths.
        const refusal = draining ? drainingResponse : o.shedding && monitor.status() === 'critical' ? pressure : undefined;
        if (refusal === undefined || (path !== undefined && exempt(path, ignoreCase))) return undefined;
        shedCount++;
        return refusal;
      },
      wouldShed(path, ignoreCase) {
        const refusing = draining || (o.shedding && monitor.status() === 'critical');
        return refusing && (path === undefined || !exempt(path, ignoreCase));
      },
      health: () => responder.health(),
      live: () => responder.live(),
      ready: () => responder.ready(),
      metrics: async (authorization) =>
        metricsTokenMatches && !metricsTokenMatches(authorization)
          ? errorResponse(unauthorized('metrics', authorization))
          : scrape(registry),
      admin: (request) => adminApi.handle(request),
      // The counter's own functions (none uses `this`): no extra call on the request path.
      track: inFlight.track,
      trackResponse: inFlight.trackResponse,
      countRequest: inFlight.count,
      countServer: inFlight.countServer,
      uncount: inFlight.uncount,
      leaveOut: inFlight.leaveOut,
      requests,
      unready() {
        unready = true;
      },
      drain,
      isDraining: () => draining,
      idle: inFlight.idle,
      async abortInFlight() {
        drain();
        await proxy?.abortInFlight();
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    void closeAll();
    throw err;
  }
}
