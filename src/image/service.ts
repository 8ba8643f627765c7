// The image service: policy → cache → single-flight fetch → (bounded) transform → response.
// Small originals and variants are cached as raw bytes; large originals stream straight through;
// metadata is cached for every image under its own key.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { HeadroomError, isHeadroomError } from '../errors.js';
import { createImageAgent } from './guarded-agent.js';
import { createOriginPolicy } from './origin-policy.js';
import { discard, fetchImage, mapFetchError, type FetchedResponse, type FetcherOptions } from './fetch-source.js';
import { collect, freeCollected, readSource } from './read-source.js';
import { decodeEstimate, probe } from './probe.js';
import { parseParams, type ImageParams } from './params.js';
import { createTransformQueue, lendWhileIdle } from './transform-queue.js';
import { decodeResize, encodeRaw, outputPixelsBound, stageable, transform, type OutputFormat, type RawImage, type TransformSpec } from './transform.js';
import { chooseFormat, OUTPUT_TYPES } from './formats.js';
import { cacheControl, effectiveMaxAge, etagOf, matchesEtag, originMaxAge, SVG_CSP } from './http-headers.js';
import { createImageCounters } from './stats.js';
import { createFlights } from './flights.js';
import { resolveOptions } from './defaults.js';
import type { ImageMeta, ImageRequest, ImageResponse, ImageService, ImageServiceOptions } from './types.js';

type Loaded =
  | { kind: 'buffer'; bytes: Buffer; meta: ImageMeta; hit: boolean }
  | { kind: 'stream'; head: Buffer; rest: AsyncIterable<Buffer>; meta: ImageMeta; res: FetchedResponse; dispose: () => void };

interface Keys {
  id: string;
  src: string;
  meta: string;
  tags: string[];
}

const hash = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 32);
const keysFor = (url: string): Keys => {
  const id = hash(url);
  return { id, src: `image:src:${id}`, meta: `image:meta:${id}`, tags: ['image', `image:${id}`] };
};

