// Creates every part from the validated Config, wires them into the Fastify app, and owns the
// lifecycle: listen, drain on shutdown, close parts in reverse order.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import PromRegistry from 'prom-client/lib/registry.js';
import type { Config } from '../config/schema.js';
import { HeadroomError } from '../errors.js';
import { collectUnderPressure, fullGc } from '../proxy/gc-assist.js';
import { createMemoryMonitor } from '../monitor/index.js';
import type { MemoryMonitor } from '../monitor/types.js';
import { createCache } from '../cache/index.js';
import type { BusFaults } from '../cache/bus-stats.js';
import { cacheLibraryOptions } from '../config/sections/cache.js';
import { DEFAULT_L1_BYTES } from '../cache/options.js';
import { formatBytes } from '../options/spec.js';
import type { Cache } from '../cache/types.js';
import { createAdmission } from '../admission/index.js';
// The proxy's own module: the package entry (proxy/index.js) also loads the toolkit's upstream client.
import { createProxy } from '../proxy/proxy.js';
// The image pipeline loads with the first image request (lazy.ts).
import { createLazyImageService } from '../image/lazy.js';
import { DEFAULT_IMAGE_MEMORY_BUDGET } from '../image/options.js';
import type { DemoOrigin } from '../demo/origin.js';
import { buildApp, type RouteRegistrar } from './app.js';
import { createGatewayLogger } from './logger.js';
import { reportShipping } from './ship-report.js';
import type { LogShipper } from '../log/types.js';
import { registerLogOutputMetrics, registerLogShipMetrics } from '../metrics/log.js';
import { registerDashboardMetrics } from '../metrics/dashboard.js';
import { registerRequestAccountingMetrics } from '../metrics/accounting.js';
import type { RequestAccounting } from '../log/accounting.js';
import { accountProxy, gatewayAccounting } from './accounting.js';
import { registerMonitorMetrics } from '../metrics/monitor.js';
import { registerProcessMetrics } from '../metrics/process.js';
import { registerCacheMetrics } from '../metrics/cache.js';
import { cacheAdminRoutes } from './routes/cache.js';
import { registerProxyMetrics } from '../metrics/proxy.js';
import { proxyAdminRoutes, proxyRoutes } from './routes/proxy.js';
import { registerImageMetrics } from '../metrics/image.js';
import { imageAdminRoutes, imageRoutes } from './routes/image.js';
import { createAccessLog } from '../observe/access-log.js';
import { observeProxy } from '../observe/observe-proxy.js';
import { createRequestObserver } from '../observe/request-observer.js';
import { RequestMetrics } from '../observe/request-metrics.js';
import { startupSummary } from '../observe/startup-summary.js';
import { cgroupMemoryLimit } from '../monitor/cgroup.js';
import { dirProblem } from '../options/user-files.js';
import { alerterOptions } from '../config/sections/alerts.js';
import { createDashboard } from '../observe/dashboard/index.js';
import { dashboardAdminRoutes, dashboardRoutes } from './routes/dashboard.js';
import { clientOfTrust } from './client.js';

/** What each part contributes to the gateway. */
interface PartModule {
  name: string;
  routes?: RouteRegistrar;
  admin?: RouteRegistrar;
  metrics?: (registry: Registry) => void;
  close(): Promise<void>;
}

/** A plugin with its options, registered later in its own encapsulated scope. */
function mount<O extends object>(plugin: (app: FastifyInstance, options: O) => Promise<void>, options: O): RouteRegistrar {
  return async (app) => {
    await app.register(plugin, options);
  };
}

export interface Gateway {
  app: FastifyInstance;
  config: Config;
  monitor: MemoryMonitor;
  cache: Cache;
  logger: Logger;
  /** The upstream in use (UPSTREAM_URL or the demo origin). */
  upstreamUrl: string;
  demoOrigin: DemoOrigin | undefined;
  /** Starts listening; resolves with the base URL. */
  listen(): Promise<string>;
  isDraining(): boolean;
  /** Graceful stop: readiness 503, drain in-flight requests up to SHUTDOWN_TIMEOUT, close all parts. */
  shutdown(): Promise<void>;
  /** Same as shutdown(); idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /**
   * The log shipper `logger` writes to (createGatewayLogger): the gateway registers its metrics
   * and closes it after its own last log line. Without `logger`, the gateway makes both itself.
   */
  logShipper?: LogShipper;
  /** Where `logger` writes (headroom serve's stdout): the lines it dropped become a metric. */
  logOutput?: { dropped(): { lines: number } };
  /** Named in the start-up summary line. */
  version?: string;
  /** Tests and benchmarks only: loses incoming cache bus messages on purpose (createCache's busFaults). */
  busFaults?: BusFaults;
}

