// Validates the /image query. Every message names the parameter and what it accepts, so a caller
// can fix the request without reading the docs.
import { HeadroomError } from '../errors.js';
import type { OutputFormat } from './transform.js';

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export const FORMATS = ['webp', 'avif', 'jpeg', 'png', 'auto'] as const;
export type Fit = (typeof FITS)[number];
export type RequestedFormat = (typeof FORMATS)[number];
const KNOWN = ['url', 'w', 'h', 'fit', 'q', 'format'];

export interface ImageParams {
  url: string;
  w?: number;
  h?: number;
  fit?: Fit;
  q?: number;
  format?: RequestedFormat;
  /** Any transform parameter given; without one the original bytes are served. */
  transform: boolean;
}

const bad = (message: string): HeadroomError => new HeadroomError('HEADROOM_BAD_REQUEST', message);

function single(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${name} must be given once`);
  return v;
}

/** `dimension`: above max is HEADROOM_IMAGE_TOO_MANY_PIXELS naming IMAGE_MAX_OUTPUT_DIMENSION, however many digits. */
function int(query: Record<string, unknown>, name: string, min: number, max: number, dimension = false): number | undefined {
  const s = single(query, name);
  if (s === undefined) return undefined;
  const range = `${name} must be an integer between ${min} and ${max}`;
  if (!/^\d+$/.test(s)) throw bad(`${range}, got "${s.slice(0, 32)}"`);
  const n = Number(s);
  const shown = s.length > 12 ? `${s.slice(0, 12)}…` : s;
  if (n < min) throw bad(`${range}, got ${shown}`);
  if (n > max) {
    if (dimension) throw new HeadroomError('HEADROOM_IMAGE_TOO_MANY_PIXELS', `${range} (IMAGE_MAX_OUTPUT_DIMENSION), got ${shown}`);
    throw bad(`${range}, got ${shown}`);
  }
  return n;
}

function choice<T extends string>(query: Record<string, unknown>, name: string, values: readonly T[]): T | undefined {
  const s = single(query, name);
  if (s === undefined) return undefined;
  const v = values.find((x) => x === s);
  if (!v) throw bad(`${name} must be one of ${values.join(', ')}, got "${s.slice(0, 32)}"`);
  return v;
}

export function parseParams(query: Record<string, unknown>, maxOutputDimension: number, metaOnly = false): ImageParams {
  // A library caller's mistake (query: null, a string) is a 400 naming it, not a TypeError.
  if (typeof query !== 'object' || query === null || Array.isArray(query))
    throw bad(
      `the query must be an object of parameters (url, w, h, …), got ${query === null ? 'null' : Array.isArray(query) ? 'an array' : typeof query}`,
    );
  const known = metaOnly ? ['url'] : KNOWN;
  const unknown = Object.keys(query).find((k) => !known.includes(k));
  if (unknown !== undefined) throw bad(`unknown query parameter "${unknown.slice(0, 32)}"; accepted: ${known.join(', ')}`);
  const url = single(query, 'url');
  if (!url) throw bad('url is required: an absolute http or https URL of the source image');
  if (url.length > 4096) throw bad('url must be at most 4096 characters');
  const p: ImageParams = {
    url,
    w: int(query, 'w', 1, maxOutputDimension, true),
    h: int(query, 'h', 1, maxOutputDimension, true),
    fit: choice(query, 'fit', FITS),
    q: int(query, 'q', 1, 100),
    format: choice(query, 'format', FORMATS),
    transform: false,
  };
  p.transform = p.w !== undefined || p.h !== undefined || p.fit !== undefined || p.q !== undefined || p.format !== undefined;
  return p;
}

/** libwebp's largest width and height; IMAGE_MAX_OUTPUT_DIMENSION may be set up to 16384. */
export const WEBP_MAX_DIMENSION = 16_383;

/** The largest output width and height in `format`. */
export const maxDimensionFor = (format: OutputFormat, maxOutputDimension: number): number =>
  format === 'webp' ? Math.min(maxOutputDimension, WEBP_MAX_DIMENSION) : maxOutputDimension;

/** Refuses a w or h beyond what WebP can encode (possible when IMAGE_MAX_OUTPUT_DIMENSION is 16384). */
export function checkWebpSize(p: ImageParams, format: OutputFormat): void {
  if (format !== 'webp') return;
  for (const name of ['w', 'h'] as const) {
    const n = p[name];
    if (n !== undefined && n > WEBP_MAX_DIMENSION)
      throw new HeadroomError(
        'HEADROOM_IMAGE_TOO_MANY_PIXELS',
        `${name} must be at most ${WEBP_MAX_DIMENSION} for a WebP output (the WebP format's limit), got ${n}; ask for a smaller size or another format`,
      );
  }
}
