// Renders docs/errors.md from the error registry (src/errors.ts).
import { ERRORS } from './errors.js';

export function renderErrorDocs(): string {
  const rows = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.doc} |`);
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors.ts by `npm run docs`; test/errors.test.ts fails when it is stale. -->',
    '',
    'Every error response of the gateway has the body `{"error":{"code":"…","message":"…"}}`. The code is',
    'stable and maps to exactly one HTTP status; the message is for humans and may change.',
    '',
    '| Code | Status | Meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
