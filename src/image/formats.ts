// Which format a variant is encoded in. format=auto follows Accept (webp, then avif); without a
// format the source's own format is kept where browsers can show it.
import type { RequestedFormat } from './params.js';
import type { OutputFormat } from './transform.js';

export const OUTPUT_TYPES: Record<OutputFormat, string> = {
  webp: 'image/webp',
  avif: 'image/avif',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};

/**
 * Whether a source's frames are an animation to keep. A TIFF's pages are separate images: it is
 * transformed from its first page, like a single-page TIFF.
 */
export const isAnimated = (source: { format: string; pages: number }): boolean => source.pages > 1 && source.format !== 'tiff';

const accepts = (accept: string, type: string): boolean =>
  accept.split(',').some((part) => {
    const [t, ...ps] = part.trim().toLowerCase().split(';');
    return t === type && !ps.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p));
  });

/** undefined: the decision needs the source's format (call again with it). */
export function chooseFormat(
  requested: RequestedFormat | undefined,
  accept: string,
  source?: { format: string; hasAlpha: boolean; pages: number },
): OutputFormat | undefined {
  if (requested && requested !== 'auto') return requested;
  if (requested === 'auto') {
    if (accepts(accept, 'image/webp')) return 'webp';
    if (accepts(accept, 'image/avif')) return 'avif';
  }
  if (!source) return undefined;
  const f = source.format;
  if (f === 'jpeg' || f === 'png') return f;
  if (f === 'gif') return source.pages > 1 ? 'gif' : 'png';
  if (requested === undefined && (f === 'webp' || f === 'avif')) return f;
  return source.hasAlpha ? 'png' : 'jpeg';
}
