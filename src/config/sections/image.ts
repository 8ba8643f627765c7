// Options of the image proxy (src/image): declared once in src/image/options.ts (default, bound,
// doc line, and the origin lists' per-entry check); the configuration uses those very objects.
import { imageSpecs } from '../../image/options.js';
import { section } from '../options.js';

export const imageOptions = section(imageSpecs);
