// HeadroomModule.forRoot(options) / forRootAsync({ imports, inject, useFactory }): a global module
// providing HeadroomService and HeadroomHealthIndicator. When the app has an HTTP platform
// (Express or Fastify) it also
// - puts headroom's early middleware in front of the platform (early.ts): health, metrics, admin,
//   shedding, in-flight counting, and proxied bodies kept away from body parsers;
// - adds the proxy (ANY <proxy prefix>/*) and image (GET /image) routes as controllers, behind the
//   app's own middleware and guards.
// The class is never decorated: a dynamic module carries all of its metadata.
import type { DynamicModule, FactoryProvider, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HeadroomError } from '../../errors.js';
import { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
import { imageController, proxyController, type ProxyControllerType } from './controllers.js';
import { createEarlyMiddleware } from './early.js';
import { HeadroomHealthIndicator } from './health-indicator.js';
import { HeadroomService } from './service.js';

/** Injection token of the toolkit object (`Headroom`); HeadroomService carries it too. */
export const HEADROOM = Symbol.for('headroom-memory.nestjs.headroom');
const OPTIONS = Symbol.for('headroom-memory.nestjs.options');

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
  /** Longest wait for in-flight requests when the app shuts down, ms (default 10 000). */
  drainTimeout?: number;
}

export interface HeadroomModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => HeadroomModuleOptions | Promise<HeadroomModuleOptions>;
  inject?: FactoryProvider['inject'];
  /** Routes are declared here, not by the factory: Nest needs the controllers before it runs. */
  routes?: HeadroomRoutes;
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

function checkPath(name: string, value: string | false): string | false {
  if (value === false) return false;
  if (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(value)) {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `HeadroomModule: routes.${name}=${JSON.stringify(value)}: must be a path like /${name} (letters, digits, . _ ~ -; no trailing slash) or false`,
    );
  }
  return value;
}

function resolveRoutes(routes: HeadroomRoutes, proxy: string | false, image: string | false): ResolvedRoutes {
  return {
    health: checkPath('health', routes.health ?? '/health'),
    metrics: checkPath('metrics', routes.metrics ?? '/metrics'),
    admin: checkPath('admin', routes.admin ?? '/admin'),
    proxy: checkPath('proxy', routes.proxy ?? proxy),
    image: checkPath('image', routes.image ?? image),
  };
}

function serviceProvider(routes: ResolvedRoutes, proxyRoute: ProxyControllerType | undefined): Provider[] {
  return [
    {
      provide: HEADROOM,
      inject: [OPTIONS],
      useFactory: (options: HeadroomModuleOptions): Headroom => {
        const { drainTimeout: _drain, ...headroomOptions } = options;
        if (routes.proxy && !options.proxy) {
          throw new HeadroomError('HEADROOM_CONFIG_INVALID', `HeadroomModule: routes.proxy=${routes.proxy} needs the \`proxy\` option`);
        }
        if (routes.image && !options.image) {
          throw new HeadroomError('HEADROOM_CONFIG_INVALID', `HeadroomModule: routes.image=${routes.image} needs the \`image\` option`);
        }
        return createHeadroom(headroomOptions);
      },
    },
    {
      provide: HeadroomService,
      inject: [HEADROOM, OPTIONS, HttpAdapterHost],
      useFactory: (headroom: Headroom, options: HeadroomModuleOptions, host: HttpAdapterHost | undefined): HeadroomService => {
        // Added while Nest creates the providers, before app.init() registers its body parser,
        // the modules' middleware and the routes, so it runs first on both platforms.
        const adapter = host?.httpAdapter;
        if (adapter) {
          proxyRoute?.forPlatform(adapter.getType());
          const unparsed = [routes.proxy, routes.proxy && headroom.proxy?.prefix].filter((p): p is string => typeof p === 'string');
          adapter.use(createEarlyMiddleware(headroom, { health: routes.health, metrics: routes.metrics, admin: routes.admin, unparsed }));
        }
        return new HeadroomService(headroom, true, options.drainTimeout ?? 10_000);
      },
    },
    { provide: HeadroomHealthIndicator, inject: [HeadroomService], useFactory: (s: HeadroomService) => new HeadroomHealthIndicator(s) },
  ];
}

function parts(routes: ResolvedRoutes): Pick<DynamicModule, 'providers' | 'controllers'> {
  const proxy = routes.proxy ? proxyController(routes.proxy) : undefined;
  const controllers: Type[] = [];
  if (proxy) controllers.push(proxy);
  if (routes.image) controllers.push(imageController(routes.image));
  return { providers: serviceProvider(routes, proxy), controllers };
}

const EXPORTS = [HEADROOM, HeadroomService, HeadroomHealthIndicator];

export class HeadroomModule {
  /** `imports: [HeadroomModule.forRoot({ proxy: { upstreamUrl }, adminToken })]` */
  static forRoot(options: HeadroomModuleOptions & { routes?: HeadroomRoutes; global?: boolean } = {}): DynamicModule {
    const { routes: given = {}, global = true, ...rest } = options;
    const routes = resolveRoutes(given, rest.proxy ? (rest.proxy.prefix ?? '/api') : false, rest.image ? '/image' : false);
    const { providers = [], controllers } = parts(routes);
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
    const { providers = [], controllers } = parts(routes);
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
