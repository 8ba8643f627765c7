// A custom `images.loader` for next/image that sends every image through headroom's image route.
// It runs in the browser as well as on the server, so it imports nothing.
//
//   // next.config.ts: images: { loader: 'custom', loaderFile: './image-loader.ts' }
//   // image-loader.ts:
//   export { default } from 'headroom-memory/next/image-loader';
// Both package conditions get the CommonJS build of this file, whose module.exports is the loader
// (scripts/build-finish.mjs): with serverExternalPackages Next.js would load an ES module asynchronously
// on the server, where next/image calls the loader synchronously while rendering.

export interface ImageLoaderProps {
  src: string;
  width: number;
  quality?: number;
}

export interface ImageLoaderOptions {
  /** Path of the image route (createImageRoute). Default '/image'. */
  path?: string;
  /** Quality when next/image passes none (1–100). Default 75. */
  quality?: number;
  /**
   * Origin put before a relative src ('/photos/a.jpg'): the image service fetches absolute URLs
   * from its allowed origins only. Default: relative srcs are passed as they are (and refused).
   */
  origin?: string;
  /** Largest width asked: the image route's IMAGE_MAX_OUTPUT_DIMENSION (16–16384). Default 4096, its default. */
  maxWidth?: number;
}

const OPTIONS = ['path', 'quality', 'origin', 'maxWidth'];
/** IMAGE_MAX_OUTPUT_DIMENSION's default and bounds (this file imports nothing, so they are repeated here). */
const MAX_WIDTH = 4096;
const MAX_WIDTH_BOUNDS = [16, 16_384] as const;
const isQuality = (q: unknown): q is number => typeof q === 'number' && Number.isInteger(q) && q >= 1 && q <= 100;
const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * A loader for next/image: `/image?url=…&w=…&q=…`. Bad options throw a TypeError here (at start-up,
 * where next.config's loader file is read); a bad width or quality throws when the image renders,
 * naming its src, instead of a URL the image route would refuse.
 */
export function createImageLoader(options: ImageLoaderOptions = {}): (props: ImageLoaderProps) => string {
  if (options === null || typeof options !== 'object')
    throw new TypeError(`createImageLoader: options must be an object, got ${shown(options)}`);
  for (const key of Object.keys(options))
    if (!OPTIONS.includes(key)) throw new TypeError(`createImageLoader: unknown option ${key} (the options are ${OPTIONS.join(', ')})`);
  const path = options.path ?? '/image';
  if (typeof path !== 'string' || !/^\/[^?#\s]*$/.test(path))
    throw new TypeError(`createImageLoader: path=${shown(path)}: must be the image route's path, starting with / (no ? or #)`);
  const maxWidth = options.maxWidth ?? MAX_WIDTH;
  if (typeof maxWidth !== 'number' || !Number.isInteger(maxWidth) || maxWidth < MAX_WIDTH_BOUNDS[0] || maxWidth > MAX_WIDTH_BOUNDS[1])
    throw new TypeError(
      `createImageLoader: maxWidth=${shown(maxWidth)}: must be an integer from ${MAX_WIDTH_BOUNDS[0]} to ${MAX_WIDTH_BOUNDS[1]} (the image route's IMAGE_MAX_OUTPUT_DIMENSION)`,
    );
  const fallback = options.quality ?? 75;
  if (!isQuality(fallback)) throw new TypeError(`createImageLoader: quality=${shown(fallback)}: must be an integer from 1 to 100`);
  let origin: string | undefined;
  if (options.origin !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(String(options.origin));
    } catch {
      u = undefined;
    }
    if (typeof options.origin !== 'string' || !u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
      throw new TypeError(
        `createImageLoader: origin=${shown(options.origin)}: must be an absolute http(s) URL, such as https://cms.example.com`,
      );
    origin = options.origin.replace(/\/+$/, '');
  }
  return ({ src, width, quality }) => {
    if (typeof src !== 'string' || src === '')
      throw new TypeError(`headroom image loader: src must be a non-empty string, got ${shown(src)}`);
    if (typeof width !== 'number' || !Number.isInteger(width) || width < 1)
      throw new TypeError(`headroom image loader: ${src}: width must be a positive integer, got ${shown(width)}`);
    if (width > maxWidth)
      throw new TypeError(
        `headroom image loader: ${src}: width must be at most ${maxWidth} (maxWidth: the image route's IMAGE_MAX_OUTPUT_DIMENSION), got ${width}`,
      );
    if (quality !== undefined && !isQuality(quality))
      throw new TypeError(`headroom image loader: ${src}: quality must be an integer from 1 to 100, got ${shown(quality)}`);
    const url = origin && src.startsWith('/') && !src.startsWith('//') ? `${origin}${src}` : src;
    return `${path}?url=${encodeURIComponent(url)}&w=${width}&q=${quality ?? fallback}`;
  };
}

/** The loader with the defaults (route at /image, quality 75). */
const loader = createImageLoader();
export default loader;
