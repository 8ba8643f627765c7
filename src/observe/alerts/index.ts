// headroom-memory/alerts: threshold alerts delivered to webhooks (generic JSON, Slack,
// Alertmanager), signed with HMAC when a secret is set. See docs/alerts.md.
export { createAlerter } from './alerter.js';
export { alertSpecs, resolveAlerterOptions, ALERT_FORMATS } from './options.js';
export { l2AvailableFrom, shedCountFrom } from './sources.js';
export { verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signature.js';
export {
  ALERT_NAMES,
  ALERT_DROP_REASONS,
  type Alerter,
  type AlerterOptions,
  type AlertEvent,
  type AlertFormat,
  type AlertMonitor,
  type AlertName,
  type AlertSeverity,
  type AlertStats,
  type AlertDropReason,
  type AlertUnit,
} from './types.js';
export { registerAlertMetrics } from '../../metrics/alerts.js';
export * from '../../errors-entry.js';
