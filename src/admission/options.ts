// createAdmission's options, declared once: the gateway's configuration (src/config/sections/proxy.ts)
// wraps admissionSpecs, and createAdmission validates its arguments with the same objects.
import { duration, num, memoryMonitor, optionsPlace, percent, resolveOptions } from '../options/spec.js';
import { HeadroomError } from '../errors.js';
import type { PressureSource } from '../monitor/types.js';

/** Options the gateway configures too (MAX_CONCURRENT_CONNECTIONS, PROXY_QUEUE_*, MEMORY_THRESHOLD_PERCENT). */
export const admissionSpecs = {
  maxConcurrent: num({
    env: 'MAX_CONCURRENT_CONNECTIONS',
    doc: 'Upstream requests in flight at once (proxy and image fetches).',
    default: 20,
    min: 1,
    max: 100_000,
    integer: true,
  }),
  maxPerClient: num({
    env: 'MAX_CONCURRENT_PER_CLIENT',
    doc: "Upstream requests one client address may hold at once, in flight or queued; more get 429 (HEADROOM_CLIENT_LIMIT). Keeps one client's slow uploads or downloads from holding every slot. The address is the socket's, or X-Forwarded-For's per TRUST_PROXY: behind a load balancer set TRUST_PROXY, or every client counts as the balancer. 0 = no per-client limit.",
    default: 0,
    min: 0,
    max: 100_000,
    integer: true,
  }),
  queueSize: num({
    env: 'PROXY_QUEUE_SIZE',
    doc: 'Requests that may wait for a slot; more get 503.',
    default: 100,
    min: 0,
    max: 1_000_000,
    integer: true,
  }),
  queueTimeout: duration({
    env: 'PROXY_QUEUE_TIMEOUT',
    doc: 'Longest wait in the queue before 503.',
    default: 5_000,
    min: 1,
    max: 600_000,
  }),
  memoryThresholdPercent: percent({
    env: 'MEMORY_THRESHOLD_PERCENT',
    doc: 'Circuit breaker opens when heap used reaches this percent (1–100) of the V8 heap limit.',
    default: 80,
    min: 1,
    max: 100,
  }),
};

/** Library-only options of createAdmission (no environment variable; not in the configuration). */
export const admissionLibrarySpecs = {
  hysteresisPercent: num({
    doc: 'The breaker closes again below the threshold minus this many percentage points.',
    default: 5,
    min: 0,
    max: 99,
  }),
  sampleInterval: duration({ doc: "Period of the breaker's heap sample.", default: 100, min: 1, max: 60_000 }),
  retryAfter: num({ doc: 'Seconds sent in Retry-After with every rejection.', default: 1, min: 0, max: 86_400, integer: true }),
  shedFraction: num({
    doc: 'Share of tracked in-flight responses shed when the monitor turns critical (at least one).',
    default: 0.25,
    min: 0,
    max: 1,
  }),
  monitor: memoryMonitor<PressureSource>('Critical opens the breaker and sheds responses.'),
};

const specs = { ...admissionSpecs, ...admissionLibrarySpecs };

/**
 * Validates createAdmission's options: one HEADROOM_CONFIG_INVALID naming every bad one (as
 * createProxy's `limits.…` when it hands them on with nestedOptions).
 */
export function resolveAdmissionOptions<O extends object>(options: O | undefined) {
  // heapPercent: a test hook (a function the breaker samples instead of V8), not an option.
  const o = resolveOptions('createAdmission', specs, options, ['heapPercent']);
  if (o.hysteresisPercent >= o.memoryThresholdPercent) {
    const at = optionsPlace('createAdmission', options);
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${at.factory}: ${at.prefix}hysteresisPercent=${o.hysteresisPercent}: must be below ${at.prefix}memoryThresholdPercent (${o.memoryThresholdPercent}), or the breaker never closes`,
    );
  }
  const perClient = maxPerClientProblem(o.maxConcurrent, o.maxPerClient, 'maxConcurrent');
  if (perClient) {
    const at = optionsPlace('createAdmission', options);
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${at.factory}: ${at.prefix}maxPerClient=${o.maxPerClient}: ${perClient}`);
  }
  return o;
}

/** The per-client limit's rule against the total (`totalName` names the total as the caller knows it). */
export function maxPerClientProblem(maxConcurrent: number, maxPerClient: number, totalName: string): string | undefined {
  return maxPerClient > maxConcurrent ? `must be at most ${totalName} (${maxConcurrent}), or it never applies; 0 turns it off` : undefined;
}
