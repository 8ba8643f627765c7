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
    'In a library, the parts throw `HeadroomError`s with the same codes; the registry is exported:',
    '',
    '```ts',
    "import { ERRORS, HeadroomError, isErrorCode, isHeadroomError, statusOf, type ErrorCode } from 'headroom-memory/errors';",
    '',
    'try {',
    '  await cache.getOrSet(key, load, { timeout: 2000 });',
    '} catch (err) {',
    "  if (isHeadroomError(err) && err.code === 'HEADROOM_CACHE_LOADER_TIMEOUT') {",
    '    // err.statusCode === statusOf(err.code) === 504; err.headers holds e.g. Retry-After',
    '  }',
    '  throw err;',
    '}',
    '```',
    '',
    '`ERRORS` maps each code to `{ status, doc }` (frozen); `isErrorCode(body.error.code)` checks a code read',
    "from a response. The gateway's configuration errors (`ConfigError`, with every problem in `problems`) are",
    '`HeadroomError`s with the code `HEADROOM_CONFIG_INVALID`.',
    '',
    '| Code | Status | Meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
