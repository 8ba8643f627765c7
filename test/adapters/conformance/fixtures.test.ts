// Every fixture app in test/fixtures/apps has its conformance test file here, so none is left out.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

test('every fixture app has a conformance test file', () => {
  const apps = join('test', 'fixtures', 'apps');
  const names = readdirSync(apps).filter((n) => existsSync(join(apps, n, 'fixture.json')));
  assert.ok(names.length >= 5, `fixtures found: ${names.join(', ')}`);
  for (const name of names) {
    assert.ok(
      existsSync(join('test', 'adapters', 'conformance', `${name}.test.ts`)),
      `test/adapters/conformance/${name}.test.ts is missing`,
    );
  }
});
