// The gateway's dashboard: GET /dashboard and its files at the root (no token: the page asks for
// it), GET /admin/dashboard/feed and GET /admin/memory-history inside the authenticated /admin
// scope. The feed is written on the raw response (hijacked), so no onSend hook buffers it; the
// headers already set on the reply (X-Request-Id) are copied onto it first.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { dashboardOff, type Dashboard } from '../../observe/dashboard/index.js';
import { SECURITY_HEADERS } from '../../observe/dashboard/assets.js';
import { HeadroomError } from '../../errors.js';
import { writePlain, type PlainResponse } from '../../toolkit/response.js';

export interface DashboardRouteOptions {
  dashboard: Dashboard;
}

const assetRequest = (request: FastifyRequest): { acceptEncoding?: string; ifNoneMatch?: string } => ({
  acceptEncoding: request.headers['accept-encoding'],
  ifNoneMatch: request.headers['if-none-match'],
});

/** GET /dashboard, /dashboard/<file>; /dashboard/ redirects (the page's links are relative to /dashboard). */
export async function dashboardRoutes(app: FastifyInstance, { dashboard }: DashboardRouteOptions): Promise<void> {
  const send = (request: FastifyRequest, name: string): PlainResponse => {
    if (!dashboard.enabled) throw dashboardOff();
    const r = dashboard.asset(name, assetRequest(request));
    if (!r) throw new HeadroomError('HEADROOM_NOT_FOUND', `no dashboard file ${name || '/dashboard'}`);
    return r;
  };
  // Every answer of these routes carries the dashboard's security headers: the page and its files
  // (which set them too), the redirect and the errors.
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    done(null, payload);
  });
  app.get('/dashboard', (request, reply) => {
    const r = send(request, '');
    return reply
      .code(r.status)
      .headers(r.headers)
      .send(r.bytes ?? r.body);
  });
  app.get('/dashboard/*', (request, reply) => {
    const name = (request.params as { '*': string })['*'];
    if (name === '') return reply.code(308).header('location', '../dashboard').send();
    const r = send(request, name);
    return reply
      .code(r.status)
      .headers(r.headers)
      .send(r.bytes ?? r.body);
  });
  // Open feeds would hold the server's close until SHUTDOWN_TIMEOUT: end them first.
  app.addHook('preClose', (done) => {
    dashboard.endViewers();
    done();
  });
}

/** GET /memory-history and GET /dashboard/feed; the gateway mounts them inside the authenticated /admin scope. */
export async function dashboardAdminRoutes(app: FastifyInstance, { dashboard }: DashboardRouteOptions): Promise<void> {
  app.get('/memory-history', async (request, reply) => {
    const query = new URL(request.url, 'http://localhost').searchParams;
    return reply.header('cache-control', 'no-store').send(dashboard.history(query));
  });
  if (!dashboard.enabled) return;
  app.get('/dashboard/feed', (request, reply) => {
    reply.headers(SECURITY_HEADERS); // on the 503 when every viewer slot is taken, too
    const r = dashboard.feed();
    // Fastify writes the headers set on the reply (X-Request-Id from the onRequest hook, …) only
    // when it sends; a hijacked reply never does, so they go on the raw response here.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
    reply.hijack();
    writePlain(reply.raw, r, request.method);
  });
}
