// One sharp pipeline: EXIF orientation applied, resize without enlargement, re-encode, metadata
// stripped unless asked to keep it. Animated inputs keep their frames (webp and gif outputs).
import sharp from 'sharp';
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
}

export async function transform(input: Buffer, s: TransformSpec): Promise<Buffer> {
  let img = sharp(input, { limitInputPixels: s.maxInputPixels, animated: s.animated, autoOrient: true, failOn: 'error' });
  if (s.w !== undefined || s.h !== undefined) img = img.resize({ width: s.w, height: s.h, fit: s.fit, withoutEnlargement: true });
  if (s.keepMetadata) img = img.keepMetadata();
  switch (s.format) {
    case 'webp': return img.webp({ quality: s.quality }).toBuffer();
    case 'avif': return img.avif({ quality: s.quality }).toBuffer();
    case 'jpeg': return img.jpeg({ quality: s.quality, mozjpeg: false }).toBuffer();
    case 'png': return img.png().toBuffer();
    case 'gif': return img.gif().toBuffer();
  }
}
