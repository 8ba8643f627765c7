// Options of the memory monitor: declared once in src/monitor/options.ts, used here as they are.
import { monitorSpecs as specs } from '../../monitor/options.js';
import { section } from '../options.js';

export const monitorOptions = section(specs);
