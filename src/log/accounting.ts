// Request memory accounting: every byte headroom holds for a request (the captured bodies, the
// proxy's cache tee and the bytes it has queued toward the client, the image service's decode
// reservations, and any part that calls charge()) is charged to that request — found through
// AsyncLocalStorage, so a part deep in a call needs no request object — and released when the
// request ends. One total (the gauge headroom_request_bytes_held) and a per-route summary. The
// total is only ever moved by the same deltas as the requests' own counters, so the two cannot
// drift apart.
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { HeadroomError } from '../errors.js';
import { bytes, kindOf, num, resolveOptions, type OptionSpec } from '../options/spec.js';

// One store for every accounting, so the proxy and the image service find the request's ledger
// without being handed the accounting. Until some accounting runs a request, getStore() is a
// boolean check (Node enables the store on its first run()): parts that charge cost nothing then.
const ledgers = new AsyncLocalStorage<RequestLedger>();

/** The ledger of the request being handled (by any accounting), or undefined: charge it directly. */
export function currentLedger(): RequestLedger | undefined {
  return ledgers.getStore();
}

/**
 * Runs `fn` as part of `ledger`'s request (none: of no request). For work started from another
 * request's callback (a queue slot freed by it), which would otherwise be charged to that one.
 */
export function withLedger<T>(ledger: RequestLedger | undefined, fn: () => T): T {
  if (ledger) return ledgers.run(ledger, fn);
  return ledgers.getStore() ? ledgers.exit(fn) : fn();
}

export const accountingSpecs = {
  warnBytes: bytes({
    doc: 'A request holding more than this at its peak is reported as heavy (warn callback, NestJS interceptor warning).',
    default: 1024 ** 2,
    min: 1024,
    max: 1024 ** 3,
  }),
  maxRoutes: num({
    doc: 'Most routes kept in the per-route summary; further routes are counted under "overflow".',
    default: 200,
    min: 1,
    max: 10_000,
    integer: true,
  }),
} satisfies Record<string, OptionSpec<unknown>>;

export interface RequestAccountingOptions {
  warnBytes?: number | string;
  maxRoutes?: number;
  /** Called when a request ends whose peak was above warnBytes. */
  onHeavy?: (request: RequestSummary) => void;
}

/** One request as accounted. */
export interface RequestSummary {
  route: string;
  ms: number;
  /** Bytes held right now (0 once ended). */
  held: number;
  /** Most bytes held at once. */
  peak: number;
  /** Every byte ever charged (released ones included). */
  charged: number;
}

export interface RouteSummary {
  route: string;
  requests: number;
  charged: number;
  /** Highest per-request peak. */
  maxPeak: number;
  heavy: number;
}

export interface RequestLedger {
  /**
   * Adds (or, negative, gives back) bytes held for this request. A delta that is not a finite number
   * throws a TypeError and changes nothing.
   */
  charge(delta: number): void;
  readonly held: number;
  readonly peak: number;
  readonly charged: number;
  /** Ends the request: what it still holds is released; `route` is its template (not a string: a TypeError, the ledger stays open). Idempotent. */
  end(route: string): RequestSummary;
}

export interface RequestAccounting {
  /** Opens a ledger; run the request's handling inside `run(ledger, fn)` so charge() finds it. */
  open(): RequestLedger;
  run<T>(ledger: RequestLedger, fn: () => T): T;
  /** The ledger of the request being handled, if any. */
  current(): RequestLedger | undefined;
  /**
   * Charges the current request; false (nothing charged) outside a request. A delta that is not a
   * finite number throws a TypeError (in a request or not) and changes nothing.
   */
  charge(delta: number): boolean;
  /** Bytes held for requests in flight, in total (the gauge). */
  held(): number;
  /** Ledgers of requests in flight. */
  active(): RequestLedger[];
  routes(): RouteSummary[];
  readonly warnBytes: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A delta that is not a finite number is the caller's bug (byteLength of undefined, arithmetic on a
 * missing field): refused before it touches any total, as the cache refuses a bad call argument —
 * one NaN (or Infinity) would otherwise leave the total, and the gauge, NaN for the rest of the process.
 */
