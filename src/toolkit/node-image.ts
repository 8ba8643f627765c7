// GET /image on Node's req/res (Express, Connect, NestJS): the image service's answer written to
// the raw response, streamed when the service streams, aborted when the client goes away.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { HeadroomError } from '../errors.js';
import type { ImageService } from '../image/types.js';
import { boundUnread } from '../proxy/respond.js';
import { errorResponse, writePlain } from './response.js';

const headerValue = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);

/** The query string as the image service takes it: repeated keys become arrays (as Fastify's parser does). */
export function queryObject(url: string): Record<string, string | string[]> {
  const q = url.indexOf('?');
  const out: Record<string, string | string[]> = {};
  if (q === -1) return out;
  for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** Answers one image request; never throws (errors become the registry's JSON answer). */
export async function serveNodeImage(image: ImageService, req: IncomingMessage, res: ServerResponse, url = req.url ?? '/'): Promise<void> {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(new HeadroomError('HEADROOM_CLIENT_CLOSED', 'the client closed the connection'));
  };
  res.once('close', onClose);
  try {
    const r = await image.handle({
      query: queryObject(url),
      accept: headerValue(req.headers.accept),
      ifNoneMatch: headerValue(req.headers['if-none-match']),
      signal: controller.signal,
    });
    if (res.destroyed) {
      if (r.body && !Buffer.isBuffer(r.body)) r.body.destroy();
      return;
    }
    res.statusCode = r.status;
    for (const k in r.headers) res.setHeader(k, r.headers[k]!);
    const body = req.method === 'HEAD' || r.body === undefined ? undefined : r.body;
    if (body === undefined || Buffer.isBuffer(body)) {
      if (r.body && !Buffer.isBuffer(r.body)) r.body.destroy();
      // A buffered image sits unwritten only while the client does not read: bounded as a stream is.
      if (body && image.clientReadTimeout) boundUnread(res, image.clientReadTimeout);
      res.end(body);
      return;
    }
    // A failure mid-stream can only end the connection: the status is already sent.
    pipeline(body, res, () => undefined);
  } catch (err) {
    if (!res.destroyed) writePlain(res, errorResponse(err), req.method);
  } finally {
    res.off('close', onClose);
  }
}
