// Builds a part's headroom_* metrics from its stats(), read once per scrape: a part's stats()
// can be costly (the proxy's sorts its latency ring), and one scrape reads every metric family.
import type { Metric, Registry } from 'prom-client';
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import { HeadroomError } from '../errors.js';
import { kindOf } from '../options/spec.js';

/**
 * What a register*Metrics() call got, checked when it is made: a wrong argument would otherwise
 * be found by the first scrape, as a TypeError naming neither the function nor the argument.
 * `part` names the argument, the methods the metrics call on it and where such a part comes from.
 */
export function checkMetricsArgs(
  fn: string,
  registry: unknown,
  part?: { name: string; value: unknown; methods: readonly string[]; from: string },
): void {
  const r = registry as { registerMetric?: unknown; getSingleMetric?: unknown } | null | undefined;
  if (typeof r !== 'object' || r === null || typeof r.registerMetric !== 'function' || typeof r.getSingleMetric !== 'function')
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${fn}: registry must be a prom-client Registry (new Registry() from prom-client, or createMetricsRegistry()); got ${kindOf(registry)}`,
    );
  if (!part) return;
  const v = part.value as Record<string, unknown> | null | undefined;
  const missing = part.methods.filter((m) => typeof v !== 'object' || v === null || typeof v[m] !== 'function');
  if (missing.length > 0)
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${fn}: ${part.name} must be ${part.from} (an object with ${part.methods.map((m) => `${m}()`).join(', ')}); got ${typeof v === 'object' && v !== null ? `an object without ${missing.map((m) => `${m}()`).join(', ')}` : kindOf(v)}`,
    );
}

export type Labels = Record<string, string>;
/** The series of one labelled family: labels and value. */
export type Samples = readonly (readonly [Labels, number])[];

/**
 * Calls `read` at most once per scrape. registry.metrics() runs every metric's collect()
 * synchronously before it awaits anything, so a value kept until the current job ends (cleared
 * in a microtask) is shared by all of a part's metrics in one scrape and never outlives it.
 */
export function oncePerScrape<T>(read: () => T): () => T {
  let held: { value: T } | undefined;
  return () => {
    if (!held) {
      held = { value: read() };
      queueMicrotask(() => (held = undefined));
    }
    return held.value;
  };
}

export interface PartMetrics<S> {
  /** A gauge; null (not known yet) is exported as NaN. */
  gauge(name: string, help: string, value: (s: S) => number | null): void;
  /** A counter republishing the part's own cumulative total. */
  counter(name: string, help: string, value: (s: S) => number): void;
  /** A labelled family; every series comes from the same stats read. */
  labelled(kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], samples: (s: S) => Samples): void;
  /** A histogram the part keeps itself (fixed buckets counted on its hot path). */
  histogram(name: string, help: string, value: (s: S) => CumulativeHistogram): void;
}

/** `cumulative[i]` observations were <= `bounds[i]`; `count` is all of them (le="+Inf"). */
export interface CumulativeHistogram {
  bounds: readonly number[];
  cumulative: readonly number[];
  sum: number;
  count: number;
}

export function partMetrics<S>(registry: Registry, stats: () => S): PartMetrics<S> {
  const registers = [registry];
  const read = oncePerScrape(stats);
  return {
    gauge(name, help, value) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()) ?? Number.NaN);
        },
      });
    },
    counter(name, help, value) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(read()));
        },
      });
    },
    labelled(kind, name, help, _labelNames, samples) {
      // A collector, not a Gauge or Counter: prom-client gives an unlabelled one a 0 series after
      // reset(), so a family documented "absent without an L2" read 0 and fired HeadroomL2Down.
      // Here the series are exactly what `samples` returns, none included.
      const collector = {
        name,
        help,
        type: kind,
        aggregator: 'sum',
        get: () =>
          Promise.resolve({
            name,
            help,
            type: kind,
            aggregator: 'sum',
            values: samples(read()).map(([labels, value]) => ({ labels, value })),
          }),
        reset() {},
      };
      registry.registerMetric(collector as unknown as Metric);
    },
    histogram(name, help, value) {
      // A prom-client collector: its Histogram can only observe() values one by one, and the part
      // already counts them in fixed buckets without allocating.
      const collector = {
        name,
        help,
        type: 'histogram',
        aggregator: 'sum',
        // Not `async`-deferred: read() runs during the scrape's synchronous pass like a collect().
        get: () => Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values: histogramValues(name, value(read())) }),
        reset() {},
      };
      registry.registerMetric(collector as unknown as Metric);
    },
  };
}

/** The sample lines of one histogram series (`labels` on each, plus `le` on the buckets). */
export function histogramValues(
  name: string,
  h: CumulativeHistogram,
  labels: Labels = {},
): { metricName: string; labels: Labels; value: number }[] {
  const values = h.bounds.map((le, i): { metricName: string; labels: Labels; value: number } => ({
    metricName: `${name}_bucket`,
    labels: { ...labels, le: String(le) },
    value: h.cumulative[i]!,
  }));
  values.push(
    { metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count },
    { metricName: `${name}_sum`, labels, value: h.sum },
    { metricName: `${name}_count`, labels, value: h.count },
  );
  return values;
}

/** One series per entry of a record, labelled `labelName`. */
export const byLabel = (labelName: string, values: Record<string, number>): Samples =>
  Object.entries(values).map(([label, v]) => [{ [labelName]: label }, v] as const);
