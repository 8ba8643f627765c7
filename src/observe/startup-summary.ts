// The gateway's one-line start-up summary: where it listens, what it proxies, which L2 it uses,
// whether the admin API is on and /metrics asks for a token, which image origins it fetches, and
// the memory it lives in.
import { formatBytes } from '../monitor/report.js';
import { redactUrl } from '../options/redact.js';

export interface StartupFacts {
  url: string;
  upstream: string;
  /** The cache's second tier: redis, disk or none. */
  l2: string;
  admin: boolean;
  /** METRICS_TOKEN set: /metrics answers only a scraper sending it (a misspelt variable leaves it open: said here). */
  metricsToken: boolean;
  imageOrigins: readonly string[];
  /** V8 heap limit, bytes. */
  heapLimit: number;
  /** cgroup memory.max, bytes; null when the process is not limited. */
  containerLimit: number | null;
  version?: string;
}

/** Image origins named in the line; the fields keep them all. */
const SHOWN_ORIGINS = 5;

/** Fields and message of the summary line. */
export function startupSummary(f: StartupFacts): { fields: Record<string, unknown>; msg: string } {
  const origins =
    f.imageOrigins.length === 0
      ? 'none'
      : f.imageOrigins.slice(0, SHOWN_ORIGINS).join(', ') +
        (f.imageOrigins.length > SHOWN_ORIGINS ? ` (+${f.imageOrigins.length - SHOWN_ORIGINS} more)` : '');
  const msg =
    `headroom${f.version ? ` ${f.version}` : ''} listening on ${f.url}: upstream ${redactUrl(f.upstream)}, L2 ${f.l2}, ` +
    `admin ${f.admin ? 'on' : 'off'}, metrics ${f.metricsToken ? 'token' : 'open'}, image origins ${origins}, heap limit ${formatBytes(f.heapLimit)}, ` +
    `container limit ${f.containerLimit === null ? 'none' : formatBytes(f.containerLimit)}`;
  return {
    fields: {
      url: f.url,
      pid: process.pid,
      upstream: f.upstream,
      l2: f.l2,
      admin: f.admin,
      metrics: f.metricsToken ? 'token' : 'open',
      imageOrigins: f.imageOrigins,
      heapLimit: f.heapLimit,
      containerLimit: f.containerLimit,
      version: f.version,
    },
    msg,
  };
}
