// npm run docs: regenerates docs/configuration.md from the config schema.
import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../src/config/docs.js';

writeFileSync('docs/configuration.md', renderConfigDocs());
console.log('wrote docs/configuration.md');
