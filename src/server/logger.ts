// The gateway's pino logger. Secrets are redacted wherever they might appear.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type { FastifyRequest } from 'fastify';
import { allOptions, type Config } from '../config/schema.js';
import { logOptions, logShipperOptions } from '../config/sections/log.js';
import { HeadroomError, isHeadroomError } from '../errors.js';
import type { LogShipper } from '../log/types.js';
import { escapeControls } from '../options/printable.js';
import { redactUrl } from '../options/redact.js';
import { createPrettyDestination } from '../observe/pretty.js';

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

export function createLogger(level: LevelWithSilent, destination?: DestinationStream, shipper?: LogShipper): Logger {
  // Every line goes to the destination (stdout by default) and, with LOG_SHIP_URL, to the
  // shipper too; the logger's level filters, so both streams take every level it lets through.
  const dest = shipper
    ? pino.multistream([
        { level: 'trace', stream: destination ?? pino.destination(1) },
        { level: 'trace', stream: shipper },
      ])
    : destination;
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: SERIALIZERS, base: { name: 'headroom' } }, dest);
}

/**
 * The gateway's logger from the configuration: `destination` (stdout by default) in LOG_FORMAT
 * and, when LOG_SHIP_URL is set, a log shipper (always JSON). Give both to createGateway, which
 * registers the shipper's metrics and closes it after its own last log line.
 */
export async function createGatewayLogger(
  config: Config,
  destination?: DestinationStream,
): Promise<{ logger: Logger; shipper: LogShipper | undefined }> {
  const options = logShipperOptions(config.log);
  // Loaded only when shipping is on: an idle gateway without LOG_SHIP_URL does not carry it.
  const shipping = options && (await import('../log/shipper.js'));
  let shipper: LogShipper | undefined;
  try {
    shipper = options && shipping ? shipping.createLogShipper(options) : undefined;
  } catch (err) {
    // Every value was checked with the configuration; what only the machine can refuse is the
    // spill directory: said with the variable's name, as the configuration's problems are.
    const dir = options?.spillDir;
    const fsError = isHeadroomError(err) && typeof (err.cause as NodeJS.ErrnoException | undefined)?.code === 'string';
    if (shipping && dir && fsError && err.code === 'HEADROOM_CONFIG_INVALID')
      throw new HeadroomError(
        'HEADROOM_CONFIG_INVALID',
        `${logOptions.spillDir.env}=${escapeControls(dir)}: ${shipping.spillDirProblem(err.cause, dir)}`,
      );
    throw err;
  }
  let out = destination;
  if (config.server.logFormat === 'pretty') {
    // Colours only for a terminal on stdout, and never under NO_COLOR (https://no-color.org).
    const toStdout = destination === undefined || (destination as { fd?: unknown }).fd === 1;
    const color = toStdout && process.stdout.isTTY === true && !process.env.NO_COLOR;
    out = createPrettyDestination(destination ?? pino.destination(1), { color });
  }
  return { logger: createLogger(config.server.logLevel, out, shipper), shipper };
}
