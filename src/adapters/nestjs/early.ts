// The middleware headroom puts in front of everything else on the platform (the Express app, or
// a native onRequest hook on Fastify), before Nest's body parser, the app's middleware, guards and controllers. It is
// the toolkit's nodeMiddleware (health, live, ready, metrics and the admin API, never shed and never
// behind the app's auth; shedding; in-flight counting) with two NestJS specifics:
// - the URL is the one the client sent (middie may rewrite req.url; it keeps originalUrl);
// - requests under the proxy controller's mount have their body kept away from body parsers
//   (body.ts). The mount is known once Nest has registered its routes (mount.ts).
// On platform-express (without capture or accounting) it is not an Express layer but a gate in
// front of the HTTP server's request listener (createEarlyGate, toolkit/in-front.ts): Express never
// sees what headroom answers, and the app's requests skip a layer that costs about 2 % of a small
// request's CPU.
// With the module's capture or accounting option, their middleware (request-parts.ts) runs for the
// app's requests that pass: after the health, metrics and admin routes (probes are neither
// captured nor charged), before the proxied body is hidden (the capture sees its type) and around
// everything after it (the ledger's AsyncLocalStorage context reaches the controllers).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Headroom } from '../../toolkit/headroom.js';
import type { RequestGate } from '../../toolkit/in-front.js';
import {
  clientAddress,
  nodeGate,
  nodeMiddleware,
  pathOf,
  type NodeMiddleware,
  type NodeRequest,
  type NodeRoutePaths,
} from '../../toolkit/node-middleware.js';
import { hideBody } from './body.js';
import { underProxy, type ProxyWiring } from './mount.js';
import { originalUrl } from './raw.js';
import { originForm } from '../../proxy/headers.js';

const UNDER = Symbol('headroom.nestjs.under-proxy');
type Marked = IncomingMessage & { [UNDER]?: true };

export interface EarlyOptions {
  /** Health, metrics and admin paths. */
  routes: Required<NodeRoutePaths>;
  /** Where the proxy controller is mounted (known once Nest has registered its routes). */
  wiring: ProxyWiring;
  /** The module's capture and accounting middleware, run for the app's requests that pass. */
  parts?: NodeMiddleware;
  /** The admin rate limit's client address (the platform's view of it, trusted proxies applied). */
  client?: (req: NodeRequest) => string;
  /** The HTTP server all of whose requests pass here: they are counted in flight by connection. */
  server?: unknown;
  /** Whether the platform routes this request's path in any case (routesIgnoreCase of its instance). */
  ignoreCase?: (req: NodeRequest) => boolean;
}

export function createEarlyMiddleware(headroom: Headroom, options: EarlyOptions): NodeMiddleware {
  const { routes, wiring, parts, client, server, ignoreCase } = options;
  if (!parts) {
    const gate = createEarlyGate(headroom, options);
    return (req, res, next) => {
      if (gate(req, res)) next();
    };
  }
  const early = nodeMiddleware(headroom, {
    ...routes,
    url: originalUrl,
    client,
    server,
    ignoreCase,
    beforeNext(req, path) {
      if (underProxy(wiring, path)) (req as Marked)[UNDER] = true;
    },
  });
  return (req, res, next) =>
    early(req, res, () =>
      parts(req, res, (err) => {
        if ((req as Marked)[UNDER]) hideBody(req);
        next(err);
      }),
    );
}

/**
 * The early middleware's work as a gate in front of the server (standInFront): true when the request passes on to
 * the app (counted in flight, its body hidden when it goes to the proxy), false when headroom
 * answered it.
 */
export function createEarlyGate(
  headroom: Headroom,
  { routes, wiring, client, server, ignoreCase }: Omit<EarlyOptions, 'parts'>,
): RequestGate {
  const gate = nodeGate(headroom, { ...routes, url: originalUrl, client, server, ignoreCase });
  return (req, res) => {
    if (!gate(req, res)) return false;
    // Only with a proxy controller (its mount known once Nest has registered its routes).
    if (wiring.under !== undefined && underProxy(wiring, pathOf(originForm(originalUrl(req))))) hideBody(req);
    return true;
  };
}

type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, next?: unknown) => unknown;

