/** @type {import('next').NextConfig} */
export default {
  // Loaded by Node from node_modules, not bundled: one copy of headroom (and of prom-client,
  // undici, sharp) for instrumentation.js and every route.
  serverExternalPackages: ['headroom-memory'],
  // Only when node_modules is a link to another folder (a git worktree sharing a checkout's
  // install, as the repository's test runs it): Turbopack compiles nothing outside its root.
  ...(process.env.EXAMPLE_TURBOPACK_ROOT ? { turbopack: { root: process.env.EXAMPLE_TURBOPACK_ROOT } } : {}),
};
