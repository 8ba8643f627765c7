// Variants: from the cache, or made once (single-flight) from the source by the stages and cached
// when small enough.
import { createFlights } from './flights.js';
import { isAnimated } from './formats.js';
import { freshFor } from './http-headers.js';
import type { ImageParams } from './params.js';
import type { Loaded, SourceLoader } from './source.js';
import type { Stages } from './stages.js';
import type { ImageCounters } from './stats.js';
import { variantKey, type ImageStore, type Keys, type VariantKeyOptions } from './store.js';
import type { OutputFormat } from './transform.js';
import type { ImageMeta } from './types.js';

interface Options extends VariantKeyOptions {
  maxCacheSize: number;
  cacheTtl: number;
}

/** 'original': an animated source asked for a format that cannot keep its frames. */
/** `hit`: read from the cache (false for one made now, whoever waited for it). */
export type Variant = { bytes: Buffer; maxAge: number; hit: boolean } | 'original';

export interface Variants {
  /**
   * The variant of `url` in `format`. `preloaded`: the source, when negotiation already needed it
   * (this call disposes of it if unused); `meta`: its metadata if known. `signal`: this caller left.
   */
  get(
    url: URL,
    keys: Keys,
    params: ImageParams,
    format: OutputFormat,
    preloaded: Loaded | undefined,
    meta: ImageMeta | undefined,
    signal?: AbortSignal,
  ): Promise<Variant>;
  /** Settles when every transform started so far has. */
  settled(): Promise<void>;
}

export function createVariants(o: Options, sources: SourceLoader, stages: Stages, store: ImageStore, counters: ImageCounters): Variants {
  const { c } = counters;
  // Shared transforms; each is aborted once every caller waiting for it has left.
  const flights = createFlights<Variant>();

  /** `signal` aborts when every caller waiting for this variant has left. */
  async function make(
    url: URL,
    keys: Keys,
    params: ImageParams,
    format: OutputFormat,
    vkey: string,
    preloaded: Loaded | undefined,
    signal: AbortSignal,
  ): Promise<Variant> {
    const src = preloaded ?? (await sources.load(url, keys, undefined, signal));
    // A streamed source holds an admission slot and a connection while it waits for a transform
    // slot or is collected in one: give them back as soon as nobody wants the result.
    const abandon = (): void => {
      if (src.kind === 'stream') src.dispose();
    };
    signal.addEventListener('abort', abandon, { once: true });
    try {
      if (signal.aborted) throw signal.reason;
      if (isAnimated(src.meta) && format !== 'webp' && format !== 'gif') return 'original';
      const out = await stages.transform(src, params, format, signal);
      // The variant is as fresh as its source: it expires with it, however late it was made.
      const maxAge = freshFor(src.meta);
      if (out.length <= o.maxCacheSize && maxAge > 0) await store.set(vkey, out, maxAge, keys.tags);
      return { bytes: out, maxAge, hit: false };
    } finally {
      signal.removeEventListener('abort', abandon);
      abandon();
    }
  }

  return {
    async get(url, keys, params, format, preloaded, meta, signal) {
      const vkey = variantKey(keys, params, format, o);
      const hit = await store.get<Buffer>(vkey);
      if (Buffer.isBuffer(hit)) {
        if (preloaded?.kind === 'stream') preloaded.dispose();
        c.hits++;
        meta ??= await store.get<ImageMeta>(keys.meta);
        return { bytes: hit, maxAge: meta ? freshFor(meta) : Math.floor(o.cacheTtl / 1000), hit: true };
      }
      counters.forget(vkey);
      c.misses++;
      if (flights.has(vkey)) c.singleFlightShared++;
      // The preloaded source goes to a new flight; joining a running one (or leaving) drops it.
      if (preloaded?.kind === 'stream' && (flights.has(vkey) || signal?.aborted)) preloaded.dispose();
      return flights.join(vkey, (s) => make(url, keys, params, format, vkey, preloaded, s), signal);
    },
    settled: () => flights.settled(),
  };
}
