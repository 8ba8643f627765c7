/** @type {import('next').NextConfig} */
export default {
  // Loaded by Node from node_modules, not bundled: one copy of headroom (and of prom-client,
  // undici, sharp) for instrumentation.js and every route.
  serverExternalPackages: ['headroom-memory'],
  // /api/items/ reaches the upstream as /items/ (Next would answer 308 to /api/items, for a POST too).
  skipTrailingSlashRedirect: true,
};
