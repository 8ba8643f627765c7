// The cache's answer as response headers: RFC 9211 Cache-Status (`headroom; hit`, `headroom;
// fwd=miss`, …) and the informal X-Cache: HIT|MISS that people grep for. Shared by the proxy's
// response cache and the image service; each pair list is built once and only ever read.

/**
 * How a cache took part in a response: `hit`, or the RFC 9211 `fwd` reason it went to the origin —
 * `miss` (looked, nothing fresh), `request` (the request's Cache-Control said no-cache),
 * `bypass` (the URL is known to answer uncacheably, so the cache was not asked), `method`
 * (not GET/HEAD).
 */
export type CacheOutcome = 'hit' | 'miss' | 'request' | 'bypass' | 'method';

export const CACHE_OUTCOMES: readonly CacheOutcome[] = ['hit', 'miss', 'request', 'bypass', 'method'];

/** The name a response cache gives itself in Cache-Status. */
export const CACHE_STATUS_NAME = 'headroom';

const pairs = (outcome: CacheOutcome): readonly string[] =>
  Object.freeze([
    'cache-status',
    outcome === 'hit' ? `${CACHE_STATUS_NAME}; hit` : `${CACHE_STATUS_NAME}; fwd=${outcome}`,
    'x-cache',
    outcome === 'hit' ? 'HIT' : 'MISS',
  ]);

/** Flat [name, value, …] header pairs for each outcome. */
export const CACHE_STATUS_HEADERS: Readonly<Record<CacheOutcome, readonly string[]>> = Object.freeze(
  Object.fromEntries(CACHE_OUTCOMES.map((o) => [o, pairs(o)])) as Record<CacheOutcome, readonly string[]>,
);

/** The outcome an X-Cache value stands for (for logging a response's header), or undefined. */
export function outcomeOfXCache(value: unknown): 'hit' | 'miss' | undefined {
  return value === 'HIT' ? 'hit' : value === 'MISS' ? 'miss' : undefined;
}
