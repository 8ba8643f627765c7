// Source loading: cache → shared (single-flight) fetch → the caller's own fetch. Size-tiered:
// originals up to maxCacheSize come back whole and are cached; larger ones come back as a stream
// that is never held whole. Metadata is cached for every image under its own key.
import { HeadroomError } from '../errors.js';
import type { ResolvedImageOptions } from './options.js';
import { discard, fetchImage, mapFetchError, type FetchedResponse, type FetcherOptions } from './fetch-source.js';
import { createFlights } from './flights.js';
import { effectiveMaxAge, originEtag, originMaxAge } from './http-headers.js';
import type { OriginPolicy } from './origin-policy.js';
import { probe } from './probe.js';
import { collect, readSource } from './read-source.js';
import type { ImageCounters } from './stats.js';
import type { ImageStore, Keys } from './store.js';
import type { ImageMeta } from './types.js';

/**
 * Whether a probe of a source's first bytes counted all its frames: a GIF's frames can follow
 * anywhere in the file (it has no header count); WebP, AVIF and TIFF say in their header whether
 * they animate or have pages, so one frame seen there is one frame, more is a lower bound.
 */
const framesCounted = (format: string, pages: number): boolean => format !== 'gif' && pages === 1;

export type Loaded =
  | { kind: 'buffer'; bytes: Buffer; meta: ImageMeta; hit: boolean }
  | { kind: 'stream'; head: Buffer; rest: AsyncIterable<Buffer>; meta: ImageMeta; res: FetchedResponse; dispose: () => void };
export type Streamed = Extract<Loaded, { kind: 'stream' }>;

type Options = Pick<
  ResolvedImageOptions,
  | 'timeout'
  | 'lookup'
  | 'maxRedirects'
  | 'maxSourceBytes'
  | 'maxCacheSize'
  | 'cacheTtl'
  | 'originMaxAge'
  | 'allowSvg'
  | 'admission'
  | 'logger'
>;

export interface SourceLoader {
  /**
   * The source of `url`: from the cache, a fetch shared with other callers, or (a large source
   * someone else already took) a fetch of its own. `signal`: this caller left; a fetch shared
   * with others goes on for them.
   */
  load(url: URL, keys: Keys, meta?: ImageMeta, signal?: AbortSignal): Promise<Loaded>;
  /** The rest of a streamed source, read within IMAGE_TIMEOUT (for a transform; see collect()). */
  collect(src: Streamed): Promise<Buffer>;
  /**
   * Refuses new fetches and aborts the running ones, streamed sources included (a transform
   * reading one, a large original streaming to a client); synchronous, see close().
   */
  abort(): void;
  /** After abort(): waits for the fetches to settle, then closes the origin connections. */
  close(): Promise<void>;
}

