// Per-route attribution of the rest of the heap: which routes' handlers allocated the memory that is
// still alive. Per-request heap deltas are meaningless when 32 requests overlap, and regressing
// heap growth on per-route request counts cannot tell two routes apart when their mix is steady
// (the counts are collinear, so the split is arbitrary). Instead V8's sampling heap profiler
// (HeapProfiler.startSampling over an in-process inspector session) records the stack of about one
// allocation every `samplingInterval` bytes and drops a sample when its object is collected, so the
// profile holds only memory still alive; report() first runs a full GC so garbage awaiting
// collection is not counted either. Each sample's stack is charged to the nearest route handler on
// it: the adapters pass the handler functions the framework routed to (Express req.route,
// Fastify routeOptions.handler), and the inspector gives where each one's source starts
// ([[FunctionLocation]], what the profile's call frames name) and, with its text, where it ends — so
// a closure written inside a handler (a .then() callback, a timer) counts as the handler too. An
// async handler is on the stack after its awaits, so concurrency does not blur the picture.
// Cost: V8's sampling while on (an allocation-bound loop ran 12–17 % slower at 32 KiB, see
// docs/logging.md); nothing at all when not created.
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { HeadroomError } from '../errors.js';
import { bool, bytes, num, resolveOptions, type OptionSpec } from '../options/spec.js';
import { foldProfile, handlerRange, type FunctionLocation, type HandlerRange, type ProfileNode } from './route-heap-profile.js';

export const routeHeapSpecs = {
  samplingInterval: bytes({
    doc: 'Average bytes allocated between two sampled allocations; smaller is finer and costs more.',
    default: 32 * 1024,
    min: 1024,
    max: 1024 ** 2,
  }),
  maxRoutes: num({
    doc: 'Most routes tracked; requests of further routes are only counted (overflowRequests).',
    default: 200,
    min: 1,
    max: 10_000,
    integer: true,
  }),
  collectGarbage: bool({
    doc: 'report() runs a full garbage collection first, so that garbage not yet collected is not counted as growth.',
    default: true,
  }),
} satisfies Record<string, OptionSpec<unknown>>;

export interface RouteHeapOptions {
  samplingInterval?: number | string;
  maxRoutes?: number;
  collectGarbage?: boolean;
}

export interface RouteHeapRow {
  /** The route template, or several joined by " | " when they share one handler function. */
  route: string;
  /** Estimated bytes still alive that this route's handlers allocated since the attribution began. */
  bytes: number;
  /** bytes / totalBytes (0 when nothing was sampled). */
  share: number;
  requests: number;
  /** bytes / requests (0 without requests). */
  bytesPerRequest: number;
}

export interface RouteHeapReport {
  /** Milliseconds since the attribution began. */
  ms: number;
  samplingInterval: number;
  /** Estimated bytes allocated since the attribution began and still alive, attributed or not. */
  totalBytes: number;
  /** Of totalBytes, what no route handler was on the stack for (middleware, timers, the framework). */
  unattributedBytes: number;
  /** Requests of routes past maxRoutes: counted, never attributed. */
  overflowRequests: number;
  /** Heaviest first. */
  routes: RouteHeapRow[];
}

/** A function the framework routed a request to (a route handler). */
export type RouteHandler = (...args: never[]) => unknown;

