// Options of the capped body capture, declared once (the one home per option): createBodyCapture
// validates its arguments with these specs. All are library-only: the gateway has its own access
// log (src/observe) and does not capture bodies.
import { bytes, list, optionalObject, resolveOptions, type OptionSpec } from '../options/spec.js';
import { HeadroomError } from '../errors.js';
import type { BodyCaptureOptions, CaptureLogger, CaptureRecord } from './capture-types.js';

export const captureSpecs = {
  maxBytes: bytes({
    doc: 'Most bytes kept of each request body and each response body (text types only); the true size is recorded either way. 0 records sizes only.',
    default: 8 * 1024,
    min: 0,
    max: 1024 ** 2,
  }),
  textTypes: list({
    doc: 'Media types captured besides text/*, JSON, XML, form and JavaScript types (e.g. application/vnd.api+json is already JSON; add application/graphql).',
    default: [],
    item: /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i,
    itemText: 'media types (type/subtype, no parameters)',
    maxItems: 64,
  }),
  logger: optionalObject<CaptureLogger>({
    doc: 'A pino-compatible logger: each request is logged as logger.info(record, message). Or use onCapture.',
    what: 'a logger',
    methods: ['info'],
  }),
} satisfies Record<string, OptionSpec<unknown>>;

export interface ResolvedCaptureOptions {
  maxBytes: number;
  textTypes: ReadonlySet<string>;
  emit: (record: CaptureRecord, message: string) => void;
}

export function resolveCaptureOptions(factory: string, given: BodyCaptureOptions | undefined): ResolvedCaptureOptions {
  const o = resolveOptions(factory, captureSpecs, given, ['onCapture']);
  const onCapture = o.onCapture as unknown;
  if (onCapture !== undefined && typeof onCapture !== 'function')
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${factory}: onCapture must be a function (record, message) => void`);
  if ((o.logger === undefined) === (onCapture === undefined))
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${factory}: give exactly one of logger (a pino-compatible logger with info()) and onCapture (a function (record, message) => void)`,
    );
  const logger = o.logger;
  const emit = logger
    ? (record: CaptureRecord, message: string) => logger.info(record, message)
    : (onCapture as BodyCaptureOptions['onCapture'])!;
  return { maxBytes: o.maxBytes, textTypes: new Set(o.textTypes.map((t) => t.toLowerCase())), emit };
}
