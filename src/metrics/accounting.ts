// Prometheus metrics of request memory accounting (src/log/accounting.ts), read once per scrape.
import type { Registry } from 'prom-client';
import type { RequestAccounting } from '../log/accounting.js';
import { checkMetricsArgs, partMetrics } from './define.js';

export function registerRequestAccountingMetrics(registry: Registry, accounting: RequestAccounting): void {
  checkMetricsArgs('registerRequestAccountingMetrics(registry, accounting)', registry, {
    name: 'accounting',
    value: accounting,
    methods: ['held', 'routes'],
    from: 'a request accounting from createRequestAccounting()',
  });
  const m = partMetrics(registry, () => ({ held: accounting.held(), routes: accounting.routes() }));
  m.gauge(
    'headroom_request_bytes_held',
    'Bytes headroom holds right now for requests in flight (captured bodies and other charges).',
    (s) => s.held,
  );
  m.labelled('counter', 'headroom_request_bytes_charged_total', 'Bytes charged to ended requests, by route template.', ['route'], (s) =>
    s.routes.map((r) => [{ route: r.route }, r.charged] as const),
  );
  m.labelled('counter', 'headroom_requests_accounted_total', 'Ended requests accounted, by route template.', ['route'], (s) =>
    s.routes.map((r) => [{ route: r.route }, r.requests] as const),
  );
  m.labelled('gauge', 'headroom_request_bytes_peak_max', 'Highest bytes one request of the route held at once.', ['route'], (s) =>
    s.routes.map((r) => [{ route: r.route }, r.maxPeak] as const),
  );
}
