// The image service, composed: origin policy → source loading (cache, single-flight fetch;
// source.ts) → variants made by the bounded decode/encode stages (variants.ts, stages.ts) →
// response shaping (respond.ts). Small originals and variants are cached as raw bytes; large
// originals stream straight through.
import { HeadroomError } from '../errors.js';
import { CACHE_STATUS_HEADERS } from '../cache/cache-status.js';
import { chooseFormat, OUTPUT_TYPES } from './formats.js';
import { freshFor } from './http-headers.js';
import { resolveImageOptions } from './options.js';
import { createOriginPolicy } from './origin-policy.js';
import { parseParams, type ImageParams } from './params.js';
import { createResponder } from './respond.js';
import { claimSharpSettings } from './sharp-settings.js';
import { createSourceLoader, type Loaded } from './source.js';
import { createStages } from './stages.js';
import { createImageCounters } from './stats.js';
import { createImageStore, keysFor, policyFingerprint, type Keys } from './store.js';
import type { ImageMeta, ImageRequest, ImageResponse, ImageService, ImageServiceOptions } from './types.js';
import { createVariants } from './variants.js';

export function createImageService(options: ImageServiceOptions): ImageService {
  const o = resolveImageOptions(options);
  const policy = createOriginPolicy(o);
  // Process-wide: set by the first open service, checked for the others (sharp-settings.ts).
  // Claimed after the steps that may throw, so a failed construction holds no claim.
  const releaseSharp = claimSharpSettings({ sharpCacheMemory: o.sharpCacheMemory, sharpConcurrency: o.sharpConcurrency });
  const counters = createImageCounters();
  const { c } = counters;
  const store = createImageStore(o.cache, counters, o.logger);
  const sources = createSourceLoader(o, policy, store, counters);
  const stages = createStages(o, (src) => sources.collect(src), counters);
  const respond = createResponder(counters, o.clientReadTimeout);
  const variants = createVariants(o, sources, stages, store, counters);
  // In every cache key: entries made under other SVG or origin options are never served.
  const keyPolicy = policyFingerprint(o);
  let closed: Promise<void> | undefined;

  async function original(req: ImageRequest, url: URL, keys: Keys): Promise<ImageResponse> {
    const meta = await store.get<ImageMeta>(keys.meta);
    const notModified = respond.notModified(req, meta);
    if (notModified) {
      c.hits++;
      return cacheStatus(notModified, true);
    }
    const src = await sources.load(url, keys, meta, req.signal);
    if (src.kind === 'buffer') {
      if (src.hit) c.hits++;
      else c.misses++;
      return cacheStatus(respond.bytes(req, src.bytes, src.meta.contentType, freshFor(src.meta), false), src.hit);
    }
    if (req.signal?.aborted) {
      src.dispose();
      throw req.signal.reason;
    }
    c.misses++;
    return cacheStatus(respond.stream(src), false);
  }

  async function variant(req: ImageRequest, url: URL, keys: Keys, params: ImageParams): Promise<ImageResponse> {
    const accept = req.accept ?? '';
    let meta: ImageMeta | undefined;
    let preloaded: Loaded | undefined;
    // Content negotiation: without an explicit format the choice may need the source's.
    let format = chooseFormat(params.format, accept);
    if (!format) {
      meta = await store.get<ImageMeta>(keys.meta);
      if (!meta) {
        preloaded = await sources.load(url, keys, undefined, req.signal);
        meta = preloaded.meta;
      }
      format = chooseFormat(params.format, accept, meta)!;
    }
    const out = await variants.get(url, keys, params, format, preloaded, meta, req.signal);
    if (out === 'original') {
      const res = await original(req, url, keys);
      // Passed through because of the format Accept chose: the answer still depends on Accept.
      if (params.format === 'auto') res.headers.vary = 'Accept';
      return res;
    }
    return cacheStatus(respond.bytes(req, out.bytes, OUTPUT_TYPES[format], out.maxAge, params.format === 'auto'), out.hit);
  }

  function counted<T>(work: () => Promise<T>): Promise<T> {
    return work().catch((err: unknown) => {
      counters.reject(err);
      throw err;
    });
  }

  function close(): Promise<void> {
    closed ??= (async () => {
      try {
        sources.abort();
        stages.close();
        await variants.settled();
        await sources.close();
        counters.clear();
      } finally {
        releaseSharp();
      }
    })();
    return closed;
  }

  return {
    clientReadTimeout: o.clientReadTimeout,
    handle(req) {
      return counted(async () => {
        if (closed) throw new HeadroomError('HEADROOM_DRAINING', 'the image service is closed');
        // A client that already left gets no work started for it; one that leaves stops waiting
        // at once, and work nobody else waits for is abandoned (see createFlights).
        if (req.signal?.aborted) throw clientClosed();
        const params = parseParams(req.query, o.maxOutputDimension);
        const url = policy.check(params.url);
        const keys = keysFor(url.href, keyPolicy);
        try {
          return await (params.transform ? variant(req, url, keys, params) : original(req, url, keys));
        } catch (err) {
          throw req.signal?.aborted ? clientClosed(err) : err;
        }
      });
    },
    meta(query, signal) {
      return counted(async () => {
        const params = parseParams(query, o.maxOutputDimension, true);
        const url = policy.check(params.url);
        const keys = keysFor(url.href, keyPolicy);
        const meta = await store.get<ImageMeta>(keys.meta);
        if (meta) {
          // Never a fetch for metadata already known: the ETag only when the bytes are at hand.
          const bytes = meta.cached && !meta.etag ? await store.get<Buffer>(keys.src) : undefined;
          return Buffer.isBuffer(bytes) ? { ...meta, etag: respond.etagFor(bytes) } : meta;
        }
        const src = await sources.load(url, keys, undefined, signal).catch((err: unknown) => {
          throw signal?.aborted ? clientClosed(err) : err;
        });
        if (src.kind === 'stream') {
          src.dispose();
          return src.meta;
        }
        return { ...src.meta, etag: respond.etagFor(src.bytes) };
      });
    },
    stats: () => ({ ...counters.summary(), ...c, rejections: { ...counters.rejections }, ...stages.stats() }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Cache-Status and X-Cache (RFC 9211; src/cache/cache-status.ts) on an answer. */
function cacheStatus(res: ImageResponse, hit: boolean): ImageResponse {
  const [status, statusValue, xCache, xCacheValue] = CACHE_STATUS_HEADERS[hit ? 'hit' : 'miss'];
  res.headers[status!] = statusValue!;
  res.headers[xCache!] = xCacheValue!;
  return res;
}

// Not a bad request: the client left, and nothing is sent. Counted apart (rejections.client_closed).
const clientClosed = (cause?: unknown): HeadroomError =>
  new HeadroomError('HEADROOM_CLIENT_CLOSED', 'the client closed the connection before the answer was ready', { cause });
