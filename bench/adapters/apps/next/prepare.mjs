// Builds the Next.js bench app (bench/adapters runs it once before the rounds) against the repo's
// source: scripts/next-build.mjs (tsc of src/ into node_modules/headroom-memory/ here, then `next
// build`, skipped while the build is up to date).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareNextAppMain } from '../../../../scripts/next-build.mjs';

prepareNextAppMain(path.dirname(fileURLToPath(import.meta.url)), 'next bench app', { NODE_ENV: 'production' }, 'package');
