// The Fastify plugin's own options (the rest are createHeadroom's). One home each: default, what
// is accepted, doc line; docs/frameworks/fastify.md lists them (a test keeps it in step).
import type { RegisterOptions } from 'fastify';
import {
  bool,
  FASTIFY_REGISTER_KEYS,
  nestedOptions,
  optionalRoutePath,
  pathOrOff,
  resolveOptions,
  type SpecValues,
} from '../../options/spec.js';
import { HEADROOM_OPTION_KEYS, type HeadroomOptions } from '../../toolkit/headroom.js';
import { proxySpecs } from '../../proxy/options.js';
import { refuseOverlappingPaths } from '../../toolkit/paths.js';

// Fastify's register `prefix` has no effect of its own on a plugin that runs in its parent's scope
// (as this one does, for its hooks and decorators): the plugin honours it itself.
const prefix = optionalRoutePath({
  doc: "Fastify's register prefix, before every route the plugin mounts (health, metrics, admin, proxy, image).",
  default: undefined,
  defaultText: 'none',
  example: '/ops',
});

export const fastifyPluginSpecs = {
  prefix,
  healthPath: pathOrOff({ doc: 'Health routes: the path, its /live and /ready probes; false = not mounted.', default: '/health' }),
  metricsPath: pathOrOff({ doc: 'Prometheus scrape path; false = not mounted.', default: '/metrics' }),
  adminPath: pathOrOff({ doc: 'Admin API (ANY <path>/*); false = not mounted.', default: '/admin' }),
  proxyRoutes: bool({ doc: "Mount the proxy at its prefix, through the app's hooks (when `proxy` is set).", default: true }),
  imageRoutes: bool({ doc: "Mount GET /image and /image/meta, through the app's hooks (when `image` is set).", default: true }),
};

const LABEL = 'headroom (Fastify plugin)';

/**
 * The plugin's options checked as one object (its own, createHeadroom's and Fastify's register
 * keys; anything else is refused with a "did you mean"), split into the plugin's values and the
 * options handed to createHeadroom (whose messages then name the plugin).
 */
export function resolvePluginOptions(options: HeadroomOptions | undefined): {
  plugin: SpecValues<typeof fastifyPluginSpecs>;
  /** Fastify's register options handed to each route group the plugin registers (Fastify checks them). */
  register: Pick<RegisterOptions, 'logLevel' | 'logSerializers'>;
  headroom: HeadroomOptions;
} {
  const o = resolveOptions(LABEL, fastifyPluginSpecs, options, [...HEADROOM_OPTION_KEYS, ...FASTIFY_REGISTER_KEYS]);
  const given = (options ?? {}) as HeadroomOptions;
  refuseOverlappingPaths(LABEL, {
    healthPath: o.healthPath,
    metricsPath: o.metricsPath,
    adminPath: o.adminPath,
    'proxy.prefix': given.proxy && o.proxyRoutes ? (given.proxy.prefix ?? proxySpecs.prefix.default) : undefined,
    image: given.image && o.imageRoutes ? '/image' : undefined,
  });
  const own = new Set<string>([...Object.keys(fastifyPluginSpecs), ...FASTIFY_REGISTER_KEYS]);
  const rest = Object.fromEntries(Object.entries(options ?? {}).filter(([k]) => !own.has(k))) as HeadroomOptions;
  const { logLevel, logSerializers } = (options ?? {}) as RegisterOptions;
  const register = { ...(logLevel !== undefined && { logLevel }), ...(logSerializers !== undefined && { logSerializers }) };
  return { plugin: o, register, headroom: nestedOptions(rest, LABEL, options, '') };
}
