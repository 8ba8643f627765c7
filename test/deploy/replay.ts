// Series for `promtool test rules`: what a gateway's /metrics would have shown Prometheus, scrape by
// scrape, written in promtool's input notation (one value per scrape interval).
export const SCRAPE_SECONDS = 15;
export const MiB = 2 ** 20;

/** `metric{job="headroom",instance="…",…}`: one gateway instance's series. */
export function seriesName(metric: string, instance: string, labels: Record<string, string> = {}): string {
  const all = { job: 'headroom', instance, ...labels };
  return `${metric}{${Object.entries(all)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

/** The values at every scrape from 0 to `minutes` (inclusive) of `at(seconds)`. */
export function scrapes(minutes: number, at: (seconds: number) => number): string {
  const n = (minutes * 60) / SCRAPE_SECONDS;
  return Array.from({ length: n + 1 }, (_, i) => {
    const v = at(i * SCRAPE_SECONDS);
    return Number.isNaN(v) ? 'NaN' : String(Math.round(v * 1e6) / 1e6);
  }).join(' ');
}

/** A deterministic noise in [-1, 1] (the same run after run, so a failure can be replayed). */
export function noise(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
}

/**
 * A V8 heap under steady load: the used heap climbs from the post-GC floor by `climb` bytes in each
 * `gcSeconds` and drops back at every major GC. The post-GC gauge only changes at a GC (the gateway
 * exports the heap left by the most recent one), with up to ±`jitter` bytes of noise.
 */
export function gcSawtooth(opts: { floor: (seconds: number) => number; climb: number; gcSeconds: number; jitter: number }): {
  used: (seconds: number) => number;
  afterGc: (seconds: number) => number;
} {
  const lastGc = (s: number): number => Math.floor(s / opts.gcSeconds) * opts.gcSeconds;
  const afterGc = (s: number): number => opts.floor(lastGc(s)) + opts.jitter * noise(lastGc(s) / opts.gcSeconds + 1);
  return {
    afterGc,
    used: (s) => afterGc(s) + (opts.climb * (s - lastGc(s))) / opts.gcSeconds,
  };
}
