// The RFC 9111 subset the proxy applies as a shared cache: explicit freshness only (s-maxage, then
// max-age; no heuristics), never private/no-store/no-cache responses, Set-Cookie never stored,
// requests with Authorization only when configured or when the response says public/s-maxage/
// must-revalidate (§3.5), Vary honoured (Vary: * is never stored).

export function parseCacheControl(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!value) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const k = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (k)
      out.set(
        k,
        eq === -1
          ? ''
          : part
              .slice(eq + 1)
              .trim()
              .replace(/^"|"$/g, ''),
      );
  }
  return out;
}

const STORABLE_STATUS = new Set([200, 203, 204, 300, 301, 404, 410]);

export interface ResponseFacts {
  status: number;
  cacheControl: string | undefined;
  vary: string | undefined;
  setCookie: boolean;
  /** Age header from the upstream, seconds. */
  age: number;
}

/** Seconds the response stays fresh in a shared cache, or 0 when it must not be stored. */
export function sharedTtl(facts: ResponseFacts, requestHasAuth: boolean, cacheAuthorized: boolean): number {
  if (!STORABLE_STATUS.has(facts.status) || facts.setCookie) return 0;
  if (facts.vary && facts.vary.split(',').some((v) => v.trim() === '*')) return 0;
  const cc = parseCacheControl(facts.cacheControl);
  if (cc.has('no-store') || cc.has('private') || cc.has('no-cache')) return 0;
  const sMax = cc.get('s-maxage');
  const max = sMax ?? cc.get('max-age');
  if (max === undefined) return 0;
  if (requestHasAuth && !cacheAuthorized && !(cc.has('public') || sMax !== undefined || cc.has('must-revalidate'))) return 0;
  const seconds = deltaSeconds(max);
  if (seconds === undefined) return 0;
  return Math.max(0, seconds - facts.age);
}

/** RFC 9111 §1.2.2: the largest delta-seconds a cache has to honour; larger values count as it (68 years). */
const MAX_DELTA_SECONDS = 2 ** 31;

/** A delta-seconds value (digits only: `Age`, `max-age`), capped at 2^31; undefined when it is not one. */
export function deltaSeconds(value: string): number | undefined {
  const v = value.trim();
  if (!/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), MAX_DELTA_SECONDS);
}

/** Request directives that forbid answering from the cache (no-cache, no-store, max-age=0). */
export function requestBypassesCache(cacheControl: string | undefined): boolean {
  if (!cacheControl) return false;
  const cc = parseCacheControl(cacheControl);
  return cc.has('no-cache') || cc.has('no-store') || cc.get('max-age') === '0';
}

/** True when the request would not be stored (response side is decided later). */
export function requestForbidsStore(cacheControl: string | undefined): boolean {
  return cacheControl ? parseCacheControl(cacheControl).has('no-store') : false;
}
