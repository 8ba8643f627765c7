// The gateway's pino logger. Secrets are redacted wherever they might appear.
import pino, { type Logger, type LevelWithSilent } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'config.server.adminToken',
  'config.proxy.upstreamToken',
  '*.adminToken',
  '*.upstreamToken',
  '*.token',
];

export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { name: 'headroom' } }, destination);
}