export function createSourceLoader(o: Options, policy: OriginPolicy, store: ImageStore, counters: ImageCounters): SourceLoader {
  const { c } = counters;
  const agentOptions = {
    lookup: o.lookup,
    connectTimeout: Math.min(o.timeout, 10_000),
    bodyTimeout: o.timeout,
    headersTimeout: o.timeout,
    // The client's 403 does not name the address; the log does.
    onRefused:
      o.logger && ((host: string, address: string) => o.logger!.warn({ host, address }, 'image origin refused: non-public address')),
  };
  // undici and the two origin agents are loaded with the first origin fetch, not at start-up: a
  // gateway that fetches no image pays nothing for them (~4 MiB of RSS, bench/footprint).
  let fetcher: Promise<FetcherOptions> | undefined;
  const fetcherOnce = (): Promise<FetcherOptions> =>
    (fetcher ??= import('./guarded-agent.js').then(({ createImageAgent }) => ({
      policy,
      guarded: createImageAgent({ ...agentOptions, guard: true }),
      open: createImageAgent({ ...agentOptions, guard: false }),
      maxRedirects: o.maxRedirects,
      timeout: o.timeout,
    })));
  const ttlSeconds = Math.floor(o.cacheTtl / 1000);
  // Each fetch's controller and disposer; abort() uses both, since a streamed source stops
  // listening to its controller once its download deadline is cleared. (A shared signal would
  // collect a listener per concurrent fetch.)
  const fetches = new Map<AbortController, () => void>();
  // A streamed source that arrives after all its callers left is disposed, and one that arrives
  // for several goes to the first who claims it (the others fetch their own).
  const flights = createFlights<Loaded>((l) => l.kind === 'stream' && l.dispose());
  const claimed = new WeakSet<Loaded>();
  const claim = (l: Loaded): boolean => !claimed.has(l) && Boolean(claimed.add(l));
  let closing = false;

  /**
   * One origin fetch; small bodies come back whole (and are cached), large ones as a stream. When
   * `signal` aborts (every caller left), the admission slot, the connection and the body are
   * given back at once, wherever the fetch is: queued for admission, connecting, reading, or
   * streamed and waiting for a transform slot.
   */
  async function fetchOnce(url: URL, keys: Keys, signal?: AbortSignal): Promise<Loaded> {
    if (closing) throw new HeadroomError('HEADROOM_DRAINING', 'the image service is closed');
    if (signal?.aborted) throw signal.reason;
    const controller = new AbortController();
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
    fetches.set(controller, dispose);
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
      res = await fetchImage(await fetcherOnce(), url, controller.signal);
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
        pagesExact: read.kind === 'buffer' || framesCounted(p.format, p.pages),
        hasAlpha: p.hasAlpha,
        cached: read.kind === 'buffer' && maxAge > 0,
        // A buffered original's ETag is a hash of its bytes, computed when it is first served
        // (see respond.ts), not here: most sources are fetched for their variants only.
        etag: read.kind === 'buffer' ? null : originEtag(res.headers.etag, declared),
        maxAge,
        fetchedAt: Date.now(),
      };
      if (read.kind === 'buffer') {
        if (meta.cached) await store.set(keys.src, bytes, maxAge, keys.tags);
        await store.set(keys.meta, meta, Math.max(maxAge, 1), keys.tags);
        return { kind: 'buffer', bytes, meta, hit: false };
      }
      await store.set(keys.meta, meta, Math.max(maxAge, 1), keys.tags);
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

  return {
    async load(url, keys, meta, signal) {
      meta ??= await store.get<ImageMeta>(keys.meta);
      if (meta?.cached) {
        const bytes = await store.get<Buffer>(keys.src);
        if (Buffer.isBuffer(bytes)) return { kind: 'buffer', bytes, meta, hit: true };
        counters.forget(keys.src);
      }
      if (flights.has(keys.src)) c.singleFlightShared++;
      const loaded = await flights.join(keys.src, (s) => fetchOnce(url, keys, s), signal);
      if (loaded.kind === 'buffer' || claim(loaded)) return loaded;
      // A stream can be read once: the others waiting for a large source fetch their own.
      return fetchOnce(url, keys, signal);
    },
    async collect(src) {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        src.dispose();
      }, o.timeout);
      timer.unref();
      try {
        return await collect(src.head, src.rest, src.meta.bytes ?? undefined);
      } catch (err) {
        if (closing) throw draining(err);
        throw mapFetchError(err, timedOut || src.res.timedOut(), src.res.url);
      } finally {
        clearTimeout(timer);
      }
    },
    abort() {
      closing = true;
      const reason = draining();
      for (const [controller, dispose] of [...fetches]) {
        controller.abort(reason);
        dispose();
      }
    },
    async close() {
      await flights.settled();
      const agents = await fetcher?.catch(() => undefined);
      if (agents) await Promise.all([agents.guarded.destroy(), agents.open.destroy()]);
    },
  };
}

const draining = (cause?: unknown): HeadroomError => new HeadroomError('HEADROOM_DRAINING', 'the image service is closing', { cause });
