// The Directus-style streaming proxy route: every method on /api/* goes to UPSTREAM_URL with /api
// cut off (/api/items/3?fields=a → UPSTREAM_URL/items/3?fields=a). Request and response bodies
// stream through with a bounded buffer (never read whole into memory), the upstream's
// Authorization passes through, and while memory is critical it answers 503 + Retry-After.
// Keep proxy.js/middleware.js from matching /api: Next reads a whole request body into memory for
// every non-GET request a middleware matches (and cuts it at 10 MB). Put auth for the proxy in
// createProxyRoute's `authorize` option instead.
import { createProxyRoute } from 'headroom-memory/next';
import { headroomConfig, upstreamUrl } from '../../../headroom.config.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = createProxyRoute({ upstreamUrl, prefix: '/api', headroom: headroomConfig });
