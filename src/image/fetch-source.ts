// Fetches a source image: manual redirects (each hop re-checked by the origin policy and by the
// guarded agent), one deadline for the whole download, non-2xx → 502. Returns the open body; the
// caller reads it with a byte bound (read-source.ts).
import type { Dispatcher } from 'undici';
import type * as Undici from 'undici';
import type { Readable } from 'node:stream';
import { HeadroomError, isHeadroomError } from '../errors.js';
import type { OriginPolicy } from './origin-policy.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// undici is loaded with the first origin fetch, not at start-up (see source.ts).
let undici: Promise<typeof Undici> | undefined;

export interface FetchedResponse {
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** Stops the download deadline (once the body is handed to a client that reads at its own pace). */
  clearDeadline(): void;
  /** Milliseconds of the deadline that were left when it was stopped (or are left now). */
  left(): number;
  /** True when our deadline (not the caller) aborted the download. */
  timedOut(): boolean;
}

export interface FetcherOptions {
  policy: OriginPolicy;
  guarded: Dispatcher;
  open: Dispatcher;
  maxRedirects: number;
  timeout: number;
  userAgent?: string;
}

/** Drops a body we will not read (its 'error' on destroy must not become an uncaught exception). */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

export function mapFetchError(err: unknown, timedOut: boolean, url: URL): HeadroomError {
  if (isHeadroomError(err)) return err;
  if (timedOut)
    return new HeadroomError('HEADROOM_IMAGE_TIMEOUT', `image origin ${url.origin} did not deliver within IMAGE_TIMEOUT`, { cause: err });
  const code = (err as { code?: string }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new HeadroomError('HEADROOM_IMAGE_TIMEOUT', `image origin ${url.origin} timed out (${code})`, { cause: err });
  }
  return new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', `fetching from ${url.origin} failed${code ? ` (${code})` : ''}`, { cause: err });
}

export async function fetchImage(o: FetcherOptions, start: URL, signal?: AbortSignal): Promise<FetchedResponse> {
  const controller = new AbortController();
  const startedAt = performance.now();
  let leftAtClear: number | undefined;
  const left = (): number => leftAtClear ?? Math.max(0, o.timeout - (performance.now() - startedAt));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new HeadroomError('HEADROOM_IMAGE_TIMEOUT', `image origin ${start.origin} did not deliver within IMAGE_TIMEOUT`));
  }, o.timeout);
  timer.unref();
  const onAbort = (): void => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const clearDeadline = (): void => {
    leftAtClear ??= left();
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };

  let url = start;
  try {
    const { request } = await (undici ??= import('undici'));
    for (let from: URL | undefined, hop = 0; ; hop++) {
      url = o.policy.check(url, from);
      const res = await request(url, {
        method: 'GET',
        dispatcher: o.policy.allowsPrivate(url) ? o.open : o.guarded,
        signal: controller.signal,
        headers: { accept: 'image/avif,image/webp,image/*;q=0.9', 'user-agent': o.userAgent ?? 'headroom-image' },
      });
      if (REDIRECTS.has(res.statusCode)) {
        discard(res.body);
        const location = res.headers.location;
        if (typeof location !== 'string')
          throw new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', `image origin redirected (${res.statusCode}) without a Location`);
        if (hop >= o.maxRedirects)
          throw new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', `more than IMAGE_MAX_REDIRECTS (${o.maxRedirects}) redirects`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', 'image origin redirected to an invalid URL');
        }
        // The origin misbehaved (502); the policy's 400 for other schemes is for the client's URL.
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new HeadroomError(
            'HEADROOM_IMAGE_FETCH_FAILED',
            `image origin ${url.origin} redirected to a ${next.protocol} URL; only http and https redirects are followed`,
          );
        }
        from = url;
        url = next;
        continue;
      }
      if (res.statusCode < 200 || res.statusCode > 299) {
        discard(res.body);
        throw new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', `image origin answered ${res.statusCode}`);
      }
      const body = res.body;
      // A body error after the deadline fired is a timeout, not a broken origin.
      return { url, headers: res.headers, body, clearDeadline, left, timedOut: () => timedOut };
    }
  } catch (err) {
    clearDeadline();
    throw mapFetchError(err, timedOut, url);
  }
}
