// Options of the access log and the log output format, declared once: createAccessLog and the
// pretty formatter take these values, and the gateway's configuration (src/config/sections/server.ts)
// wraps the very same specs.
import { bool, oneOf } from '../options/spec.js';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const observeSpecs = {
  logFormat: oneOf({
    env: 'LOG_FORMAT',
    doc: 'json: one JSON object a line (for machines and log shipping); pretty: one readable line each, for a person at a terminal. Lines shipped with LOG_SHIP_URL stay JSON.',
    default: 'json',
    values: LOG_FORMATS,
  }),
  accessLog: bool({
    env: 'ACCESS_LOG',
    doc: 'One log line per proxied, image and gateway request: method, route, path, status, duration, bytes, upstream time, cache outcome, request id.',
    default: true,
  }),
  accessLogQuery: bool({
    env: 'ACCESS_LOG_QUERY',
    doc: 'Log query values too (credential-like values still hidden). Off: paths keep parameter names only (`/image?url=&w=`).',
    default: false,
  }),
  accessLogProbes: bool({
    env: 'ACCESS_LOG_PROBES',
    doc: 'Also log health probes and metric scrapes (/health, /health/live, /health/ready, /metrics). Scrapes refused 401 (METRICS_TOKEN) are logged either way.',
    default: false,
  }),
};