export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const own = options.logger ? undefined : await createGatewayLogger(config);
  const logger = options.logger ?? own!.logger;
  const logShipper = options.logShipper ?? own?.shipper;
  const parts: PartModule[] = [];
  let shipReport: ReturnType<typeof reportShipping> | undefined;
  let draining = false;

  try {
    let demoOrigin: DemoOrigin | undefined;
    let upstreamUrl = config.proxy.upstreamUrl;
    if (!upstreamUrl) {
      if (!config.server.demo) throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'UPSTREAM_URL is not set and HEADROOM_DEMO is off');
      // Imported here: the demo origin draws its images with sharp, which a gateway in front of a
      // real upstream loads only when an image is first transformed.
      const { startDemoOrigin } = await import('../demo/origin.js');
      demoOrigin = await startDemoOrigin();
      upstreamUrl = demoOrigin.url;
      parts.push({ name: 'demo', close: () => demoOrigin!.close() });
      logger.info(
        { demoOrigin: upstreamUrl },
        `no UPSTREAM_URL set: serving the built-in demo origin at ${upstreamUrl} (set UPSTREAM_URL to proxy your own API)`,
      );
    }

    // Access log and request metrics of every request, proxied or routed by Fastify.
    const requestMetrics = new RequestMetrics();
    // Who a request comes from, as Fastify's request.ip (TRUST_PROXY): access lines, per-client limits.
    const clientOf = clientOfTrust(config.server.trustProxy);
    const observer = createRequestObserver(
      createAccessLog({
        // Without the secret redaction paths: its 17 wildcards cost ~130 µs a line (pino's redaction
        // walks every wildcard), and an access line holds only fixed fields with query values cut.
        logger: logger.child({}, { redact: { paths: [] } }),
        enabled: config.server.accessLog,
        query: config.server.accessLogQuery,
        probes: config.server.accessLogProbes,
      }),
      requestMetrics,
      clientOf,
    );

    // Heap snapshots are written there on demand (the admin API) or when memory turns critical: a
    // directory that cannot take them is said now, not at the worst moment.
    if (config.server.adminToken !== undefined || config.monitor.snapshotOnCritical) {
      const problem = dirProblem(config.monitor.snapshotDir, 0o700, { keep: false });
      if (problem !== undefined)
        throw new HeadroomError(
          'HEADROOM_CONFIG_INVALID',
          `HEAP_SNAPSHOT_DIR=${config.monitor.snapshotDir}: ${problem} (heap snapshots are written there${config.monitor.snapshotOnCritical ? ' when memory turns critical and' : ''} on POST /admin/heap-snapshot)`,
        );
    }
    const monitor = createMemoryMonitor({ ...config.monitor, logger: logger.child({ part: 'monitor' }) });
    parts.push({ name: 'monitor', close: () => monitor.close(), metrics: (r) => registerMonitorMetrics(r, monitor) });

    const cache: Cache = createCache({
      ...cacheLibraryOptions(config.cache),
      monitor,
      logger: logger.child({ part: 'cache' }),
      busFaults: options.busFaults,
    });
    const l1Bytes = cache.stats().l1.maxBytes;
    const memoryLimit = monitor.current().rssLimit;
    const sizedFromLimit = (
      env: string,
      given: number | undefined,
      bytes: number,
      fallback: number,
      field: string,
      holds: string,
    ): void => {
      if (given !== undefined || memoryLimit === null || bytes >= fallback) return;
      logger.info(
        { [field]: bytes, memoryLimit },
        `${env} not set: ${holds} up to ${formatBytes(bytes)}, sized from the ${formatBytes(memoryLimit)} memory limit (set ${env} to choose)`,
      );
    };
    sizedFromLimit('CACHE_MAX_BYTES', config.cache.maxBytes, l1Bytes, DEFAULT_L1_BYTES, 'l1MaxBytes', 'the in-process cache holds');
    parts.push({
      name: 'cache',
      close: () => cache.close(),
      admin: mount(cacheAdminRoutes, { cache }),
      metrics: (r) => registerCacheMetrics(r, cache),
    });
    // What the cache and the proxy drop under pressure is freed by a full GC started right then, and
    // every 2 s until memory is healthy again.
    const collect = fullGc(config.proxy.gcAssist);
    if (collect) {
      const stop = collectUnderPressure(monitor, collect);
      parts.push({ name: 'gc-under-pressure', close: async () => stop() });
    }

    // One admission controller for proxy and image fetches: MAX_CONCURRENT_CONNECTIONS is a
    // limit on upstream requests, whoever makes them.
    const admission = createAdmission({
      maxConcurrent: config.proxy.maxConcurrent,
      maxPerClient: config.proxy.maxPerClient,
      queueSize: config.proxy.queueSize,
      queueTimeout: config.proxy.queueTimeout,
      memoryThresholdPercent: config.proxy.memoryThresholdPercent,
      monitor,
    });
    parts.push({ name: 'admission', close: () => admission.close() });

    const proxy = createProxy({
      upstreamUrl,
      upstreamToken: config.proxy.upstreamToken,
      prefix: config.proxy.prefix,
      stripPrefix: config.proxy.stripPrefix,
      rewriteLocation: config.proxy.rewriteLocation,
      enabled: config.proxy.enabled,
      admission,
      streamTimeout: config.proxy.streamTimeout,
      clientTimeout: config.proxy.clientTimeout,
      clientReadTimeout: config.proxy.clientReadTimeout,
      clientMinRate: config.proxy.clientMinRate,
      cache: config.proxy.cacheEnabled ? cache : undefined,
      maxBufferSize: config.proxy.maxBufferSize,
      cacheAuthorized: config.proxy.cacheAuthorized,
      monitor,
      trustForwarded: config.proxy.trustForwarded,
      dropHeaders: config.proxy.dropHeaders,
      clientOf,
      gcAssistBytes: config.proxy.gcAssist,
      closeTimeout: config.server.shutdownTimeout,
      logger: logger.child({ part: 'proxy' }),
    });
    // REQUEST_ACCOUNTING: a ledger per request (off: none is opened, and the parts charge nothing).
    let accounting: RequestAccounting | undefined;
    if (config.server.requestAccounting) {
      const a = (accounting = gatewayAccounting(config.server.requestAccountingWarnBytes, logger.child({ part: 'accounting' })));
      parts.push({ name: 'accounting', close: () => a.close(), metrics: (r) => registerRequestAccountingMetrics(r, a) });
    }
    const observed = observeProxy(proxy, observer);
    parts.push({
      name: 'proxy',
      close: () => proxy.close(),
      routes: mount(proxyRoutes, { proxy: accounting ? accountProxy(observed, accounting) : observed }),
      admin: mount(proxyAdminRoutes, { proxy }),
      metrics: (r) => registerProxyMetrics(r, proxy),
    });

    // In demo mode the demo origin (on loopback) is the one private origin images may come from.
    const demoImageOrigins = demoOrigin ? [demoOrigin.url] : [];
    const imageOrigins = [...config.image.allowedOrigins, ...demoImageOrigins];
    const image = createLazyImageService({
      ...config.image,
      allowedOrigins: imageOrigins,
      allowPrivateOrigins: [...config.image.allowPrivateOrigins, ...demoImageOrigins],
      clientReadTimeout: config.proxy.clientReadTimeout,
      cache,
      monitor,
      admission,
      logger: logger.child({ part: 'image' }),
    });
    sizedFromLimit(
      'IMAGE_MEMORY_BUDGET',
      config.image.memoryBudget,
      image.stats().queue.memoryBudget,
      DEFAULT_IMAGE_MEMORY_BUDGET,
      'imageMemoryBudget',
      'image transforms reserve',
    );
    parts.push({
      name: 'image',
      close: () => image.close(),
      routes: mount(imageRoutes, { image }),
      admin: mount(imageAdminRoutes, { image }),
      metrics: (r) => registerImageMetrics(r, image),
    });

    // With ALERT_WEBHOOK_URL: alerts on the monitor, L2 and shedding; closed (after the server) with the parts.
    const alertOptions = alerterOptions(config.alerts);
    if (alertOptions) {
      // Loaded only when configured (an idle gateway without webhooks does not carry the modules).
      const [{ createAlerter, l2AvailableFrom, shedCountFrom }, { registerAlertMetrics }] = await Promise.all([
        import('../observe/alerts/index.js'),
        import('../metrics/alerts.js'),
      ]);
      const alerter = createAlerter({
        ...alertOptions,
        monitor,
        logger: logger.child({ part: 'alerts' }),
        l2Available: l2AvailableFrom(cache),
        shedCount: shedCountFrom(admission),
      });
      parts.push({ name: 'alerts', close: () => alerter.close(), metrics: (r) => registerAlertMetrics(r, alerter) });
    }
    // The page at /dashboard finds the admin API at /admin/ (relative to it).
    const dashboard = createDashboard({
      ...config.dashboard,
      monitor,
      cache,
      proxy,
      image,
      apiBase: 'admin/',
      logger: logger.child({ part: 'dashboard' }),
    });
    const dashboardMounts = { routes: mount(dashboardRoutes, { dashboard }), admin: mount(dashboardAdminRoutes, { dashboard }) };
    parts.push({
      name: 'dashboard',
      close: () => dashboard.close(),
      metrics: (r) => registerDashboardMetrics(r, dashboard),
      ...dashboardMounts,
    });

    const registry: Registry = new PromRegistry();
    registerProcessMetrics(registry);
    for (const p of parts) p.metrics?.(registry);
    if (logShipper) registerLogShipMetrics(registry, logShipper);
    if (options.logOutput) registerLogOutputMetrics(registry, options.logOutput);
    shipReport = logShipper && reportShipping(logShipper, logger);
    requestMetrics.register(registry);

    const app = await buildApp({
      config,
      logger,
      monitor,
      cache,
      registry,
      isDraining: () => draining,
      routes: parts.flatMap((p) => (p.routes ? [p.routes] : [])),
      adminRoutes: parts.flatMap((p) => (p.admin ? [p.admin] : [])),
      observer,
      accounting,
    });

    let closing: Promise<void> | undefined;
    // A gateway that never listened (its port was taken) has nothing to drain and no load balancer
    // to wait for (SHUTDOWN_DELAY): its close says neither "draining" nor "shutdown complete".
    let listened = false;
    const shutdown = (): Promise<void> =>
      (closing ??= (async () => {
        draining = true;
        if (listened) logger.info({ timeoutMs: config.server.shutdownTimeout }, 'shutting down: draining in-flight requests');
        if (listened && config.server.shutdownDelay > 0) await new Promise((resolve) => setTimeout(resolve, config.server.shutdownDelay));
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), config.server.shutdownTimeout);
          timer.unref();
        });
        const result = await Promise.race([app.close().then(() => 'drained' as const), timedOut]);
        clearTimeout(timer);
        if (result === 'timeout') {
          logger.warn('drain timeout reached: closing remaining connections');
          // Proxied requests still waiting for the upstream get 503 HEADROOM_DRAINING first (the
          // client may retry elsewhere), rather than a connection closed without an answer.
          await proxy.abortInFlight();
          app.server.closeAllConnections();
          await app.close();
        }
        await closeParts(parts, logger);
        if (listened) logger.info('shutdown complete');
        shipReport?.stop();
        await logShipper?.close(); // after the last line, so that it is shipped too
        shipReport?.final(); // to stdout only now
      })());

    return {
      app,
      config,
      monitor,
      cache,
      logger,
      upstreamUrl,
      demoOrigin,
      listen: async () => {
        const url = await app.listen({ port: config.server.port, host: config.server.host });
        listened = true;
        const { fields, msg } = startupSummary({
          url,
          upstream: upstreamUrl,
          l2: cache.stats().l2?.kind ?? 'none',
          admin: config.server.adminToken !== undefined,
          metricsToken: config.server.metricsToken !== undefined,
          imageOrigins,
          heapLimit: monitor.current().v8.heapSizeLimit,
          containerLimit: cgroupMemoryLimit(),
          version: options.version,
        });
        logger.info(fields, msg);
        return url;
      },
      isDraining: () => draining,
      shutdown,
      close: shutdown,
      [Symbol.asyncDispose]: shutdown,
    };
  } catch (err) {
    shipReport?.stop();
    await closeParts(parts, logger);
    await logShipper?.close();
    throw err;
  }
}

async function closeParts(parts: PartModule[], logger: Logger): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.close();
    } catch (err) {
      logger.error({ err, part: part.name }, 'error while closing part');
    }
  }
}
