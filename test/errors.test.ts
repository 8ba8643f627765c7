import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS, HeadroomError } from '../src/errors.js';
import { renderErrorDocs } from '../src/errors-docs.js';

test('docs/errors.md is generated from the registry (run `npm run docs` when this fails)', () => {
  assert.equal(readFileSync('docs/errors.md', 'utf8'), renderErrorDocs());
});

test('every code maps to one HTTP status and has a description', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    assert.match(code, /^HEADROOM_[A-Z0-9_]+$/);
    assert.ok(e.status >= 400 && e.status < 600, code);
    assert.ok(e.doc.length > 10, code);
  }
});

test('HeadroomError carries code, status, headers and the JSON body shape', () => {
  const err = new HeadroomError('HEADROOM_OVERLOADED', 'busy', { headers: { 'retry-after': '1' } });
  assert.equal(err.statusCode, 503);
  assert.deepEqual(err.headers, { 'retry-after': '1' });
  assert.deepEqual(JSON.parse(JSON.stringify(err)), { error: { code: 'HEADROOM_OVERLOADED', message: 'busy' } });
});
