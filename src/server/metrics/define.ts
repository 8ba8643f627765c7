// Builds a part's headroom_* metrics from its stats(), read once per scrape: a part's stats()
// can be costly (the proxy's sorts its latency ring), and one scrape reads every metric family.
import { Counter, Gauge, type Registry } from 'prom-client';

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
}

export function partMetrics<S>(registry: Registry, stats: () => S): PartMetrics<S> {
  const registers = [registry];
  const read = oncePerScrape(stats);
  return {
    gauge(name, help, value) {
      new Gauge({ name, help, registers, collect() {
        this.set(value(read()) ?? Number.NaN);
      } });
    },
    counter(name, help, value) {
      new Counter({ name, help, registers, collect() {
        this.reset();
        this.inc(value(read()));
      } });
    },
    labelled(kind, name, help, labelNames, samples) {
      if (kind === 'counter') {
        new Counter({ name, help, labelNames, registers, collect() {
          this.reset();
          for (const [labels, v] of samples(read())) this.inc(labels, v);
        } });
      } else {
        new Gauge({ name, help, labelNames, registers, collect() {
          this.reset();
          for (const [labels, v] of samples(read())) this.set(labels, v);
        } });
      }
    },
  };
}

/** One series per entry of a record, labelled `labelName`. */
export const byLabel = (labelName: string, values: Record<string, number>): Samples =>
  Object.entries(values).map(([label, v]) => [{ [labelName]: label }, v] as const);
