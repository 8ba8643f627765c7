// Options of alerts (src/observe/alerts): each ALERT_* variable is one of createAlerter's library
// options, declared once in src/observe/alerts/options.ts and used here as it is. With
// ALERT_WEBHOOK_URL unset the gateway creates no alerter.
import { alertSpecs as s } from '../../observe/alerts/options.js';
import type { AlerterOptions } from '../../observe/alerts/types.js';
import { option, type OptionValue } from '../options.js';

// Keys name the webhook: the logger redacts every secret option under its key, so a key `url`
// or `secret` would hide unrelated fields in the log.
export const alertOptions = {
  webhookUrls: option(s.webhookUrls),
  format: option(s.format),
  hmacSecret: option(s.hmacSecret),
  checkInterval: option(s.checkInterval),
  resolveAfter: option(s.resolveAfter),
  heapForecast: option(s.heapForecast),
  eventLoopP99: option(s.eventLoopP99),
  shedRate: option(s.shedRate),
  timeout: option(s.timeout),
  retries: option(s.retries),
  queueSize: option(s.queueSize),
  queueBytes: option(s.queueBytes),
};

type AlertConfig = { [K in keyof typeof alertOptions]: OptionValue<(typeof alertOptions)[K]> };

/** createAlerter's options from the configuration (without the monitor and callbacks), or undefined when ALERT_WEBHOOK_URL is unset. */
export function alerterOptions(c: AlertConfig): AlerterOptions | undefined {
  return c.webhookUrls.length === 0 ? undefined : { ...c };
}
