// Real Nest apps for the adapter's tests, on either platform. Decorators are called as functions
// (tsx does not emit decorator metadata, so every injection names its token).
import 'reflect-metadata';
import {
  All,
  Body,
  Controller,
  Get,
  HttpException,
  Inject,
  Module,
  Post,
  Query,
  Req,
  Res,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  type MiddlewareConsumer,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadroomHealthIndicator, HeadroomService } from '../../../src/adapters/nestjs/index.js';

export type Platform = 'express' | 'fastify';
export const PLATFORMS: Platform[] = ['express', 'fastify'];

type Decorate = (target: object, key: string, descriptor: PropertyDescriptor) => void;
function method(target: { prototype: object }, name: string, ...decorators: Decorate[]): void {
  for (const d of decorators) d(target.prototype, name, Object.getOwnPropertyDescriptor(target.prototype, name)!);
}
const param = (target: { prototype: object }, name: string, index: number, d: ParameterDecorator): void => d(target.prototype, name, index);

class DenyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    if (req.headers['x-deny'] === '1') throw new HttpException({ error: 'denied by app' }, 401);
    return true;
  }
}

/** Requests to /app/gate?id=… wait here until the test opens their gate: in flight for as long as a test needs. */
const gates = new Map<string, { arrived: () => void; open: Promise<void>; release: () => void }>();
function gate(id: string): { arrived: Promise<void>; release: () => void } {
  let arrived!: () => void;
  const arrival = new Promise<void>((r) => (arrived = r));
  let release!: () => void;
  const open = new Promise<void>((r) => (release = r));
  gates.set(id, { arrived, open, release });
  return { arrived: arrival, release };
}
/** A gate for one request: `arrived` resolves when the request reaches the controller, `release` answers it. */
export const holdRequest = gate;

function appController(): new () => unknown {
  class AppController {
    hello(): unknown {
      return { hello: 'world' };
    }
    echo(body: unknown): unknown {
      return { received: body };
    }
    async slow(ms: string): Promise<unknown> {
      await sleep(Number(ms));
      return { slept: Number(ms) };
    }
    async held(id: string): Promise<unknown> {
      const g = gates.get(id);
      if (!g) throw new HttpException({ error: `no gate ${id}` }, 404);
      g.arrived();
      await g.open;
      gates.delete(id);
      return { released: id };
    }
  }
  method(AppController, 'hello', Get('hello'));
  method(AppController, 'echo', Post('echo'));
  param(AppController, 'echo', 0, Body());
  method(AppController, 'slow', Get('slow'));
  param(AppController, 'slow', 0, Query('ms'));
  method(AppController, 'held', Get('gate'));
  param(AppController, 'held', 0, Query('id'));
  Controller('app')(AppController);
  return AppController;
}

function terminusController(): new (...args: never[]) => unknown {
  class HealthController {
    constructor(
      private readonly health: HealthCheckService,
      private readonly memory: HeadroomHealthIndicator,
    ) {}
    check(): Promise<unknown> {
      return this.health.check([() => this.memory.isHealthy('memory')]);
    }
  }
  Inject(HealthCheckService)(HealthController, undefined, 0);
  Inject(HeadroomHealthIndicator)(HealthController, undefined, 1);
  method(HealthController, 'check', Get());
  Controller('hc')(HealthController);
  return HealthController;
}

/** The proxy mounted behind Nest's body parser, as a user who mounts it wrongly would do. */
function parsedProxyController(platform: Platform): new (...args: never[]) => unknown {
  class ParsedProxy {
    constructor(private readonly headroom: HeadroomService) {}
    proxy(req: never, res: never): void {
      this.headroom.proxyRequest(req, res, { mount: '/parsed-api' });
    }
  }
  Inject(HeadroomService)(ParsedProxy, undefined, 0);
  method(ParsedProxy, 'proxy', All(platform === 'express' ? '*path' : '*'));
  param(ParsedProxy, 'proxy', 0, Req());
  param(ParsedProxy, 'proxy', 1, Res());
  Controller('parsed-api')(ParsedProxy);
  return ParsedProxy;
}

