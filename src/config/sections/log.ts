// Options of log shipping (src/log): each LOG_SHIP_* variable is one of createLogShipper's library
// options, declared once in src/log/options.ts and used here as it is. With LOG_SHIP_URL unset the
// gateway ships nothing and creates no shipper.
import { logShipSpecs as s } from '../../log/options.js';
import type { LogShipperOptions } from '../../log/types.js';
import { option, type OptionValue } from '../options.js';

// Keys name the shipping: the logger redacts every secret option under its key, and a key `url`
// would hide every request URL in the log.
export const logOptions = {
  shipUrl: option(s.url),
  format: option(s.format),
  maxBytes: option(s.maxBytes),
  maxAge: option(s.maxAge),
  batch: option(s.batch),
  concurrency: option(s.concurrency),
  flushInterval: option(s.flushInterval),
  timeout: option(s.timeout),
  retries: option(s.retries),
  breakDuration: option(s.breakDuration),
  index: option(s.index),
  labels: option(s.labels),
  shipAuthorization: option(s.authorization),
  spillDir: option(s.spillDir),
  spillMaxBytes: option(s.spillMaxBytes),
};

type LogConfig = { [K in keyof typeof logOptions]: OptionValue<(typeof logOptions)[K]> };

/** createLogShipper's options from the configuration, or undefined when LOG_SHIP_URL is unset. */
export function logShipperOptions(c: LogConfig): LogShipperOptions | undefined {
  const { shipUrl, shipAuthorization, ...rest } = c;
  if (!shipUrl) return undefined;
  return { ...rest, url: shipUrl, authorization: shipAuthorization };
}
