// The image route on raw Node objects (Express, Connect, NestJS on either platform): the query
// from the URL, the client's Accept and If-None-Match, an abort when the client goes away, and the
// answer streamed (or the error as its registry status and JSON body).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { HeadroomError } from '../errors.js';
import type { ImageService } from '../image/types.js';
import { errorResponse, writePlain } from './response.js';

const headerValue = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);

/** `url` is the full request URL (its query is read); it defaults to req.url. */
export async function imageNodeRequest(
  image: ImageService,
  req: IncomingMessage,
  res: ServerResponse,
  url = req.url ?? '/',
): Promise<void> {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(new HeadroomError('HEADROOM_CLIENT_CLOSED', 'the client closed the connection'));
  };
  res.once('close', onClose);
  try {
    const q = url.indexOf('?');
    const query: Record<string, string> = Object.fromEntries(new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
    const r = await image.handle({
      query,
      accept: headerValue(req.headers.accept),
      ifNoneMatch: headerValue(req.headers['if-none-match']),
      signal: controller.signal,
    });
    res.writeHead(r.status, r.headers);
    if (req.method === 'HEAD' || r.body === undefined) res.end();
    else if (Buffer.isBuffer(r.body)) res.end(r.body);
    else await pipeline(r.body, res);
  } catch (err) {
    if (controller.signal.aborted) return void res.destroy();
    if (res.headersSent) return void res.destroy();
    writePlain(res, errorResponse(err), req.method);
  } finally {
    res.off('close', onClose);
  }
}