/**
 * On platform-express the gate stands in front of Nest's HTTP server; an app that serves the
 * Express app from servers of its own (Nest's multi-server pattern, `http.createServer(expressApp)`,
 * or a serverless adapter) calls it without passing there. For those requests `gate` runs in the
 * Express app's `handle`, before its first layer (Nest's body parser). A request of the gated server
 * passes with one check (its socket's server; nothing is written on the request, whose shape would
 * change). Returns the undo, or undefined when `app` has no handle to wrap.
 */
export function gateOtherServers(app: unknown, gated: object | undefined, gate: RequestGate): (() => void) | undefined {
  const express = app as { handle?: Handle };
  const handle = express.handle;
  if (typeof handle !== 'function') return undefined;
  express.handle = function (req, res, next) {
    const passed = gated !== undefined && (req.socket as { server?: unknown } | undefined)?.server === gated;
    if (!passed && !gate(req, res)) return;
    return handle.call(this, req, res, next);
  };
  return () => {
    express.handle = handle;
  };
}

type OnRequest = (
  request: { raw: IncomingMessage; ip: string },
  reply: { raw: ServerResponse; hijack(): void },
  done: (err?: Error) => void,
) => void;

/** Nest's FastifyAdapter, as far as the hooks go. */
export interface FastifyAdapterLike {
  getInstance(): { addHook(name: 'onRequest', hook: OnRequest): unknown };
  setOnRequestHook?(hook: OnRequest): void;
  onRequestHook?: OnRequest;
}

/**
 * Nest's FastifyAdapter adds an onRequest hook of its own when it is made, before it registers
 * @fastify/middie (whose hook runs the app's Nest middleware), and that first hook runs the one
 * given to setOnRequestHook: headroom's goes there, so it runs before any middleware of the app
 * (an auth middleware must not block the probes, and a shed request costs the app nothing). A hook
 * the app sets there, before or after, runs after headroom's instead of replacing it. An adapter
 * without that API gets an ordinary hook.
 */
function addFirstOnRequest(adapter: FastifyAdapterLike, hook: OnRequest): void {
  if (typeof adapter.setOnRequestHook !== 'function') {
    adapter.getInstance().addHook('onRequest', hook);
    return;
  }
  let after = typeof adapter.onRequestHook === 'function' ? adapter.onRequestHook : undefined;
  adapter.setOnRequestHook((request, reply, done) => {
    if (after === undefined) return hook(request, reply, done);
    const then = after;
    hook(request, reply, (err) => (err ? done(err) : then.call(adapter, request, reply, done)));
  });
  adapter.setOnRequestHook = (h: OnRequest): void => {
    after = h;
  };
}

// The Fastify request whose hook is running the early middleware: the middleware asks for the
// client address synchronously, and only for the admin API.
let current: { ip: string } | undefined;

/** The admin rate limit's client on platform-fastify: Fastify's request.ip (trustProxy honoured). */
export const fastifyClient = (req: NodeRequest): string => current?.ip ?? clientAddress(req);

/**
 * On platform-fastify the early middleware is a native onRequest hook, not a middleware through
 * middie: once middie is registered it works on every request (ip, ips, hostname, URL decoding),
 * which cost nest-fastify about a fifth of its throughput in bench/adapters. It runs first for
 * every request (addFirstOnRequest). Nothing is written on the raw request (a property added to
 * IncomingMessage changes its shape for every lookup after it); build the middleware with
 * `fastifyClient` for Fastify's view of the client.
 */
export function installOnFastify(adapter: FastifyAdapterLike, middleware: NodeMiddleware): void {
  addFirstOnRequest(adapter, (request, reply, done) => {
    let passed = false;
    current = request;
    try {
      middleware(request.raw, reply.raw, (err?: unknown) => {
        passed = true;
        done(err as Error | undefined);
      });
    } finally {
      current = undefined;
    }
    // It answered (health, metrics, admin, a refusal): Fastify must leave the response alone.
    if (!passed) reply.hijack();
  });
}

/**
 * Without capture or accounting the hook runs the gate itself (createEarlyGate): no middleware
 * wrapper and no `next` closure per request.
 */
export function installGateOnFastify(adapter: FastifyAdapterLike, gate: RequestGate): void {
  addFirstOnRequest(adapter, (request, reply, done) => {
    let passed: boolean;
    current = request;
    try {
      passed = gate(request.raw, reply.raw);
    } finally {
      current = undefined;
    }
    if (passed) done();
    else reply.hijack(); // it answered: Fastify must leave the response alone
  });
}
