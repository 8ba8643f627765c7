// GET /image and GET /image/meta (public), GET /image-stats (admin plugin; the gateway mounts it
// under /admin after auth). Errors are HeadroomErrors and go through the shared error handler.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { HeadroomError } from '../../errors.js';
import type { ImageService } from '../../image/types.js';
import { boundUnread } from '../../proxy/respond.js';

export interface ImageRouteOptions {
  image: ImageService;
}

/** Aborts when the client goes away before the response is complete. */
function clientSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new HeadroomError('HEADROOM_CLIENT_CLOSED', 'the client closed the connection'));
  });
  return controller.signal;
}

const headerValue = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);

export async function imageRoutes(app: FastifyInstance, { image }: ImageRouteOptions): Promise<void> {
  app.get('/image', async (request, reply) => {
    const res = await image.handle({
      query: request.query as Record<string, unknown>,
      accept: headerValue(request.headers.accept),
      ifNoneMatch: headerValue(request.headers['if-none-match']),
      signal: clientSignal(reply),
    });
    reply.code(res.status).headers(res.headers);
    if (res.body === undefined) return reply.send();
    if (request.method === 'HEAD' && !Buffer.isBuffer(res.body)) {
      // Fastify's HEAD route reads a stream to its end: the whole original fetched from the origin
      // for a request of a few hundred bytes. An empty one keeps the GET's headers (Content-Length).
      res.body.destroy();
      return reply.send(Readable.from([]));
    }
    // A buffered image sits unwritten only while the client does not read: bounded as a stream is.
    if (Buffer.isBuffer(res.body) && image.clientReadTimeout) boundUnread(reply.raw, image.clientReadTimeout);
    return reply.send(res.body);
  });

  app.get('/image/meta', async (request, reply) => {
    const meta = await image.meta(request.query as Record<string, unknown>, clientSignal(reply));
    return reply.header('cache-control', 'no-store').send(meta);
  });
}

export async function imageAdminRoutes(app: FastifyInstance, { image }: ImageRouteOptions): Promise<void> {
  app.get('/image-stats', async (_request, reply) => reply.header('cache-control', 'no-store').send(image.stats()));
}