/** The app's own proxy controller as docs/frameworks/nestjs.md shows it: proxyHandler({ mount }) on a catch-all at `path`. */
export function handlerProxyController(platform: Platform, path: string, mount = `/${path}`): new (...args: never[]) => unknown {
  class HandlerProxy {
    private readonly forward: ReturnType<HeadroomService['proxyHandler']>;
    constructor(headroom: HeadroomService) {
      this.forward = headroom.proxyHandler({ mount });
    }
    proxy(req: never, res: never): void {
      this.forward(req, res);
    }
  }
  Inject(HeadroomService)(HandlerProxy, undefined, 0);
  method(HandlerProxy, 'proxy', All(platform === 'express' ? '*path' : '*'));
  param(HandlerProxy, 'proxy', 0, Req());
  param(HandlerProxy, 'proxy', 1, Res());
  Controller(path)(HandlerProxy);
  return HandlerProxy;
}

export interface TestApp {
  app: INestApplication;
  url: string;
}

export interface StartOptions {
  /** app.setGlobalPrefix(...) before listen. */
  globalPrefix?: string;
  /** More controllers of the app. */
  controllers?: (new (...args: never[]) => unknown)[];
  /** Express 'trust proxy' / Fastify trustProxy. */
  trustProxy?: boolean;
  /** Express only: a middleware put on the Express app before Nest is created. */
  expressFirst?: (req: IncomingMessage, res: unknown, next: () => void) => void;
  /** Fastify only: more options for Fastify (e.g. `routerOptions: { caseSensitive: false }`). */
  fastify?: Record<string, unknown>;
  /** A Nest middleware of the app for every route (`consumer.apply(…).forRoutes('*')`), on either platform. */
  appMiddleware?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
}

/** Creates the app without listening (for start-up failures); listen() then throws what init throws. */
export async function createApp(platform: Platform, headroom: DynamicModule, options: StartOptions = {}): Promise<INestApplication> {
  class AppModule {
    configure(consumer: MiddlewareConsumer): void {
      if (options.appMiddleware) consumer.apply(options.appMiddleware).forRoutes('*');
    }
  }
  Module({
    imports: [headroom, TerminusModule.forRoot({ logger: false })],
    controllers: [appController(), terminusController(), parsedProxyController(platform), ...(options.controllers ?? [])],
    providers: [{ provide: APP_GUARD, useClass: DenyGuard }],
  })(AppModule);
  const adapter =
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter({ trustProxy: options.trustProxy ?? false, ...options.fastify });
  if (platform === 'express' && options.trustProxy) (adapter as ExpressAdapter).set('trust proxy', true);
  if (platform === 'express' && options.expressFirst) (adapter as ExpressAdapter).use(options.expressFirst);
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  if (options.globalPrefix) app.setGlobalPrefix(options.globalPrefix);
  return app;
}

export async function startApp(platform: Platform, headroom: DynamicModule, options: StartOptions = {}): Promise<TestApp> {
  const app = await createApp(platform, headroom, options);
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

/** @Controller(path) with POST <route> echoing the parsed JSON body (an app route of its own). */
export function jsonController(path: string, route = 'items'): new () => unknown {
  class JsonController {
    create(body: unknown): unknown {
      return { created: body };
    }
  }
  method(JsonController, 'create', Post(route));
  param(JsonController, 'create', 0, Body());
  Controller(path)(JsonController);
  return JsonController;
}

export interface Upstream {
  url: string;
  /** Requests received: method, url, the body's bytes and content-type. */
  seen: { method: string; url: string; body: string; contentType: string | undefined }[];
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = {
        method: req.method ?? '',
        url: req.url ?? '',
        body: Buffer.concat(chunks).toString(),
        contentType: req.headers['content-type'],
      };
      seen.push(entry);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(entry));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
