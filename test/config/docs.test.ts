import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderConfigDocs } from '../../src/config/docs.js';
import { allOptions } from '../../src/config/schema.js';

test('docs/configuration.md is generated from the schema (run `npm run docs` when this fails)', () => {
  assert.equal(readFileSync('docs/configuration.md', 'utf8'), renderConfigDocs());
});

test('every option has a description, a bound and a unique env name and flag', () => {
  const envs = new Set<string>();
  const flags = new Set<string>();
  for (const { option } of allOptions) {
    assert.ok(option.doc.length > 10, `${option.env} needs a description`);
    assert.ok(option.accepted.length > 5, `${option.env} needs an accepted-values text`);
    assert.ok(!envs.has(option.env), `duplicate env ${option.env}`);
    assert.ok(!flags.has(option.flag), `duplicate flag ${option.flag}`);
    envs.add(option.env);
    flags.add(option.flag);
  }
});

test('every default is accepted by its own option', () => {
  for (const { option } of allOptions) {
    if (option.default === undefined) continue;
    const r = option.read(option.default);
    assert.ok('value' in r, `${option.env} default ${String(option.default)} is rejected`);
    assert.deepEqual(r.value, option.default, `${option.env} default reads as itself`);
  }
});
