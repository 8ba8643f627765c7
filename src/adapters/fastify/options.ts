// The Fastify plugin's own options (the rest are createHeadroom's). One home each: default, what
// is accepted, doc line; docs/frameworks/fastify.md lists them (a test keeps it in step).
import { bool, type OptionSpec } from '../../options/spec.js';

const PATH = /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;

function pathOrOff(doc: string, fallback: string): OptionSpec<string | false> {
  return {
    doc,
    accepted: 'must be a path like /health (letters, digits, . _ ~ -; no trailing slash) or false',
    default: fallback,
    defaultText: fallback,
    secret: false,
    parse: (raw) => (raw === false ? false : typeof raw === 'string' && PATH.test(raw) ? raw : undefined),
  };
}

export const fastifyPluginSpecs = {
  healthPath: pathOrOff('Health routes: the path, its /live and /ready probes; false = not mounted.', '/health'),
  metricsPath: pathOrOff('Prometheus scrape path; false = not mounted.', '/metrics'),
  adminPath: pathOrOff('Admin API (ANY <path>/*); false = not mounted.', '/admin'),
  proxyRoutes: bool({ doc: "Mount the proxy at its prefix, through the app's hooks (when `proxy` is set).", default: true }),
  imageRoutes: bool({ doc: "Mount GET /image and /image/meta, through the app's hooks (when `image` is set).", default: true }),
};