function checkDelta(call: string, delta: unknown): asserts delta is number {
  // Up to 2^53 bytes: two charges of 1e308 made the total Infinity, then NaN once given back.
  if (typeof delta === 'number' && Math.abs(delta) <= Number.MAX_SAFE_INTEGER) return;
  const got = typeof delta === 'number' ? String(delta) : typeof delta === 'string' ? `the string ${JSON.stringify(delta)}` : kindOf(delta);
  throw new TypeError(`${call}(delta): delta must be a number of bytes up to 2^53 (positive to charge, negative to give back), got ${got}`);
}

/** Whole bytes (a fraction left drift behind: 0.1 + 0.2 − 0.3): charges round up, releases down. */
const whole = (delta: number): number => (delta > 0 ? Math.ceil(delta) : Math.floor(delta));

export function createRequestAccounting(options: RequestAccountingOptions = {}): RequestAccounting {
  const o = resolveOptions('createRequestAccounting', accountingSpecs, options, ['onHeavy']);
  const onHeavy = o.onHeavy as unknown;
  if (onHeavy !== undefined && typeof onHeavy !== 'function')
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'createRequestAccounting: onHeavy must be a function (summary) => void');
  let closed = false;
  const open = new Set<Ledger>();
  const routes = new Map<string, RouteSummary>();
  let total = 0;

  class Ledger implements RequestLedger {
    held = 0;
    peak = 0;
    charged = 0;
    private readonly started = performance.now();
    private summary: RequestSummary | undefined;

    get ended(): boolean {
      return this.summary !== undefined;
    }

    charge(delta: number): void {
      checkDelta('RequestLedger.charge', delta);
      if (this.summary) return; // late releases after end() were already given back
      delta = whole(delta);
      if (delta > 0) this.charged += delta;
      // Never release more than was charged: a part's double release must not drive the total negative.
      const d = Math.max(delta, -this.held);
      this.held += d;
      total += d;
      if (this.held > this.peak) this.peak = this.held;
    }

    end(route: string): RequestSummary {
      if (this.summary) return this.summary;
      // Checked before anything changes: the ledger stays open for a correct end().
      if (typeof route !== 'string')
        throw new TypeError(`ledger.end(route): route must be a string (the route's template, e.g. "/users/:id"); got ${kindOf(route)}`);
      total -= this.held;
      this.held = 0;
      open.delete(this);
      const summary: RequestSummary = { route, ms: performance.now() - this.started, held: 0, peak: this.peak, charged: this.charged };
      this.summary = summary;
      const key = routes.has(route) || routes.size < o.maxRoutes ? route : 'overflow';
      let r = routes.get(key);
      if (!r) routes.set(key, (r = { route: key, requests: 0, charged: 0, maxPeak: 0, heavy: 0 }));
      r.requests++;
      r.charged += this.charged;
      r.maxPeak = Math.max(r.maxPeak, this.peak);
      if (this.peak > o.warnBytes) {
        r.heavy++;
        try {
          (onHeavy as RequestAccountingOptions['onHeavy'])?.(summary);
        } catch {
          // a throwing callback must not break the request's end
        }
      }
      return summary;
    }
  }

  // This accounting's ledger in the shared store; after close() it finds none (its ledgers are
  // instances of this closure's class, so another accounting's are never mistaken for its own).
  // An ended ledger is no request's any more: a callback of a resource made during it (a timer, a
  // shared pool started then) still runs in its context, and must not be told it charged something.
  const mine = (): Ledger | undefined => {
    const l = ledgers.getStore();
    return !closed && l instanceof Ledger && !l.ended ? l : undefined;
  };
  const close = (): Promise<void> => {
    closed = true;
    return Promise.resolve();
  };
  return {
    open() {
      const l = new Ledger();
      open.add(l);
      return l;
    },
    run: (ledger, fn) => (closed ? fn() : ledgers.run(ledger, fn)),
    current: mine,
    charge(delta) {
      checkDelta('accounting.charge', delta);
      const l = mine();
      if (!l) return false;
      l.charge(delta);
      return true;
    },
    held: () => total,
    active: () => [...open],
    routes: () => [...routes.values()].map((r) => ({ ...r })),
    warnBytes: o.warnBytes,
    close,
    [Symbol.asyncDispose]: close,
  };
}
