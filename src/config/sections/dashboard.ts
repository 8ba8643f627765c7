// Options of the live dashboard: declared once in src/observe/dashboard/options.ts, used here as they are.
import { dashboardSpecs as specs } from '../../observe/dashboard/options.js';
import { section } from '../options.js';

export const dashboardOptions = section(specs);
