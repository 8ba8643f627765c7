// The gateway's pino logger. Secrets are redacted wherever they might appear.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type { FastifyRequest } from 'fastify';
import { allOptions } from '../config/schema.js';
import { redactUrl } from '../options/redact.js';

// Every option marked secret, under its config path, its key and its variable name.
const secretPaths = allOptions
  .filter((o) => o.option.secret)
  .flatMap(({ section, key, option }) => [`config.${section}.${key}`, key, `*.${key}`, option.env, `*.${option.env}`]);

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'token',
  '*.token',
  ...secretPaths,
];

/** Fastify's request serializer with the URL's credentials hidden (see redactUrl). */
export function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

const urlField = (v: unknown): unknown => (typeof v === 'string' ? redactUrl(v) : v);

/** Fields that hold URLs (or cache keys made of them) in our log lines. */
export const SERIALIZERS = { req: serializeRequest, url: urlField, upstream: urlField, demoOrigin: urlField, key: urlField };

/** `logger` with the request serializer, for a logger that did not come from createLogger. */
export const withRequestSerializer = (logger: Logger): Logger => logger.child({}, { serializers: { req: serializeRequest } });

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: SERIALIZERS, base: { name: 'headroom' } },
    destination,
  );
}