export function createImageService(options: ImageServiceOptions): ImageService {
  const o = resolveOptions(options);
  const { cache } = o;
  // Process-wide libvips settings, set deliberately (see ImageServiceOptions.sharpCacheMemory).
  // Inputs are buffers, so libvips' open-file cache is not needed either.
  sharp.cache(o.sharpCacheMemory > 0 ? { memory: Math.max(1, Math.floor(o.sharpCacheMemory / 1024 ** 2)), files: 0, items: 100 } : false);
  if (o.sharpConcurrency) sharp.concurrency(o.sharpConcurrency);

  const policy = createOriginPolicy(o);
  const agentOptions = { lookup: o.lookup, connectTimeout: Math.min(o.timeout, 10_000), bodyTimeout: o.timeout, headersTimeout: o.timeout };
  const guarded = createImageAgent({ ...agentOptions, guard: true });
  const open = createImageAgent({ ...agentOptions, guard: false });
  const fetcher: FetcherOptions = { policy, guarded, open, maxRedirects: o.maxRedirects, timeout: o.timeout };
  // One controller per fetch (close() aborts them all); a shared signal would collect a listener
  // per concurrent fetch.
  const fetches = new Set<AbortController>();
  const critical = (): boolean => o.monitor?.status() === 'critical';
  // An encoder with nothing to encode takes the next waiting small transform whole (see
  // makeVariant), so a core does not idle while transforms wait for the one decode slot.
  const lendToEncoders = (): void => {
    if (encoder) lendWhileIdle(queue, encoder);
  };
  const queue = createTransformQueue({
    concurrency: o.concurrency,
    queueSize: o.queueSize,
    queueTimeout: o.queueTimeout,
    memoryBudget: o.memoryBudget,
    headroom: () => {
      const s = o.monitor?.current?.();
      return s?.rssLimit ? s.rssLimit - s.process.rss : undefined;
    },
    critical,
    onWait: lendToEncoders,
  });
  // Second stage: encodes of small outputs, handed over by a transform slot (see encodeAfter()).
  // Up to `encodeBacklog` decoded outputs may wait for an encoder after their slot went to the
  // next decode; beyond that a slot is held until an encoder takes its pixels. So at most
  // encodeConcurrency + encodeBacklog + concurrency outputs (≤ 8 MiB each) exist at once.
  const encodeBacklog = o.encodeConcurrency;
  const encoder = o.encodeConcurrency > 0
    ? createTransformQueue({
      concurrency: o.encodeConcurrency,
      queueSize: encodeBacklog + o.concurrency,
      queueTimeout: o.queueTimeout,
      memoryBudget: o.memoryBudget,
      critical,
      onIdle: lendToEncoders,
    })
    : undefined;
  // ETags of the Buffers the cache holds, hashed once per Buffer instead of on every hit.
  const etags = new WeakMap<Buffer, string>();
  const etagFor = (bytes: Buffer): string => {
    let etag = etags.get(bytes);
    if (etag === undefined) etags.set(bytes, (etag = etagOf(bytes)));
    return etag;
  };
  const counters = createImageCounters();
  const { c } = counters;
  // Shared fetches and transforms; each is aborted once every caller waiting for it has left.
  // A streamed source that arrives after all its callers left is disposed, and one that arrives
  // for several goes to the first who claims it (the others fetch their own).
  const sourceFlights = createFlights<Loaded>((l) => l.kind === 'stream' && l.dispose());
  const variantFlights = createFlights<{ bytes: Buffer; maxAge: number } | 'original'>();
  const claimed = new WeakSet<Loaded>();
  const claim = (l: Loaded): boolean => !claimed.has(l) && Boolean(claimed.add(l));
  const ttlSeconds = Math.floor(o.cacheTtl / 1000);
  let closed: Promise<void> | undefined;

  async function store(key: string, value: Buffer | ImageMeta, maxAge: number, tags: string[]): Promise<void> {
    try {
      // Our buffers are never modified after this, so the cache may keep them without a copy.
      await cache.set(key, value, { ttl: maxAge * 1000, tags, transfer: true });
      if (Buffer.isBuffer(value)) counters.stored(key, value.length);
    } catch (err) {
      // Caching is an optimisation: a failing store must not fail the request.
      o.logger?.warn({ err, key }, 'image cache write failed');
    }
  }

  async function cached<T>(key: string): Promise<T | undefined> {
    try {
      return await cache.get<T>(key);
    } catch (err) {
      o.logger?.warn({ err, key }, 'image cache read failed');
      return undefined;
    }
  }

  /**
   * One origin fetch; small bodies come back whole (and are cached), large ones as a stream. When
   * `signal` aborts (every caller left), the admission slot, the connection and the body are
   * given back at once, wherever the fetch is: queued for admission, connecting, reading, or
   * streamed and waiting for a transform slot.
   */
  async function fetchOnce(url: URL, keys: Keys, signal?: AbortSignal): Promise<Loaded> {
    if (closed) throw new HeadroomError('HEADROOM_DRAINING', 'the image service is closed');
    if (signal?.aborted) throw signal.reason;
    const controller = new AbortController();
    fetches.add(controller);
    let release: () => void = () => {};
    let res: FetchedResponse | undefined;
    // Every step is idempotent, so dispose() may run early (abort) and again on the way out.
    const dispose = (): void => {
      fetches.delete(controller);
      signal?.removeEventListener('abort', onAbort);
      if (res) {
        discard(res.body);
        res.clearDeadline();
      }
      release();
    };
    const onAbort = (): void => {
      controller.abort(signal!.reason);
      dispose();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // An abort can land between a step settling and its continuation: then undo what it gave us.
    const stillWanted = (): void => {
      if (controller.signal.aborted) throw controller.signal.reason;
    };
    try {
      if (o.admission) {
        release = await o.admission.acquire({ signal: controller.signal });
        stillWanted();
      }
      c.fetches++;
      res = await fetchImage(fetcher, url, controller.signal);
      stillWanted();
    } catch (err) {
      dispose();
      throw err;
    }
    try {
      const length = Number(res.headers['content-length']);
      const declared = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
      const read = await readSource(res.body, declared, o.maxSourceBytes, o.maxCacheSize).catch((err: unknown) => {
        throw mapFetchError(err, res.timedOut(), res.url);
      });
      const maxAge = effectiveMaxAge(ttlSeconds, originMaxAge(res.headers['cache-control']), o.originMaxAge);
      const bytes = read.kind === 'buffer' ? read.bytes : read.head;
      if (read.kind === 'buffer') dispose();
      const p = await probe(bytes, o.allowSvg);
      const meta: ImageMeta = {
        url: url.href,
        contentType: p.contentType,
        bytes: read.kind === 'buffer' ? bytes.length : (declared ?? null),
        width: p.width,
        height: p.height,
        format: p.format,
        pages: p.pages,
        hasAlpha: p.hasAlpha,
        cached: read.kind === 'buffer' && maxAge > 0,
        // A buffered original's ETag is a hash of its bytes, computed when it is first served
        // (etagFor), not here: most sources are fetched for their variants only.
        etag: read.kind === 'buffer' ? null : originEtag(res.headers.etag, declared),
        maxAge,
        fetchedAt: Date.now(),
      };
      if (read.kind === 'buffer') {
        if (meta.cached) await store(keys.src, bytes, maxAge, keys.tags);
        await store(keys.meta, meta, Math.max(maxAge, 1), keys.tags);
        return { kind: 'buffer', bytes, meta, hit: false };
      }
      await store(keys.meta, meta, Math.max(maxAge, 1), keys.tags);
      stillWanted();
      // From here the stream's owner disposes it (a response body, or a variant flight that may
      // outlive the caller whose signal this is).
      signal?.removeEventListener('abort', onAbort);
      return { kind: 'stream', head: read.head, rest: read.rest, meta, res, dispose };
    } catch (err) {
      dispose();
      throw err;
    }
  }

  /** `signal`: this caller left; a fetch shared with others goes on for them. */
  async function loadSource(url: URL, keys: Keys, meta?: ImageMeta, signal?: AbortSignal): Promise<Loaded> {
    meta ??= await cached<ImageMeta>(keys.meta);
    if (meta?.cached) {
      const bytes = await cached<Buffer>(keys.src);
      if (Buffer.isBuffer(bytes)) return { kind: 'buffer', bytes, meta, hit: true };
      counters.forget(keys.src);
    }
    if (sourceFlights.has(keys.src)) c.singleFlightShared++;
    const loaded = await sourceFlights.join(keys.src, (s) => fetchOnce(url, keys, s), signal);
    if (loaded.kind === 'buffer' || claim(loaded)) return loaded;
    // A stream can be read once: the others waiting for a large source fetch their own.
    return fetchOnce(url, keys, signal);
  }

  function respond(req: ImageRequest, bytes: Buffer, type: string, etag: string, maxAge: number, vary: boolean): ImageResponse {
    const headers: Record<string, string> = { 'cache-control': cacheControl(maxAge), etag, 'x-content-type-options': 'nosniff' };
    if (vary) headers.vary = 'Accept';
    if (matchesEtag(req.ifNoneMatch, etag)) {
      c.notModified++;
      return { status: 304, headers };
    }
    headers['content-type'] = type;
    headers['content-length'] = String(bytes.length);
    if (type === 'image/svg+xml') headers['content-security-policy'] = SVG_CSP;
    c.bytesServed += bytes.length;
    return { status: 200, headers, body: bytes };
  }

  async function handleOriginal(req: ImageRequest, url: URL, keys: Keys): Promise<ImageResponse> {
    const meta = await cached<ImageMeta>(keys.meta);
    if (meta?.etag && matchesEtag(req.ifNoneMatch, meta.etag)) {
      c.hits++;
      c.notModified++;
      return { status: 304, headers: { 'cache-control': cacheControl(meta.maxAge), etag: meta.etag, 'x-content-type-options': 'nosniff' } };
    }
    const src = await loadSource(url, keys, meta, req.signal);
    if (src.kind === 'buffer') {
      if (src.hit) c.hits++;
      else c.misses++;
      return respond(req, src.bytes, src.meta.contentType, etagFor(src.bytes), src.meta.maxAge, false);
    }
    if (req.signal?.aborted) {
      src.dispose();
      throw req.signal.reason;
    }
    c.misses++;
    c.passThrough++;
    // The client reads at its own pace now; undici's body (idle) timeout still applies.
    src.res.clearDeadline();
    const headers: Record<string, string> = {
      'content-type': src.meta.contentType,
      'cache-control': cacheControl(src.meta.maxAge),
      'x-content-type-options': 'nosniff',
    };
    if (src.meta.bytes !== null) headers['content-length'] = String(src.meta.bytes);
    if (src.meta.etag) headers.etag = src.meta.etag;
    if (src.meta.format === 'svg') headers['content-security-policy'] = SVG_CSP;
    // A body destroyed before its first read never enters passThrough's finally: dispose on close.
    const body = Readable.from(passThrough(src));
    body.once('close', src.dispose);
    return { status: 200, headers, body };
  }

  async function* passThrough(src: Extract<Loaded, { kind: 'stream' }>): AsyncGenerator<Buffer> {
    try {
      c.bytesServed += src.head.length;
      yield src.head;
      for await (const chunk of src.rest) {
        c.bytesServed += chunk.length;
        yield chunk;
      }
    } finally {
      src.dispose();
    }
  }

  /** `signal` aborts when every caller waiting for this variant has left. */
  async function makeVariant(url: URL, keys: Keys, params: ImageParams, format: OutputFormat, vkey: string, preloaded: Loaded | undefined, signal: AbortSignal) {
    const src = preloaded ?? (await loadSource(url, keys, undefined, signal));
    // A streamed source holds an admission slot and a connection while it waits for a transform
    // slot or is collected in one: give them back as soon as nobody wants the result.
    const abandon = (): void => {
      if (src.kind === 'stream') src.dispose();
    };
    signal.addEventListener('abort', abandon, { once: true });
    try {
      if (signal.aborted) throw signal.reason;
      const m = src.meta;
      if (m.pages > 1 && format !== 'webp' && format !== 'gif') return 'original' as const;
      const pixels = (m.width ?? 0) * (m.height ?? 0) * m.pages;
      if (pixels > o.maxInputPixels) {
        throw new HeadroomError('HEADROOM_IMAGE_TOO_MANY_PIXELS', `source is ${m.width}×${m.height}${m.pages > 1 ? `×${m.pages} frames` : ''}, more than IMAGE_MAX_INPUT_PIXELS (${o.maxInputPixels})`);
      }
      // Unknown dimensions (header beyond what was read): assume the worst the pixel limit allows.
      const estimate = m.width === null ? o.maxInputPixels * 4 + o.maxSourceBytes : decodeEstimate(pixels, m.bytes ?? o.maxSourceBytes);
      // A large source waits in the queue with its body paused (backpressure; undici's idle
      // timeout does not run while paused): the queue timeout bounds the wait, and the download
      // gets a fresh IMAGE_TIMEOUT once a slot is free.
      if (src.kind === 'stream') src.res.clearDeadline();
      const spec: TransformSpec = {
        w: params.w, h: params.h, fit: params.fit, quality: params.q ?? o.defaultQuality, format,
        animated: m.pages > 1, keepMetadata: o.keepMetadata, maxInputPixels: o.maxInputPixels,
      };
      const rawBytes = m.width === null || m.height === null ? Infinity : outputPixelsBound(m.width, m.height, params.w, params.h, params.fit) * 4;
      const staged = encoder !== undefined && stageable(spec) && rawBytes <= STAGED_MAX_RAW_BYTES;
      const result = await queue.run(estimate, async () => {
        const input = src.kind === 'buffer' ? src.bytes : await collectWithin(src);
        if (src.kind === 'stream') src.dispose();
        c.transforms++;
        try {
          if (!staged) return { encoded: Promise.resolve(await transform(input, spec)) };
          return await encodeAfter(await decodeResize(input, spec), spec, signal);
        } catch (err) {
          throw sharpFailure(err, o.maxInputPixels);
        } finally {
          // A large source collected for this transform is freed now, not at the next GC
          // (cached small sources are not ours to free; freeCollected() leaves them alone).
          if (src.kind === 'stream') freeCollected(input);
        }
      }, signal, staged && src.kind === 'buffer' && estimate <= LENT_MAX_DECODE_BYTES ? () => wholeInEncoder(src.bytes, spec) : undefined);
      const out = await result.encoded.catch((err: unknown) => {
        throw sharpFailure(err, o.maxInputPixels);
      });
      if (out.length <= o.maxCacheSize && m.maxAge > 0) await store(vkey, out, m.maxAge, keys.tags);
      return { bytes: out, maxAge: m.maxAge };
    } finally {
      signal.removeEventListener('abort', abandon);
      abandon();
    }
  }

  /**
   * Hands decoded pixels to an encoder; resolves once they are queued within the backlog or an
   * encoder has taken them (so the caller's transform slot can go to the next decode), with the
   * encode still to finish. Rejects when the encoder refuses them (critical memory, closing,
   * timeout) while the slot is held.
   */
  async function encodeAfter(raw: RawImage, spec: TransformSpec, signal: AbortSignal): Promise<{ encoded: Promise<Buffer> }> {
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const backlogFull = encoder!.stats().queued >= encodeBacklog;
    // Encoder working memory on top of the pixels: libwebp/libavif keep their own copy (+ YUV).
    const encoded = encoder!.run(raw.data.length * 2, () => {
      admit();
      return encodeRaw(raw, spec);
    }, signal);
    // The caller awaits `encoded` once its slot is released; until then a rejection is not unhandled.
    encoded.catch(() => {});
    if (backlogFull) await Promise.race([admitted, encoded]);
    return { encoded };
  }

  /**
   * A staged transform of a small (buffered) source, run whole in an idle encoder's slot instead
   * of waiting for a transform slot; its decode estimate stays reserved in the transform queue.
   * Large (streamed) sources and decodes estimated over LENT_MAX_DECODE_BYTES always wait for a slot.
   */
  async function wholeInEncoder(input: Buffer, spec: TransformSpec): Promise<{ encoded: Promise<Buffer> }> {
    c.transforms++;
    try {
      return { encoded: Promise.resolve(await transform(input, spec)) };
    } catch (err) {
      throw sharpFailure(err, o.maxInputPixels);
    }
  }

  async function collectWithin(src: Extract<Loaded, { kind: 'stream' }>): Promise<Buffer> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      src.dispose();
    }, o.timeout);
    timer.unref();
    try {
      return await collect(src.head, src.rest, src.meta.bytes ?? undefined);
    } catch (err) {
      throw mapFetchError(err, timedOut || src.res.timedOut(), src.res.url);
    } finally {
      clearTimeout(timer);
    }
  }

  async function handleVariant(req: ImageRequest, url: URL, keys: Keys, params: ImageParams): Promise<ImageResponse> {
    const accept = req.accept ?? '';
    let meta: ImageMeta | undefined;
    let preloaded: Loaded | undefined;
    let format = chooseFormat(params.format, accept);
    if (!format) {
      meta = await cached<ImageMeta>(keys.meta);
      if (!meta) {
        preloaded = await loadSource(url, keys, undefined, req.signal);
        meta = preloaded.meta;
      }
      format = chooseFormat(params.format, accept, meta)!;
    }
    const vary = params.format === 'auto';
    const vkey = `image:var:${hash(`${url.href}\n${params.w ?? ''}x${params.h ?? ''}:${params.fit ?? ''}:${params.q ?? o.defaultQuality}:${format}`)}`;
    const hit = await cached<Buffer>(vkey);
    if (Buffer.isBuffer(hit)) {
      if (preloaded?.kind === 'stream') preloaded.dispose();
      c.hits++;
      meta ??= await cached<ImageMeta>(keys.meta);
      return respond(req, hit, OUTPUT_TYPES[format], etagFor(hit), meta?.maxAge ?? ttlSeconds, vary);
    }
    counters.forget(vkey);
    c.misses++;
    if (variantFlights.has(vkey)) c.singleFlightShared++;
    // The preloaded source goes to a new flight; joining a running one (or leaving) drops it.
    if (preloaded?.kind === 'stream' && (variantFlights.has(vkey) || req.signal?.aborted)) preloaded.dispose();
    const out = await variantFlights.join(vkey, (signal) => makeVariant(url, keys, params, format, vkey, preloaded, signal), req.signal);
    if (out === 'original') return handleOriginal(req, url, keys);
    return respond(req, out.bytes, OUTPUT_TYPES[format], etagFor(out.bytes), out.maxAge, vary);
  }

  function guard<T>(work: () => Promise<T>): Promise<T> {
    return work().catch((err: unknown) => {
      counters.reject(err);
      throw err;
    });
  }

  return {
    handle(req) {
      return guard(async () => {
        if (closed) throw new HeadroomError('HEADROOM_DRAINING', 'the image service is closed');
        // A client that already left gets no work started for it; one that leaves stops waiting
        // at once, and work nobody else waits for is abandoned (see createFlights).
        if (req.signal?.aborted) throw clientGone();
        const params = parseParams(req.query, o.maxOutputDimension);
        const url = policy.check(params.url);
        const keys = keysFor(url.href);
        try {
          return await (params.transform ? handleVariant(req, url, keys, params) : handleOriginal(req, url, keys));
        } catch (err) {
          throw req.signal?.aborted ? clientGone(err) : err;
        }
      });
    },
    meta(query, signal) {
      return guard(async () => {
        const params = parseParams(query, o.maxOutputDimension, true);
        const url = policy.check(params.url);
        const keys = keysFor(url.href);
        const meta = await cached<ImageMeta>(keys.meta);
        if (meta) {
          // Never a fetch for metadata already known: the ETag only when the bytes are at hand.
          const bytes = meta.cached && !meta.etag ? await cached<Buffer>(keys.src) : undefined;
          return Buffer.isBuffer(bytes) ? { ...meta, etag: etagFor(bytes) } : meta;
        }
        const src = await loadSource(url, keys, undefined, signal).catch((err: unknown) => {
          throw signal?.aborted ? clientGone(err) : err;
        });
        if (src.kind === 'stream') {
          src.dispose();
          return src.meta;
        }
        return { ...src.meta, etag: etagFor(src.bytes) };
      });
    },
    stats: () => ({ ...counters.summary(), ...c, rejections: { ...counters.rejections }, queue: queue.stats(), encoding: encoder?.stats() ?? null }),
    close() {
      closed ??= (async () => {
        for (const f of fetches) f.abort(new HeadroomError('HEADROOM_DRAINING', 'the image service is closing'));
        queue.close();
        encoder?.close();
        await Promise.all([sourceFlights.settled(), variantFlights.settled()]);
        await Promise.all([guarded.destroy(), open.destroy()]);
        counters.clear();
      })();
      return closed;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** Outputs up to 2 MP (RGBA) are staged; larger ones transform whole inside their slot. */
const STAGED_MAX_RAW_BYTES = 8 * 1024 ** 2;
/**
 * Decodes estimated up to this (a ~15 MP photo) may be lent to an idle encoder; bigger ones wait
 * for a slot, so IMAGE_CONCURRENCY still bounds the decodes that weigh most.
 */
const LENT_MAX_DECODE_BYTES = 64 * 1024 ** 2;

const clientGone = (cause?: unknown): HeadroomError => new HeadroomError('HEADROOM_BAD_REQUEST', 'the client closed the request', { cause });

/** What a sharp failure means for the client: too many pixels (400) or an undecodable image. */
function sharpFailure(err: unknown, maxInputPixels: number): Error {
  if (isHeadroomError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(msg)) return new HeadroomError('HEADROOM_IMAGE_TOO_MANY_PIXELS', `source exceeds IMAGE_MAX_INPUT_PIXELS (${maxInputPixels})`, { cause: err });
  return new HeadroomError('HEADROOM_IMAGE_UNSUPPORTED', 'the source image could not be decoded', { cause: err });
}

/** A strong ETag for a streamed original, derived from the origin's strong validator. */
function originEtag(etag: string | string[] | undefined, length: number | undefined): string | null {
  if (typeof etag !== 'string' || etag.startsWith('W/')) return null;
  return `"o-${hash(`${etag}\n${length ?? ''}`)}"`;
}
