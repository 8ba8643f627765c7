// sharp pipelines: EXIF orientation applied, resize without enlargement and within the output
// bound, re-encode, metadata stripped unless asked to keep it. Animated inputs keep their frames
// (webp and gif outputs).
//
// A transform runs whole (transform()) or in two stages: decodeResize() produces the output's raw
// pixels and encodeRaw() encodes them. For the stageable() cases both give the same bytes. Staging lets the memory-heavy
// half (decoding the source) hold a transform slot while the encode of a small output runs
// beside the next decode, so a bound of one transform at a time still uses two cores.
import type { ResizeOptions, Sharp } from 'sharp';
import { loadSharp, type SharpModule } from './sharp-settings.js';
import type { Fit } from './params.js';

export type OutputFormat = 'webp' | 'avif' | 'jpeg' | 'png' | 'gif';

export interface TransformSpec {
  w?: number;
  h?: number;
  fit?: Fit;
  quality: number;
  format: OutputFormat;
  animated: boolean;
  keepMetadata: boolean;
  maxInputPixels: number;
  /** Largest output width and height, whatever was asked (IMAGE_MAX_OUTPUT_DIMENSION; less for WebP). */
  maxDimension: number;
  /** Longest each sharp pipeline may run (sharp's timeout: whole seconds). */
  timeoutSeconds: number;
  /** libaom's effort for an AVIF output (avifEffort of the output's size); sharp's default 4 when unset. */
  avifEffort?: number;
}

/**
 * The AVIF effort for an output of at most `pixels` pixels (Infinity: not known). sharp's timeout()
 * cannot stop an AVIF encode (libheif encodes in one call once the pixels are ready), so its time
 * is bounded by a lower effort for larger outputs. Measured on the 2-core dev VM with noise, the
 * slowest content, per megapixel: effort 4 (sharp's default) ~10-12 s, 3 ~1.8 s, 2 ~1.1 s, 0 ~0.4 s;
 * so no encode up to 16 MP takes more than ~9 s there (a smooth photo a fraction of that).
 */
export function avifEffort(pixels: number): number {
  if (pixels <= 500_000) return 4;
  if (pixels <= 4_000_000) return 3;
  if (pixels <= 8_000_000) return 2;
  return 0;
}

/** Decoded, resized pixels between the two stages. */
export interface RawImage {
  data: Buffer;
  info: { width: number; height: number; channels: 1 | 2 | 3 | 4 };
}

async function decodePipeline(sharp: SharpModule, input: Buffer, s: TransformSpec): Promise<Sharp> {
  const img = sharp(input, { limitInputPixels: s.maxInputPixels, animated: s.animated, autoOrient: true, failOn: 'error' }).timeout({
    seconds: s.timeoutSeconds,
  });
  return img.resize(await resizeFor(img, s));
}

/**
 * The resize asked for, never enlarging, with the output bounded to maxDimension × maxDimension
 * (aspect kept): a side left free would otherwise follow the source, up to IMAGE_MAX_INPUT_PIXELS.
 */
async function resizeFor(img: Sharp, s: TransformSpec): Promise<ResizeOptions> {
  const { w, h, maxDimension: max } = s;
  const withinMax: ResizeOptions = { width: max, height: max, fit: 'inside', withoutEnlargement: true };
  if (w === undefined && h === undefined) return withinMax;
  // One side given: the other follows the aspect ratio (fill: keeps the source's), up to max.
  if (w === undefined || h === undefined)
    return { width: w ?? max, height: h ?? max, fit: s.fit === 'fill' ? 'fill' : 'inside', withoutEnlargement: true };
  // cover, contain, fill and inside stay within w × h; outside covers it, so its other side can
  // pass max: then no output within max covers w × h, and the largest one that fits is made.
  if (s.fit === 'outside') {
    const m = await img.metadata();
    const width = m.autoOrient.width;
    const height = m.pageHeight ?? m.autoOrient.height;
    const scale = Math.min(1, Math.max(w / width, h / height));
    if (Math.round(width * scale) > max || Math.round(height * scale) > max) return withinMax;
  }
  return { width: w, height: h, fit: s.fit, withoutEnlargement: true };
}

function encode(img: Sharp, s: TransformSpec): Promise<Buffer> {
  switch (s.format) {
    case 'webp':
      return img.webp({ quality: s.quality }).toBuffer();
    case 'avif':
      return img.avif({ quality: s.quality, effort: s.avifEffort ?? 4 }).toBuffer();
    case 'jpeg':
      return img.jpeg({ quality: s.quality, mozjpeg: false }).toBuffer();
    case 'png':
      return img.png().toBuffer();
    case 'gif':
      return img.gif().toBuffer();
  }
}

// Each stage loads sharp on first use (the first image of the process); later calls get it at once.
export async function transform(input: Buffer, s: TransformSpec): Promise<Buffer> {
  const img = await decodePipeline(await loadSharp(), input, s);
  return encode(s.keepMetadata ? img.keepMetadata() : img, s);
}

export async function decodeResize(input: Buffer, s: TransformSpec): Promise<RawImage> {
  const { data, info } = await (await decodePipeline(await loadSharp(), input, s)).raw().toBuffer({ resolveWithObject: true });
  return { data, info: { width: info.width, height: info.height, channels: info.channels } };
}

export async function encodeRaw(raw: RawImage, s: TransformSpec): Promise<Buffer> {
  const sharp = await loadSharp();
  return encode(sharp(raw.data, { raw: raw.info }).timeout({ seconds: s.timeoutSeconds }), s);
}

/**
 * Whether a transform may be staged: single frame, no metadata to carry (raw pixels have none),
 * and a format whose output holds nothing but pixels — PNG would lose the source's pixel density
 * (pHYs), GIF is animated or tiny.
 */
export const stageable = (s: TransformSpec): boolean =>
  !s.animated && !s.keepMetadata && (s.format === 'webp' || s.format === 'avif' || s.format === 'jpeg');

/**
 * An upper bound on the output's pixel count for a resize of a srcW × srcH source (never
 * enlarged); used to decide whether the raw pixels between the stages are small enough to hold.
 */
export function outputPixelsBound(srcW: number, srcH: number, w?: number, h?: number, fit?: Fit): number {
  if (w === undefined && h === undefined) return srcW * srcH;
  // fit=fill with one dimension stretches that one alone and keeps the other.
  if (fit === 'fill' && (w === undefined || h === undefined)) return w !== undefined ? Math.min(w, srcW) * srcH : srcW * Math.min(h!, srcH);
  // The largest scale a fit can choose: the larger of the two ratios (fit=outside), capped at 1.
  const scale = Math.min(1, Math.max(w !== undefined ? w / srcW : 0, h !== undefined ? h / srcH : 0));
  const scaled = Math.ceil(srcW * scale) * Math.ceil(srcH * scale);
  // cover/contain/fill produce at most w × h (contain pads to it).
  return w !== undefined && h !== undefined ? Math.max(scaled, w * h) : scaled;
}
