// The verdict from post-GC samples taken after warm-up. Growth is fitted with Theil–Sen (robust to
// a GC or compilation outlier) against requests served and against time, with Sen's rank interval.
// It is judged on a sliding window, the latest half of the post-warm-up samples, so a cache that
// fills early drops out of the evidence as the run goes on, and in rounds: a run stops early only
// when the evidence is clear, otherwise it goes on within its budget and ends `inconclusive`.
import { minPointsForInterval, residualMad, theilSen, type SlopeFit } from './stats.js';

export type Verdict = 'leak' | 'no-leak' | 'inconclusive';

export interface Sample {
  /** ms since the soak started. */
  t: number;
  /** Requests completed so far. */
  requests: number;
  /** Post-GC V8 heap in use, bytes. */
  heapUsed: number;
  /** Post-GC memory outside the heap (Buffers, ArrayBuffers), bytes. */
  external: number;
  /** Post-GC bytes of compiled code in the heap (code and trusted spaces), counted in heapUsed. */
  codeBytes?: number;
  rss?: number;
  fds?: number;
  handles: number;
  /** Duration of the forced GC, ms. */
  gcMs: number;
  warmup: boolean;
}

export interface Thresholds {
  /** A leak grows retained memory (heap + external) by more than this per request. */
  bytesPerRequest: number;
  /** … and by more than this over the judged window (an effect size: tiny, significant drifts are not leaks). */
  minGrowthBytes: number;
  /** No leak when even the interval's upper end adds up to less than this over the window. */
  noLeakBytes: number;
  /** Confidence of the slope interval. */
  confidence: number;
  /** Fewest samples in the judged window. */
  minSamples: number;
}

/** How many times the leak threshold a window may hide per request under the no-leak bound (16 × 16 B: 256 requests by default). */
const HIDDEN_LEAK_FACTOR = 16;

export const DEFAULT_THRESHOLDS: Thresholds = {
  bytesPerRequest: 16,
  minGrowthBytes: 128 * 1024,
  noLeakBytes: 64 * 1024,
  confidence: 0.95,
  minSamples: 8,
};

export interface Judgement {
  verdict: Verdict;
  reason: string;
  /** Retained bytes per request: Theil–Sen slope and interval over the judged window. */
  perRequest?: SlopeFit;
  /** Retained bytes per second, idem. */
  perSecond?: SlopeFit;
  /** Slopes (bytes/request) of the window's older and newer halves (the newer one must also be significant for a leak). */
  halves?: [number, number];
  /** Fitted growth over the window, bytes; and the noise scale (MAD of residuals), bytes. */
  growthBytes?: number;
  noiseBytes?: number;
  window?: { fromMs: number; toMs: number; samples: number; requests: number };
}

// Compiled code is not request data: as new paths are hit, V8 compiles and optimizes them, and
// the gateway measured ~200 KiB of code-space growth over its first minute under load (and
// ±50 KiB of it flushed and recompiled between samples). That growth is taken out of what is judged.
export const retained = (s: Sample): number => s.heapUsed + s.external - (s.codeBytes ?? 0);

const fmt = (n: number): string => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1));

/**
 * The judged window a leak verdict can be reached on: `minSamples`, and a newer half (the window's
 * latter ceil(n/2) samples) with enough points for a finite interval of its own.
 */
export const leakWindowSamples = (t: Thresholds): number => Math.max(t.minSamples, 2 * minPointsForInterval(t.confidence) - 1);

/** "95 % interval lo … hi", or why there is none (too few samples give an unbounded one). */
const intervalText = (fit: SlopeFit, t: Thresholds): string =>
  Number.isFinite(fit.lo) && Number.isFinite(fit.hi)
    ? `${Math.round(t.confidence * 100)} % interval ${fmt(fit.lo)} … ${fmt(fit.hi)}`
    : `too few samples for a ${Math.round(t.confidence * 100)} % interval: ${fit.n}, and ${minPointsForInterval(t.confidence)} with distinct request counts needed`;

/**
 * Judges the samples. `final` is the last round: a borderline case is then `inconclusive`;
 * before it, everything that is not clearly a leak or clearly not one is also `inconclusive`
 * (and the caller goes on measuring).
 */
