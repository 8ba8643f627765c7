// The Fastify plugin's own options (the rest are createHeadroom's). One home each: default, what
// is accepted, doc line; docs/frameworks/fastify.md lists them (a test keeps it in step).
import { bool, pathOrOff } from '../../options/spec.js';

export const fastifyPluginSpecs = {
  healthPath: pathOrOff({ doc: 'Health routes: the path, its /live and /ready probes; false = not mounted.', default: '/health' }),
  metricsPath: pathOrOff({ doc: 'Prometheus scrape path; false = not mounted.', default: '/metrics' }),
  adminPath: pathOrOff({ doc: 'Admin API (ANY <path>/*); false = not mounted.', default: '/admin' }),
  proxyRoutes: bool({ doc: "Mount the proxy at its prefix, through the app's hooks (when `proxy` is set).", default: true }),
  imageRoutes: bool({ doc: "Mount GET /image and /image/meta, through the app's hooks (when `image` is set).", default: true }),
};
