// Decides what an image is from its first bytes, never from the Content-Type the origin claims.
export type SourceFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'tiff' | 'svg';

export const CONTENT_TYPES: Record<SourceFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
};

/** Bytes needed before sniff() can decide (SVG looks a little further for its root element). */
export const SNIFF_BYTES = 1024;

const ascii = (b: Uint8Array, start: number, end: number): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1', Math.min(start, b.length), Math.min(end, b.length));

export function sniff(head: Uint8Array): SourceFormat | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (ascii(head, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  const six = ascii(head, 0, 6);
  if (six === 'GIF87a' || six === 'GIF89a') return 'gif';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  const four = ascii(head, 0, 4);
  if (four === 'II*\0' || four === 'MM\0*') return 'tiff';
  if (ascii(head, 4, 8) === 'ftyp' && isAvifBrand(head)) return 'avif';
  if (looksLikeSvg(head)) return 'svg';
  return undefined;
}

// ISO-BMFF: the ftyp box lists a major brand and compatible brands; AVIF uses avif/avis.
function isAvifBrand(head: Uint8Array): boolean {
  const size = Math.min(head.length, Buffer.from(head.buffer, head.byteOffset, 4).readUInt32BE(0), 256);
  for (let i = 8; i + 4 <= size; i += 4) {
    if (i === 12) continue; // minor version
    const brand = ascii(head, i, i + 4);
    if (brand === 'avif' || brand === 'avis') return true;
  }
  return false;
}

function looksLikeSvg(head: Uint8Array): boolean {
  const text = ascii(head, 0, SNIFF_BYTES)
    .replace(/^\xef\xbb\xbf/, '')
    .trimStart();
  // The root element must be <svg>, after an optional XML declaration, comments and doctype.
  return /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]/i.test(text);
}
