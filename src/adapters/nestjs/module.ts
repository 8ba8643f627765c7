// HeadroomModule.forRoot(options) / forRootAsync({ imports, inject, useFactory }): a global module
// providing HeadroomService and HeadroomHealthIndicator. When the app has an HTTP platform
// (Express or Fastify) it also
// - puts headroom's early middleware in front of the platform (early.ts): health, metrics, admin,
//   shedding, in-flight counting, and proxied bodies kept away from body parsers (on Express
//   without capture or accounting: in front of the HTTP server's request listener, once it exists);
// - adds the proxy (ANY <proxy prefix>/*) and image (GET /image) routes as controllers, behind the
//   app's own middleware and guards;
// - once Nest has registered the routes, learns the proxy's full mount (global prefix included) and
//   stops start-up when an app route lies under it (mount.ts);
// - with `capture` / `accounting`, taps and charges every app request from that early middleware and
//   registers the memory interceptor as an APP_INTERCEPTOR (request-parts.ts).
// The class is never decorated: a dynamic module carries all of its metadata.
import type { Server } from 'node:http';
import type { DynamicModule, FactoryProvider, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { APP_INTERCEPTOR, ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { HeadroomError } from '../../errors.js';
import { nestedOptions, pathOrOff, resolveOne, resolveOptions } from '../../options/spec.js';
import { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
import { continueOnReadUnlessOwn } from '../../toolkit/continue.js';
import { standInFront } from '../../toolkit/in-front.js';
import { shutdownSpecs } from '../../toolkit/shutdown.js';
import { appClient, nodeRouteSpecs, routesIgnoreCase, type NodeRoutePaths } from '../../toolkit/node-middleware.js';
import { refuseOverlappingPaths } from '../../toolkit/paths.js';
import { proxySpecs } from '../../proxy/options.js';
import { routesShadowed } from '../../toolkit/shadowed-routes.js';
import { imageController, proxyController, type ProxyControllerType } from './controllers.js';
import {
  createEarlyGate,
  createEarlyMiddleware,
  fastifyClient,
  gateOtherServers,
  installGateOnFastify,
  installOnFastify,
  type EarlyOptions,
  type FastifyAdapterLike,
} from './early.js';
import { HeadroomHealthIndicator } from './health-indicator.js';
import {
  findProxyMount,
  handlerRoutesUnderError,
  keepBodies,
  newWiring,
  placeHandlerMount,
  routeRecorder,
  routesShadowedError,
  routesUnder,
  routesUnderMountError,
  wire,
  type ProxyWiring,
} from './mount.js';
import { createRequestParts, type AccountingOption, type CaptureOption, type RequestParts } from './request-parts.js';
import { HeadroomService } from './service.js';

/** Injection token of the toolkit object (`Headroom`); HeadroomService carries it too. */
export const HEADROOM = Symbol.for('headroom-memory.nestjs.headroom');
const OPTIONS = Symbol.for('headroom-memory.nestjs.options');
const MOUNT_CHECK = Symbol.for('headroom-memory.nestjs.mount-check');
const FRONT = Symbol.for('headroom-memory.nestjs.front');
const REQUEST_PARTS = Symbol.for('headroom-memory.nestjs.request-parts');

/** Where headroom answers. Paths start with '/'; false turns a route off. */
export interface HeadroomRoutes {
  /** GET <health>, <health>/live, <health>/ready (default '/health'). */
  health?: string | false;
  /** GET <metrics>, Prometheus text (default '/metrics'). */
  metrics?: string | false;
  /** ANY <admin>/* (default '/admin'; off without adminToken: 403). */
  admin?: string | false;
  /** The proxy's controller mount (forRoot: the proxy's prefix when `proxy` is set; forRootAsync: off unless given). */
  proxy?: string | false;
  /** The image route (forRoot: '/image' when `image` is set; forRootAsync: off unless given). */
  image?: string | false;
}

export interface HeadroomModuleOptions extends HeadroomOptions {
  /** Longest wait for in-flight requests when the app shuts down, ms or a duration such as '10s' (default 10 000). */
  drainTimeout?: number | string;
  /**
   * Capped request/response body capture for every app request (not health, metrics or admin):
   * true logs to `logger` with the defaults (8 KiB a body), or createBodyCapture's options.
   */
  capture?: CaptureOption;
  /**
   * Request memory accounting for every app request, its metrics and the memory interceptor (heavy
   * requests warn on `logger`): true, or createRequestAccounting's options plus `onReport`.
   */
  accounting?: AccountingOption;
}

export interface HeadroomModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => HeadroomModuleOptions | Promise<HeadroomModuleOptions>;
  inject?: FactoryProvider['inject'];
  /** Routes are declared here, not by the factory: Nest needs the controllers before it runs. */
  routes?: HeadroomRoutes;
  /**
   * Register HeadroomMemoryInterceptor for the factory's `accounting` (default false; forRoot does
   * it whenever `accounting` is set). Declared here for the same reason as `routes`.
   */
  memoryInterceptor?: boolean;
  /** Register the module globally (default true). */
  global?: boolean;
}

interface ResolvedRoutes {
  health: string | false;
  metrics: string | false;
  admin: string | false;
  proxy: string | false;
  image: string | false;
}

const routeSpecs = (proxy: string | false, image: string | false) => ({
  ...nodeRouteSpecs,
  proxy: pathOrOff({ doc: "The proxy controller's mount; false = none.", default: proxy, example: '/api' }),
  image: pathOrOff({ doc: 'The image route; false = none.', default: image, example: '/image' }),
});

function resolveRoutes(routes: HeadroomRoutes, proxy: string | false, image: string | false): ResolvedRoutes {
  const resolved = resolveOptions('HeadroomModule: routes', routeSpecs(proxy, image), routes);
  refuseOverlappingPaths('HeadroomModule: routes', resolved);
  return resolved;
}

/**
 * Once Nest has registered every route (onModuleInit runs after the router): an app route that
 * headroom's health, metrics or admin path answers in its place stops start-up; the proxy
 * controller's full mount (global prefix, versioning) goes to the early middleware and the
 * controller, and an app route under it stops start-up (its body would be kept from the parser).
 */
function mountCheck(routes: ResolvedRoutes, wiring: ProxyWiring): Provider {
  return {
    provide: MOUNT_CHECK,
    inject: [HeadroomService, ApplicationConfig, HttpAdapterHost],
    useFactory: (_service: HeadroomService, config: ApplicationConfig, host: HttpAdapterHost | undefined) => {
      const adapter = host?.httpAdapter;
      const list = adapter ? routeRecorder(adapter) : undefined;
      return {
        onModuleInit(): void {
          if (!list || !adapter) return;
          const registered = list();
          const caseInsensitive = routesAnyCase(adapter);
          const shadowed = routesShadowed(registered, earlyPaths(routes), caseInsensitive);
          if (shadowed.length > 0) throw routesShadowedError(shadowed);
          if (routes.proxy) {
            const platform = adapter.getType();
            const mount = findProxyMount(registered, routes.proxy, config.getGlobalPrefix(), platform);
            if (mount === undefined) {
              throw new HeadroomError(
                'HEADROOM_CONFIG_INVALID',
                `HeadroomModule: the proxy controller (routes.proxy=${routes.proxy}) is not among the routes Nest registered, so headroom cannot tell which request bodies to keep for it`,
              );
            }
            const conflicts = routesUnder(registered, mount, platform, caseInsensitive);
            if (conflicts.length > 0) throw routesUnderMountError(conflicts, mount);
            wire(wiring, mount, caseInsensitive);
          }
          // The app's own proxy routes (proxyHandler({ mount })): their bodies are kept from the
          // parser as the proxy controller's are. One made after start-up is placed when made.
          const place = (given: string): void => {
            const { paths, conflicts } = placeHandlerMount(registered, given, config.getGlobalPrefix(), caseInsensitive);
            if (conflicts.length > 0) throw handlerRoutesUnderError(conflicts, given, paths.join(' and '));
            keepBodies(wiring, paths, caseInsensitive);
          };
          for (const given of wiring.handlerMounts) place(given);
          wiring.place = place;
        },
      };
    },
  };
}

/**
 * On platform-express without capture or accounting: the early gate in front of the HTTP server's
 * request listener (the Express app), so that the app's requests skip an Express layer and
 * headroom's answers never reach Express. Nest makes the server after the providers and before
 * app.init() runs onModuleInit. Requests that reach the Express app from elsewhere (servers of the
 * app's own, serverless adapters; or all, should Nest have made no server) pass the same gate in
 * the app's handle, still before Nest's body parser (gateOtherServers).
 */
function front(routes: ResolvedRoutes, wiring: ProxyWiring): Provider {
  return {
    provide: FRONT,
    inject: [HEADROOM, REQUEST_PARTS, HttpAdapterHost],
    useFactory: (headroom: Headroom, requestParts: RequestParts, host: HttpAdapterHost | undefined) => {
      const undo: (() => void)[] = [];
      return {
        onModuleInit(): void {
          const adapter = host?.httpAdapter;
          if (!adapter || !gateInFront(adapter, requestParts)) return;
          const instance: unknown = adapter.getInstance();
          // The admin rate limit's client as req.ip would be: Express's `trust proxy`, applied by appClient.
          const early = { routes: earlyPaths(routes), wiring, client: appClient(instance), ignoreCase: () => routesIgnoreCase(instance) };
          const server = adapter.getHttpServer() as Server | undefined;
          const gated = server && typeof server.listeners === 'function' ? server : undefined;
          if (gated) undo.push(standInFront(gated, createEarlyGate(headroom, { ...early, server: gated })));
          // Counted per request: not every request of those servers need come this way.
          const others = gateOtherServers(instance, gated, createEarlyGate(headroom, early));
          if (others) undo.push(others);
          else if (!gated) adapter.use(createEarlyMiddleware(headroom, early)); // after the body parser: the best left
        },
        // The server (closed by now) gets its own listeners back, and Node's 100 Continue; the app its handle.
        onApplicationShutdown(): void {
          for (const u of undo.splice(0)) u();
        },
      };
    },
  };
}

/** The HTTP adapters (one per app) a HeadroomModule is wired into. */
const claimed = new WeakSet<object>();

/**
 * One HeadroomModule per app: a second forRoot (a feature module importing it again) would make a
 * second Headroom with a gate of its own, and a readiness probe answered by one while the other
 * drains. The module is global: feature modules inject HeadroomService without importing it.
 */
function claimApp(adapter: object | undefined): void {
  if (!adapter) return;
  if (claimed.has(adapter))
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      'HeadroomModule is imported twice in this app (forRoot or forRootAsync in two modules): import it once, in the root module; it is global by default, so feature modules inject HeadroomService without importing it',
    );
  claimed.add(adapter);
}

/** The module's drainTimeout (the graceful stop's `timeout` rule), ms; HEADROOM_CONFIG_INVALID naming it when bad. */
const drainTimeoutOf = (options: HeadroomModuleOptions): number =>
  resolveOne('HeadroomModule', 'drainTimeout', shutdownSpecs.timeout, options.drainTimeout);

/** Whether the early gate goes in front of the HTTP server (front()) rather than into the platform as the service is made. */
const gateInFront = (adapter: { getType(): string }, requestParts: RequestParts): boolean =>
  adapter.getType() !== 'fastify' && !requestParts.middleware;

const earlyPaths = (routes: ResolvedRoutes): Required<NodeRoutePaths> => ({
  health: routes.health,
  metrics: routes.metrics,
  admin: routes.admin,
});

/**
 * Whether the platform routes paths in any case (/API/x reaches a route at /api): Express unless
 * 'case sensitive routing' is on, Fastify only with `caseSensitive: false` (routesIgnoreCase).
 */
const routesAnyCase = (adapter: { getInstance(): unknown } | undefined): boolean =>
  adapter !== undefined && routesIgnoreCase(adapter.getInstance());

function serviceProvider(
  routes: ResolvedRoutes,
  proxyRoute: ProxyControllerType | undefined,
  wiring: ProxyWiring,
  memoryInterceptor: boolean,
): Provider[] {
  return [
    {
      provide: REQUEST_PARTS,
      inject: [OPTIONS],
      useFactory: (options: HeadroomModuleOptions): RequestParts => {
        const requestParts = createRequestParts(options, options);
        if (memoryInterceptor && !requestParts.interceptor)
          throw new HeadroomError(
            'HEADROOM_CONFIG_INVALID',
            'HeadroomModule.forRootAsync: memoryInterceptor: true needs the `accounting` option (true or its options) from the factory',
          );
        return requestParts;
      },
    },
    {
      provide: HEADROOM,
      inject: [OPTIONS, REQUEST_PARTS, HttpAdapterHost],
      useFactory: (options: HeadroomModuleOptions, requestParts: RequestParts, host: HttpAdapterHost | undefined): Headroom => {
        drainTimeoutOf(options); // a bad one stops start-up before anything is made
        claimApp(host?.httpAdapter);
        const { drainTimeout: _drain, capture: _capture, accounting: _accounting, ...headroomOptions } = options;
        if (routes.proxy && !options.proxy) {
          throw new HeadroomError('HEADROOM_CONFIG_INVALID', `HeadroomModule: routes.proxy=${routes.proxy} needs the \`proxy\` option`);
        }
        if (routes.image && !options.image) {
          throw new HeadroomError('HEADROOM_CONFIG_INVALID', `HeadroomModule: routes.image=${routes.image} needs the \`image\` option`);
        }
        const headroom = createHeadroom(nestedOptions(headroomOptions, 'HeadroomModule', options, ''));
        requestParts.registerMetrics(headroom.registry);
        return headroom;
      },
    },
    {
      provide: HeadroomService,
      inject: [HEADROOM, OPTIONS, REQUEST_PARTS, HttpAdapterHost, ApplicationConfig],
      useFactory: (
        headroom: Headroom,
        options: HeadroomModuleOptions,
        requestParts: RequestParts,
        host: HttpAdapterHost | undefined,
        config: ApplicationConfig | undefined,
      ): HeadroomService => {
        // Added while Nest creates the providers, before app.init() registers its body parser,
        // the modules' middleware and the routes, so it runs first on both platforms.
        const adapter = host?.httpAdapter;
        const routing = {
          globalPrefix: () => config?.getGlobalPrefix() ?? '',
          caseInsensitive: () => routesAnyCase(adapter),
          keepBodiesUnder: (mount: string) => (wiring.place ? wiring.place(mount) : void wiring.handlerMounts.push(mount)),
        };
        // Read at shutdown: Nest makes the server after the providers (Fastify's on platform-fastify).
        const server = (): unknown => adapter?.getHttpServer();
        const service = (release?: () => void): HeadroomService =>
          new HeadroomService(headroom, true, drainTimeoutOf(options), routing, { ...requestParts, release, server });
        if (adapter) {
          const fastify = adapter.getType() === 'fastify';
          proxyRoute?.forPlatform(adapter.getType());
          // On Express the gate goes in front of the HTTP server (front(), once Nest made it).
          if (gateInFront(adapter, requestParts)) return service();
          const early: EarlyOptions = {
            routes: earlyPaths(routes),
            wiring,
            parts: requestParts.middleware,
            client: fastify ? fastifyClient : undefined,
            ignoreCase: () => routesIgnoreCase(adapter.getInstance()),
            // Every request of Fastify's server passes the hook: counted by connection. (Not Express's
            // middleware, which an app can mount behind routes of its own.)
            server: fastify ? adapter.getHttpServer() : undefined,
          };
          // Fastify's server runs no gate in front of it, so it holds back Node's early 100 Continue here.
          const server = early.server as Server | undefined;
          const release = fastify && typeof server?.listenerCount === 'function' ? continueOnReadUnlessOwn(server) : undefined;
          if (!fastify) adapter.use(createEarlyMiddleware(headroom, early));
          else if (early.parts) installOnFastify(adapter as unknown as FastifyAdapterLike, createEarlyMiddleware(headroom, early));
          else installGateOnFastify(adapter as unknown as FastifyAdapterLike, createEarlyGate(headroom, early));
          return service(release);
        }
        return service();
      },
    },
    front(routes, wiring),
    { provide: HeadroomHealthIndicator, inject: [HeadroomService], useFactory: (s: HeadroomService) => new HeadroomHealthIndicator(s) },
    mountCheck(routes, wiring),
  ];
}

/** The memory interceptor as a global interceptor: only when asked for, so an app without accounting pays nothing per request. */
const interceptorProvider: Provider = {
  provide: APP_INTERCEPTOR,
  inject: [REQUEST_PARTS],
  useFactory: (parts: RequestParts) => parts.interceptor,
};

function parts(routes: ResolvedRoutes, memoryInterceptor: boolean): Pick<DynamicModule, 'providers' | 'controllers'> {
  const wiring = newWiring();
  const proxy = routes.proxy ? proxyController(routes.proxy, wiring) : undefined;
  const controllers: Type[] = [];
  if (proxy) controllers.push(proxy);
  if (routes.image) controllers.push(imageController(routes.image));
  const providers = serviceProvider(routes, proxy, wiring, memoryInterceptor);
  if (memoryInterceptor) providers.push(interceptorProvider);
  return { providers, controllers };
}

const EXPORTS = [HEADROOM, HeadroomService, HeadroomHealthIndicator];

export class HeadroomModule {
  /** `imports: [HeadroomModule.forRoot({ proxy: { upstreamUrl }, adminToken })]` */
  static forRoot(options: HeadroomModuleOptions & { routes?: HeadroomRoutes; global?: boolean } = {}): DynamicModule {
    const { routes: given = {}, global = true, ...rest } = options;
    const routes = resolveRoutes(
      given,
      rest.proxy ? (rest.proxy.prefix ?? proxySpecs.prefix.default) : false,
      rest.image ? '/image' : false,
    );
    const { providers = [], controllers } = parts(routes, rest.accounting !== undefined && rest.accounting !== false);
    return {
      module: HeadroomModule,
      global,
      providers: [{ provide: OPTIONS, useValue: rest }, ...providers],
      controllers,
      exports: EXPORTS,
    };
  }

  /** Options from a factory (e.g. ConfigService); the routes are given here, beside the factory. */
  static forRootAsync(options: HeadroomModuleAsyncOptions): DynamicModule {
    const routes = resolveRoutes(options.routes ?? {}, false, false);
    if (options.memoryInterceptor !== undefined && typeof options.memoryInterceptor !== 'boolean')
      throw new HeadroomError(
        'HEADROOM_CONFIG_INVALID',
        `HeadroomModule.forRootAsync: memoryInterceptor=${String(options.memoryInterceptor)} is not accepted: must be true or false`,
      );
    const { providers = [], controllers } = parts(routes, options.memoryInterceptor === true);
    return {
      module: HeadroomModule,
      global: options.global ?? true,
      imports: options.imports ?? [],
      providers: [
        { provide: OPTIONS, inject: options.inject ?? [], useFactory: options.useFactory as (...args: unknown[]) => unknown },
        ...providers,
      ],
      controllers,
      exports: EXPORTS,
    };
  }
}
