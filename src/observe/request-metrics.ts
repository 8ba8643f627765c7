// Request metrics of gateway traffic, by route template (never a raw URL):
//   headroom_http_request_duration_seconds{route,method,status_class}  histogram
//   headroom_http_requests_total{route,method,status}                  counter
// Like the proxy's own counters, the hot path only bumps numbers in a Map of fixed buckets; the
// series are built at scrape time. Every label is bounded: routes are templates the gateway
// registered (anything else is `unmatched`), methods outside the common ones are `OTHER`, statuses
// outside 100–599 are `other`, statuses no RFC names (237, 599: an upstream passing through what a
// client asks for) are their class (`2xx`, `5xx`), and past MAX_SERIES combinations new ones count
// as one `overflow` series per status class — so a client that fills the series with odd
// combinations cannot hide later server errors from a `status=~"5.."` rule.
import { STATUS_CODES } from 'node:http';
import type { Metric, Registry } from 'prom-client';
import { histogramValues, type Labels } from '../metrics/define.js';
import { UNMATCHED_ROUTE } from './route-labels.js';

export { UNMATCHED_ROUTE };
/** The route label of a request refused before any route could run (Node's parser, CONNECT, an unmet Expect). */
export const REJECTED_ROUTE = 'rejected';
/** The route label once MAX_SERIES combinations exist. */
export const OVERFLOW_ROUTE = 'overflow';
/** Most (route, method, status) combinations kept. */
export const MAX_SERIES = 1000;

/** Upper bounds, seconds: prom-client's defaults, then longer for streamed downloads. */
export const REQUEST_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export const DURATION_METRIC = 'headroom_http_request_duration_seconds';
export const REQUESTS_METRIC = 'headroom_http_requests_total';

interface Series {
  route: string;
  method: string;
  status: string;
  statusClass: string;
  /** One slot per bound plus one for larger values (+Inf). */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** 499, "client closed request" (nginx's, and the gateway's own for a response never begun): no RFC names it. */
const CLIENT_CLOSED = 499;

/** The status label: the code when the RFCs name it (or 499), else its class; `other` outside 100–599. */
function statusLabel(status: number): string {
  if (!Number.isInteger(status) || status < 100 || status > 599) return 'other';
  return STATUS_CODES[status] === undefined && status !== CLIENT_CLOSED ? `${Math.floor(status / 100)}xx` : String(status);
}

function newSeries(route: string, method: string, status: string): Series {
  const statusClass = status === 'other' ? 'other' : `${status[0]}xx`;
  return { route, method, status, statusClass, buckets: new Float64Array(REQUEST_BUCKETS_SECONDS.length + 1), sum: 0, count: 0 };
}

export class RequestMetrics {
  private readonly series = new Map<string, Series>();
  /** Counts every request of a combination first seen once MAX_SERIES exist, by status class. */
  private readonly overflow = new Map<string, Series>();

  /** One request: its route template, method, status and duration. */
  observe(route: string, method: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : 'OTHER';
    const st = statusLabel(status);
    const key = `${route} ${m} ${st}`;
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= MAX_SERIES) {
        const cls = st === 'other' ? st : `${st[0]}xx`;
        s = this.overflow.get(cls);
        if (!s) this.overflow.set(cls, (s = newSeries(OVERFLOW_ROUTE, 'OTHER', cls)));
      } else this.series.set(key, (s = newSeries(route, m, st)));
    }
    let i = 0;
    while (i < REQUEST_BUCKETS_SECONDS.length && seconds > REQUEST_BUCKETS_SECONDS[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** Number of (route, method, status) series. */
  get size(): number {
    return this.series.size + this.overflow.size;
  }

  private all(): Series[] {
    return [...this.series.values(), ...this.overflow.values()];
  }

  /** Registers both families on `registry`, built from the counts at scrape time. */
  register(registry: Registry): void {
    const families = [
      {
        name: DURATION_METRIC,
        help: 'Gateway request duration, request to response close, seconds, by route template.',
        type: 'histogram',
        values: () => this.durationValues(),
      },
      {
        name: REQUESTS_METRIC,
        help: 'Gateway requests by route template, method and status.',
        type: 'counter',
        values: () => this.requestValues(),
      },
    ];
    for (const f of families) {
      const collector = {
        name: f.name,
        help: f.help,
        type: f.type,
        aggregator: 'sum',
        get: () => Promise.resolve({ name: f.name, help: f.help, type: f.type, aggregator: 'sum', values: f.values() }),
        reset() {},
      };
      registry.registerMetric(collector as unknown as Metric);
    }
  }

  private requestValues(): { labels: Labels; value: number }[] {
    return this.all().map((s) => ({ labels: { route: s.route, method: s.method, status: s.status }, value: s.count }));
  }

  /** The histogram by status class: the series of each (route, method, class) added up. */
  private durationValues(): { metricName: string; labels: Labels; value: number }[] {
    const merged = new Map<string, { labels: Labels; buckets: Float64Array; sum: number; count: number }>();
    for (const s of this.all()) {
      // A refusal before routing took no time worth a sample: it would only drag the quantiles down.
      if (s.route === REJECTED_ROUTE) continue;
      const key = `${s.route} ${s.method} ${s.statusClass}`;
      let m = merged.get(key);
      if (!m) {
        m = {
          labels: { route: s.route, method: s.method, status_class: s.statusClass },
          buckets: new Float64Array(s.buckets.length),
          sum: 0,
          count: 0,
        };
        merged.set(key, m);
      }
      for (let i = 0; i < s.buckets.length; i++) m.buckets[i]! += s.buckets[i]!;
      m.sum += s.sum;
      m.count += s.count;
    }
    return [...merged.values()].flatMap((m) => {
      const cumulative: number[] = [];
      let acc = 0;
      for (let i = 0; i < REQUEST_BUCKETS_SECONDS.length; i++) cumulative.push((acc += m.buckets[i]!));
      return histogramValues(DURATION_METRIC, { bounds: REQUEST_BUCKETS_SECONDS, cumulative, sum: m.sum, count: m.count }, m.labels);
    });
  }
}
