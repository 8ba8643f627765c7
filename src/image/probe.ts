// What a source is: format from its bytes, dimensions from its header (never a full decode).
import { HeadroomError } from '../errors.js';
import { loadSharp } from './sharp-settings.js';
import { CONTENT_TYPES, sniff, type SourceFormat } from './sniff.js';

export interface Probe {
  format: SourceFormat;
  contentType: string;
  width: number | null;
  /** Height of one frame for animated images. */
  height: number | null;
  pages: number;
  channels: number;
  hasAlpha: boolean;
}

export async function probe(head: Buffer, allowSvg: boolean): Promise<Probe> {
  const format = sniff(head);
  if (!format)
    throw new HeadroomError(
      'HEADROOM_IMAGE_UNSUPPORTED',
      'the source is not a JPEG, PNG, WebP, AVIF, GIF or TIFF image (checked by its bytes)',
    );
  if (format === 'svg' && !allowSvg)
    throw new HeadroomError('HEADROOM_IMAGE_UNSUPPORTED', 'SVG images are refused (IMAGE_ALLOW_SVG=false)');
  // Outside the try below: a missing sharp is an error to report, not unknown dimensions.
  const sharp = await loadSharp();
  const p: Probe = { format, contentType: CONTENT_TYPES[format], width: null, height: null, pages: 1, channels: 4, hasAlpha: true };
  try {
    // Header only: libvips reads dimensions without decoding pixels; no pixel limit here, the
    // caller checks the numbers before anything is decoded.
    const m = await sharp(head, { limitInputPixels: false, failOn: 'none' }).metadata();
    p.width = m.width ?? null;
    p.height = m.pageHeight ?? m.height ?? null;
    p.pages = m.pages ?? 1;
    p.channels = m.channels ?? 4;
    p.hasAlpha = m.hasAlpha ?? true;
  } catch {
    // A header split beyond the bytes we have: dimensions stay unknown.
  }
  return p;
}

/** Estimated bytes of a decode (4 bytes per pixel: libvips may add alpha) plus the source held. */
export const decodeEstimate = (pixels: number, sourceBytes: number): number => pixels * 4 + sourceBytes;
