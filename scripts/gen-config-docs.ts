// npm run docs: regenerates the generated references (configuration, error codes).
import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../src/config/docs.js';
import { renderErrorDocs } from '../src/errors-docs.js';

writeFileSync('docs/configuration.md', renderConfigDocs());
writeFileSync('docs/errors.md', renderErrorDocs());
console.log('wrote docs/configuration.md and docs/errors.md');
