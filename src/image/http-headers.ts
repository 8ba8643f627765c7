// Response headers: strong ETags, Cache-Control with the origin's max-age as floor or ceiling,
// If-None-Match, and the CSP that keeps a served SVG from running scripts.
import { createHash } from 'node:crypto';
import { hash } from './store.js';

export type OriginMaxAgeMode = 'ignore' | 'floor' | 'ceiling';

export const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

export const etagOf = (bytes: Uint8Array): string => `"${createHash('sha1').update(bytes).digest('base64url')}"`;

/** A strong ETag for a streamed original, derived from the origin's strong validator. */
export function originEtag(etag: string | string[] | undefined, length: number | undefined): string | null {
  if (typeof etag !== 'string' || etag.startsWith('W/')) return null;
  return `"o-${hash(`${etag}\n${length ?? ''}`)}"`;
}

/** The origin's max-age in seconds (s-maxage wins; no-store/no-cache/private count as 0). */
export function originMaxAge(cacheControl: string | string[] | undefined): number | undefined {
  const v = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl;
  if (!v) return undefined;
  if (/(^|,)\s*(no-store|no-cache|private)\s*(,|$)/i.test(v)) return 0;
  const m = /(?:^|,)\s*s-maxage\s*=\s*"?(\d+)/i.exec(v) ?? /(?:^|,)\s*max-age\s*=\s*"?(\d+)/i.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** Seconds clients and our cache may keep an image. */
export function effectiveMaxAge(configured: number, origin: number | undefined, mode: OriginMaxAgeMode): number {
  if (origin === undefined || mode === 'ignore') return configured;
  return mode === 'floor' ? Math.max(configured, origin) : Math.min(configured, origin);
}

/**
 * Seconds an image served from the cache is still fresh: its max-age less the time since its source
 * was fetched, so that a client or CDN never keeps it past what the origin allowed (a hit at 59 min of
 * a 1-h max-age says max-age=60, not 3600 again).
 */
export function freshFor(meta: { maxAge: number; fetchedAt: number }, now = Date.now()): number {
  if (!Number.isFinite(meta.fetchedAt)) return meta.maxAge;
  return Math.max(0, Math.min(meta.maxAge, meta.maxAge - Math.floor((now - meta.fetchedAt) / 1000)));
}

export const cacheControl = (maxAge: number): string => (maxAge > 0 ? `public, max-age=${maxAge}` : 'no-cache');
