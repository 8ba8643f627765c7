// The page's files: read and gzipped once, on the first request, then served from memory with an
// ETag (a reload costs a 304) and the dashboard's security headers. Only the names listed here
// are served; nothing is looked up on disk by a path from the URL.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { etagMatches } from '../../cache/etag.js';
import type { PlainResponse } from '../../toolkit/response.js';
import here from './here.cjs';

const { staticDir, uplotFile } = here;

/**
 * No inline script or style, nothing from another origin; data comes from the same origin with
 * fetch(). uPlot sets element styles through the CSSOM, which style-src does not restrict.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const FILES: Record<string, { path: () => string; type: string }> = {
  '': { path: () => join(staticDir, 'index.html'), type: 'text/html; charset=utf-8' },
  'app.js': { path: () => join(staticDir, 'app.js'), type: JS },
  'charts.js': { path: () => join(staticDir, 'charts.js'), type: JS },
  'format.js': { path: () => join(staticDir, 'format.js'), type: JS },
  'feed.js': { path: () => join(staticDir, 'feed.js'), type: JS },
  'dashboard.css': { path: () => join(staticDir, 'dashboard.css'), type: CSS },
  'uPlot.iife.min.js': { path: () => uplotFile('uPlot.iife.min.js'), type: JS },
  'uPlot.min.css': { path: () => uplotFile('uPlot.min.css'), type: CSS },
};

/** The files the page loads besides itself (the size budget test sums these). */
export const ASSET_NAMES: readonly string[] = Object.keys(FILES).filter((n) => n !== '');

interface Asset {
  gzip: Buffer;
  etag: string;
  type: string;
}

/** True when `accept-encoding` takes gzip (or *) with a non-zero q-value. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let any = false;
  for (const item of header.toLowerCase().split(',')) {
    const [token = '', ...params] = item.split(';').map((s) => s.trim());
    const q = params.map((p) => /^q\s*=\s*([\d.]+)$/.exec(p)).find(Boolean);
    const ok = q ? Number(q[1]) > 0 : true;
    if (token === 'gzip' || token === 'x-gzip') return ok;
    if (token === '*') any = ok;
  }
  return any;
}

export interface AssetRequest {
  acceptEncoding?: string;
  ifNoneMatch?: string;
}

export interface DashboardAssets {
  /** The file `name` ('' for the page), or undefined when there is no such file. */
  respond(name: string, request: AssetRequest): PlainResponse | undefined;
}

/** `apiBase` is written into the page (a data attribute), so each mount finds its admin API. */
export function createAssets(apiBase: string): DashboardAssets {
  let loaded: Map<string, Asset> | undefined;
  const load = (): Map<string, Asset> => {
    const out = new Map<string, Asset>();
    for (const [name, f] of Object.entries(FILES)) {
      let body = readFileSync(f.path());
      if (name === '') body = Buffer.from(body.toString('utf8').replace('{{API_BASE}}', apiBase));
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      out.set(name, { gzip: gzipSync(body, { level: 9 }), etag, type: f.type });
    }
    return out;
  };
  return {
    respond(name, request) {
      if (!Object.hasOwn(FILES, name)) return undefined;
      const asset = (loaded ??= load()).get(name)!;
      const gzip = acceptsGzip(request.acceptEncoding);
      // The gzip and the plain bytes are two representations: each has its own strong ETag
      // (RFC 9110 §8.8.3), so a shared cache never answers one client's If-None-Match with the other's.
      const etag = gzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag;
      const headers: Record<string, string> = {
        ...SECURITY_HEADERS,
        'content-type': asset.type,
        'cache-control': 'no-cache',
        etag,
        vary: 'accept-encoding',
      };
      if (etagMatches(request.ifNoneMatch, etag)) return { status: 304, headers, body: '' };
      if (gzip) return { status: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body: '', bytes: asset.gzip };
      // Every browser takes gzip: the rare client that does not (curl without --compressed) gets it unpacked on the fly.
      return { status: 200, headers, body: '', bytes: gunzipSync(asset.gzip) };
    },
  };
}
