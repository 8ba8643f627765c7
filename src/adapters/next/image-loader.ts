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
}

/** A loader for next/image: `/image?url=…&w=…&q=…`. */
export function createImageLoader(options: ImageLoaderOptions = {}): (props: ImageLoaderProps) => string {
  const path = options.path ?? '/image';
  const fallback = options.quality ?? 75;
  const origin = options.origin?.replace(/\/+$/, '');
  return ({ src, width, quality }) => {
    const url = origin && src.startsWith('/') && !src.startsWith('//') ? `${origin}${src}` : src;
    return `${path}?url=${encodeURIComponent(url)}&w=${width}&q=${quality ?? fallback}`;
  };
}

/** The loader with the defaults (route at /image, quality 75). */
const loader = createImageLoader();
export default loader;
