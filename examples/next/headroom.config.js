// One options object for every headroom export in this app: the first one used (instrumentation.js
// at start-up) creates the process's Headroom with it, the routes reuse it.
const port = process.env.PORT || 3000;

// Without UPSTREAM_URL the proxy goes to this app's own /demo route, so the example runs alone.
export const upstreamUrl = process.env.UPSTREAM_URL || `http://127.0.0.1:${port}/demo`;

/** @type {import('headroom-memory/next').HeadroomOptions} */
export const headroomConfig = {
  proxy: { upstreamUrl, prefix: '/api' },
};