export function judge(samples: readonly Sample[], t: Thresholds = DEFAULT_THRESHOLDS): Judgement {
  const measured = samples.filter((s) => !s.warmup);
  const window = measured.slice(Math.floor(measured.length / 2));
  if (window.length < t.minSamples)
    return { verdict: 'inconclusive', reason: `not enough samples after warm-up (${window.length} in the window, ${t.minSamples} needed)` };
  const x = window.map((s) => s.requests);
  const y = window.map(retained);
  const perRequest = theilSen(x, y, t.confidence);
  const perSecond = theilSen(
    window.map((s) => s.t / 1000),
    y,
    t.confidence,
  );
  const mid = window.length >> 1;
  const older = theilSen(x.slice(0, mid + 1), y.slice(0, mid + 1)).slope;
  const newerFit = theilSen(x.slice(mid), y.slice(mid), t.confidence);
  const newer = newerFit.slope;
  const requests = x[x.length - 1]! - x[0]!;
  const growthBytes = perRequest.slope * requests;
  const base: Judgement = {
    verdict: 'inconclusive',
    reason: '',
    perRequest,
    perSecond,
    halves: [older, newer],
    growthBytes,
    noiseBytes: residualMad(x, y, perRequest),
    window: { fromMs: window[0]!.t, toMs: window[window.length - 1]!.t, samples: window.length, requests },
  };
  if (requests <= 0) return { ...base, reason: 'no request completed in the window (is the service answering?)' };
  const slopeText = `${fmt(perRequest.slope)} B/request (${intervalText(perRequest, t)})`;
  if (perRequest.hi < t.bytesPerRequest)
    return { ...base, verdict: 'no-leak', reason: `growth ${slopeText} is below the ${t.bytesPerRequest} B/request leak threshold` };
  // A slow service serves few requests, so its per-request interval stays wide, and JIT warm-up
  // alone adds a few KiB. If even the interval's upper end adds up to less than noLeakBytes over
  // the window, nothing this budget could call a leak is growing. But a window of N requests can
  // hide a leak of noLeakBytes / N per request, so the bound speaks only when that is at most
  // HIDDEN_LEAK_FACTOR × the threshold (256 requests by default): a starved run of 11 or 30
  // requests would otherwise pass a leak of kilobytes per request, significant or lost in noise.
  const bound = Math.max(0, perRequest.hi) * requests;
  const significant = perRequest.lo > t.bytesPerRequest;
  if (bound < t.noLeakBytes) {
    const hidden = t.noLeakBytes / requests;
    if (hidden <= HIDDEN_LEAK_FACTOR * t.bytesPerRequest)
      return {
        ...base,
        verdict: 'no-leak',
        reason: `growth ${slopeText} adds up to at most ${fmt(bound / 1024)} KiB over the window's ${requests} requests (< ${t.noLeakBytes / 1024} KiB)`,
      };
    // Under the bound the growth is also under minGrowthBytes: never a leak, only undecided.
    return {
      ...base,
      reason: `growth ${slopeText} adds up to at most ${fmt(bound / 1024)} KiB over the window, but its ${requests} requests could hide ${fmt(hidden)} B/request under the ${t.noLeakBytes / 1024} KiB bound: needs more requests`,
    };
  }
  if (significant) {
    if (growthBytes < t.minGrowthBytes || growthBytes < 4 * base.noiseBytes!)
      return {
        ...base,
        reason: `grows ${slopeText} but only ${fmt(growthBytes / 1024)} KiB over the window (a leak needs ${t.minGrowthBytes / 1024} KiB and 4× the ${fmt(base.noiseBytes! / 1024)} KiB scatter): needs more requests`,
      };
    // A cache filling up decelerates; a leak keeps its pace. Call it a leak only if the newer half
    // still grows at two thirds of the older half's pace (a filling curve with a time constant
    // under ~2.5× the half-window fails this; measured leaks show 0.84 to 1.15).
    if (newer < t.bytesPerRequest || newer < (older * 2) / 3)
      return { ...base, reason: `grows ${slopeText} but slowing down (${fmt(older)} then ${fmt(newer)} B/request): may still plateau` };
    // Warm-up growth (feedback vectors, inline caches, bytecode in the old space) comes in steps as
    // new paths are hit: the whole window's fit can be significant while its newer half alone is
    // not. A leak keeps growing significantly in the newer half too.
    if (!(newerFit.lo > 0))
      return {
        ...base,
        reason: Number.isFinite(newerFit.lo)
          ? `grows ${slopeText} but the newer half of the window alone does not grow significantly (${fmt(newer)} B/request, ${intervalText(newerFit, t)}): may be warm-up`
          : `grows ${slopeText}, but the newer half of the window has too few samples to show it still grows (${intervalText(newerFit, t)}): needs a longer run`,
      };
    return {
      ...base,
      verdict: 'leak',
      reason: `retained memory grows ${slopeText}, ${fmt(growthBytes / 1024)} KiB over ${requests} requests, at a steady pace`,
    };
  }
  return { ...base, reason: `growth ${slopeText} is not clearly above or below ${t.bytesPerRequest} B/request` };
}