export interface RouteHeapAttribution {
  /**
   * Counts one request of `route` (a template, never a raw URL) and remembers the handler
   * function(s) it ran, whose allocations are then charged to it. The adapters call this.
   */
  count(route: string, handlers?: RouteHandler | readonly RouteHandler[]): void;
  /** Runs a full GC (unless collectGarbage is false), reads the profile and ranks the routes. */
  report(): Promise<RouteHeapReport>;
  /** Stops sampling and disconnects; idempotent. report() after close() rejects. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const FACTORY = 'createRouteHeapAttribution';
/** Handlers kept per route: a route runs a few, never an unbounded number. */
const MAX_HANDLERS = 16;
const SLOT = Symbol.for('headroom.routeHeap.function');
const GROUP = 'headroom-route-heap';
// V8 has one sampling heap profiler per isolate: a second one would read (and stop) the first's.
let sampling = false;

export function createRouteHeapAttribution(options: RouteHeapOptions = {}): RouteHeapAttribution {
  const o = resolveOptions(FACTORY, routeHeapSpecs, options);
  if (sampling)
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${FACTORY}: a route heap attribution is already running in this process (V8 has one sampling heap profiler); close() it first or share it`,
    );
  const session = new Session();
  session.connect();
  sampling = true;
  const began = performance.now();
  // The in-process session dispatches each message at once, so sampling covers what follows this
  // line; the promises only carry the answers (posted together, not chained, for that reason).
  const started = Promise.all([
    session.post('HeapProfiler.enable'),
    session.post('HeapProfiler.startSampling', { samplingInterval: o.samplingInterval }),
  ]).then(() => undefined);
  started.catch(() => {}); // report() rethrows it; nobody may be waiting yet
  const routes = new Map<string, { requests: number; handlers: Set<RouteHandler> }>();
  /** Each handler's source range (its owner filled in by report()); null when it has none. */
  const located = new Map<RouteHandler, HandlerRange | null>();
  let overflowRequests = 0;
  let queue: Promise<unknown> = Promise.resolve();
  let closing: Promise<void> | undefined;

  /**
   * Where fn's source starts and ends, through the inspector: a bound function (Fastify binds
   * every handler) stands for its target, which is what runs; null for a native function.
   */
  async function locate(fn: RouteHandler): Promise<HandlerRange | null> {
    (globalThis as Record<symbol, unknown>)[SLOT] = fn;
    try {
      const { result } = await session.post('Runtime.evaluate', {
        expression: `globalThis[Symbol.for(${JSON.stringify(SLOT.description)})]`,
        objectGroup: GROUP,
      });
      let objectId = result.objectId;
      for (let depth = 0; objectId && depth < 8; depth++) {
        const { internalProperties = [] } = await session.post('Runtime.getProperties', { objectId, ownProperties: true });
        const where = internalProperties.find((p) => p.name === '[[FunctionLocation]]')?.value?.value as FunctionLocation | undefined;
        if (where) {
          const { result: source } = await session.post('Runtime.callFunctionOn', {
            objectId,
            functionDeclaration: 'function () { return Function.prototype.toString.call(this); }',
            returnByValue: true,
          });
          return handlerRange(where, typeof source.value === 'string' ? source.value : '', '');
        }
        objectId = internalProperties.find((p) => p.name === '[[TargetFunction]]')?.value?.objectId;
      }
      return null;
    } finally {
      delete (globalThis as Record<symbol, unknown>)[SLOT];
    }
  }

  async function build(): Promise<RouteHeapReport> {
    await started;
    for (const { handlers } of routes.values()) for (const fn of handlers) if (!located.has(fn)) located.set(fn, await locate(fn));
    await session.post('Runtime.releaseObjectGroup', { objectGroup: GROUP });
    // A handler shared by several routes cannot say which of them allocated: they share one row.
    const keyOf = (fn: RouteHandler): string | undefined => {
      const r = located.get(fn);
      return r ? `${r.scriptId}:${r.start}` : undefined;
    };
    const sharers = new Map<string, { range: HandlerRange; routes: Set<string> }>();
    for (const [route, { handlers }] of routes)
      for (const fn of handlers) {
        const key = keyOf(fn);
        if (key) (sharers.get(key) ?? sharers.set(key, { range: located.get(fn)!, routes: new Set() }).get(key)!).routes.add(route);
      }
    const owners = new Map([...sharers].map(([key, { routes: set }]) => [key, [...set].sort().join(' | ')]));
    const ranges = [...sharers].map(([key, { range }]) => ({ ...range, owner: owners.get(key)! }));
    if (o.collectGarbage) await session.post('HeapProfiler.collectGarbage');
    const { profile } = await session.post('HeapProfiler.getSamplingProfile');
    const folded = foldProfile(profile.head as ProfileNode, ranges);
    const rows = new Map<string, RouteHeapRow>();
    const row = (route: string): RouteHeapRow => {
      let r = rows.get(route);
      if (!r) rows.set(route, (r = { route, bytes: 0, share: 0, requests: 0, bytesPerRequest: 0 }));
      return r;
    };
    for (const [route, { requests, handlers }] of routes) {
      const keys = new Set([...handlers].map(keyOf).filter((k): k is string => !!k));
      const names = new Set([...keys].map((k) => owners.get(k)!));
      // A route whose handlers are shared counts its requests in each shared row it belongs to.
      if (names.size === 0) row(route).requests += requests;
      for (const name of names) row(name).requests += requests;
    }
    for (const [owner, b] of folded.byOwner) row(owner).bytes = b;
    const total = folded.total;
    for (const r of rows.values()) {
      r.share = total > 0 ? r.bytes / total : 0;
      r.bytesPerRequest = r.requests > 0 ? r.bytes / r.requests : 0;
    }
    return {
      ms: performance.now() - began,
      samplingInterval: o.samplingInterval,
      totalBytes: total,
      unattributedBytes: folded.unattributed,
      overflowRequests,
      routes: [...rows.values()].sort((a, b) => b.bytes - a.bytes || b.requests - a.requests),
    };
  }

  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await queue.catch(() => {});
      routes.clear();
      located.clear();
      try {
        await started;
        await session.post('HeapProfiler.stopSampling');
        await session.post('HeapProfiler.disable');
      } catch {
        // sampling never started (the error went to report()); nothing to stop
      } finally {
        session.disconnect();
        sampling = false;
      }
    })());

  return {
    count(route, handlers) {
      if (typeof route !== 'string') throw new TypeError(`${FACTORY}: count(route) takes a route template string, got ${typeof route}`);
      if (closing) return;
      let r = routes.get(route);
      if (!r) {
        if (routes.size >= o.maxRoutes) {
          overflowRequests++;
          return;
        }
        routes.set(route, (r = { requests: 0, handlers: new Set() }));
      }
      r.requests++;
      if (handlers === undefined) return;
      for (const fn of typeof handlers === 'function' ? [handlers] : handlers)
        if (typeof fn === 'function' && r.handlers.size < MAX_HANDLERS) r.handlers.add(fn);
    },
    report() {
      if (closing) return Promise.reject(new HeadroomError('HEADROOM_DRAINING', `${FACTORY}: report() called after close()`));
      // One at a time: locate() passes each function through one global slot.
      const next = queue.then(build, build);
      queue = next.catch(() => {});
      return next;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
