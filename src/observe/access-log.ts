// One access log line per request. By default a path keeps its query parameter names but not
// their values (ACCESS_LOG_QUERY=true logs values, credential-like ones still hidden by
// redactUrl). No header is ever logged, so Authorization, Cookie, Set-Cookie and tokens cannot
// appear. Decided at construction: with ACCESS_LOG=false, write() is a no-op.
import type { Logger } from 'pino';
import { redactUrl } from '../options/redact.js';

/** Routes of probes and scrapes, not logged unless ACCESS_LOG_PROBES=true or refused 401/403 (they still count in metrics). */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/health', '/health/live', '/health/ready', '/metrics']);

/** Longest path logged, characters; a longer one is cut and ends in '…'. */
export const MAX_LOGGED_PATH = 2048;

export interface AccessLogOptions {
  logger: Logger;
  /** ACCESS_LOG. */
  enabled: boolean;
  /** ACCESS_LOG_QUERY: log query values. */
  query: boolean;
  /** ACCESS_LOG_PROBES: log probes and scrapes too. */
  probes: boolean;
}

export interface AccessEntry {
  reqId: string;
  method: string;
  /** Route template (bounded: also the metrics label). */
  route: string;
  /** The request target as received (path and query). */
  url: string;
  status: number;
  /** Request to response close, ms. */
  ms: number;
  /** Request body bytes. */
  bytesIn: number;
  /** Bytes written to the client connection for this response, status line and headers included. */
  bytesOut: number;
  /** hit, miss, request, bypass, method (Cache-Status), when a cache took part. */
  cache: string | undefined;
  /** Upstream time to response headers, ms, when an upstream answered. */
  upstreamMs: number | undefined;
  /** The response did not complete (client gone, or the body cut off). */
  aborted: boolean;
  /** The client's address (TRUST_PROXY applied, as Fastify's request.ip). */
  client: string;
}

export interface AccessLog {
  /** ACCESS_LOG: false writes nothing. */
  readonly enabled: boolean;
  /** Whether a request of this route and status gets a line (so the caller works out its fields only then). */
  wants(route: string, status: number): boolean;
  write(entry: AccessEntry): void;
}

/**
 * `url` without query values (names kept; bare `?flag` segments dropped: they may be values), and
 * with the password of an absolute-form target's user:password@ hidden.
 */
export function pathWithoutValues(url: string): string {
  if (url.includes('@')) url = redactUrl(url);
  const q = url.indexOf('?');
  if (q === -1) return url;
  let out = url.slice(0, q + 1);
  let first = true;
  for (const part of url.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out += `${first ? '' : '&'}${part.slice(0, eq)}=`;
    first = false;
  }
  return first ? url.slice(0, q) : out;
}

const bounded = (s: string): string => (s.length > MAX_LOGGED_PATH ? `${s.slice(0, MAX_LOGGED_PATH - 1)}…` : s);

const round = (ms: number): number => Math.round(ms * 100) / 100;

export function createAccessLog(o: AccessLogOptions): AccessLog {
  if (!o.enabled) return { enabled: false, wants: () => false, write() {} };
  const { logger } = o;
  const pathOf = o.query ? (url: string) => redactUrl(url) : pathWithoutValues;
  // A refused scrape (METRICS_TOKEN: 401) is no routine probe: someone may be guessing the token.
  const wants = (route: string, status: number): boolean => o.probes || !PROBE_ROUTES.has(route) || status === 401 || status === 403;
  return {
    enabled: true,
    wants,
    write(e) {
      if (!wants(e.route, e.status)) return;
      const path = bounded(pathOf(e.url));
      const ms = round(e.ms);
      const line = {
        reqId: e.reqId,
        method: e.method,
        route: e.route,
        path,
        status: e.status,
        ms,
        bytesIn: e.bytesIn,
        bytesOut: e.bytesOut,
        cache: e.cache,
        upstreamMs: e.upstreamMs === undefined ? undefined : round(e.upstreamMs),
        aborted: e.aborted || undefined,
        client: e.client,
      };
      const msg = `${e.method} ${path} ${e.status} ${ms}ms`;
      if (e.status >= 500) logger.warn(line, msg);
      else logger.info(line, msg);
    },
  };
}
