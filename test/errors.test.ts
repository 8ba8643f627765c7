import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, HeadroomError, isErrorCode, isHeadroomError, statusOf } from '../src/errors.js';
import { renderErrorDocs } from '../src/errors-docs.js';
import { allOptions, ConfigError, loadConfig } from '../src/config/index.js';
import { FOREIGN_OK } from '../src/config/load.js';
import { cacheCases } from './errors/cache.js';
import { closeShared, type Cases } from './errors/fixtures.js';
import { imageCases } from './errors/image.js';
import { proxyCases } from './errors/proxy.js';
import { serverCases } from './errors/server.js';

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

test('every HEADROOM_* code the docs and the README name is in the registry', () => {
  // Environment variables share the prefix; they are not codes: options, the CLI's own variables,
  // and the HEADROOM_REQUIRE_* switches that turn a test's loud SKIP into a failure (CI sets them).
  const vars = new Set([...allOptions.map((o) => o.option.env), ...FOREIGN_OK]);
  const files = [
    'README.md',
    ...readdirSync('docs')
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
  ];
  for (const file of files) {
    // A name followed by `_` or a letter is a prefix or part of a longer word (e.g. "HEADROOM_IMAGE_" in prose).
    for (const [name] of readFileSync(file, 'utf8').matchAll(/\bHEADROOM_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])/g)) {
      if (!vars.has(name) && !/^HEADROOM_REQUIRE_[A-Z]+$/.test(name))
        assert.ok(isErrorCode(name), `${file} names ${name}, which is neither an error code nor an option`);
    }
  }
});

test('HeadroomError carries code, status, headers and the JSON body shape', () => {
  const err = new HeadroomError('HEADROOM_OVERLOADED', 'busy', { headers: { 'retry-after': '1' } });
  assert.equal(err.statusCode, 503);
  assert.deepEqual(err.headers, { 'retry-after': '1' });
  assert.deepEqual(JSON.parse(JSON.stringify(err)), { error: { code: 'HEADROOM_OVERLOADED', message: 'busy' } });
});

test('statusOf and isErrorCode read the registry, which cannot be changed at run time', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    assert.ok(isErrorCode(code));
    assert.equal(statusOf(code), e.status);
  }
  for (const v of ['HEADROOM_NOPE', 'toString', '__proto__', 42, undefined]) assert.equal(isErrorCode(v), false, String(v));
  assert.throws(() => {
    (ERRORS as unknown as Record<string, { status: number }>).HEADROOM_INTERNAL!.status = 200;
  }, TypeError);
  assert.equal(statusOf('HEADROOM_INTERNAL'), 500);
  assert.throws(() => new HeadroomError('HEADROOM_NOPE' as never, 'x'), {
    name: 'TypeError',
    message: 'HeadroomError: "HEADROOM_NOPE" is not one of headroom\'s error codes (see ERRORS)',
  });
  assert.throws(() => statusOf('HEADROOM_NOPE' as never), {
    name: 'TypeError',
    message: 'statusOf: "HEADROOM_NOPE" is not one of headroom\'s error codes (see ERRORS)',
  });
});

test('headroom-memory/errors is a public entry point exporting the registry', async () => {
  interface Target {
    types: string;
    default: string;
  }
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    exports: Record<string, string | { import: Target; require: Target }>;
    typesVersions: Record<'*', Record<string, string[]>>;
  };
  const entry = pkg.exports['./errors'];
  assert.ok(typeof entry === 'object', 'package.json "exports" has "./errors"');
  // Every entry point: the ESM build dist/x.js and the CommonJS build dist/cjs/x.js, both from
  // src/x.ts, each with its own .d.ts; node10 resolution (no "exports") finds the CommonJS types.
  // Except next/image-loader: both conditions load its CommonJS build, whose module.exports is the
  // loader (scripts/build-finish.mjs); the import side keeps the ESM types.
  for (const [name, e] of Object.entries(pkg.exports)) {
    if (typeof e === 'string') continue;
    const bothCjs = name === './next/image-loader';
    const esm = bothCjs ? e.import.types.replace(/\.d\.ts$/, '.js') : e.import.default;
    if (bothCjs) assert.equal(e.import.default, e.require.default, name);
    assert.match(esm, /^\.\/dist\/(?!cjs\/).*\.js$/, name);
    assert.equal(e.require.default, esm.replace(/^\.\/dist\//, './dist/cjs/'), name);
    assert.equal(e.import.types, esm.replace(/\.js$/, '.d.ts'), name);
    assert.equal(e.require.types, e.require.default.replace(/\.js$/, '.d.ts'), name);
    assert.deepEqual(pkg.typesVersions['*'][name.slice(2)], [e.require.types.slice(2)], `typesVersions for ${name}`);
    const src = esm.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    assert.ok(existsSync(src), `${name}: ${src} exists`);
  }
  const mod = (await import(`../${entry.import.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')}`)) as Record<
    string,
    unknown
  >;
  assert.deepEqual(Object.keys(mod).sort(), ['ERRORS', 'HeadroomError', 'isErrorCode', 'isHeadroomError', 'statusOf']);
  assert.equal(mod.HeadroomError, HeadroomError, 'the same class the parts throw, so instanceof works');
});

test('isHeadroomError knows a HeadroomError of another copy of the package (ESM and CommonJS builds)', () => {
  // What the other build's class looks like from here: branded with the same registered symbol.
  class OtherCopy extends Error {
    readonly code = 'HEADROOM_OVERLOADED';
  }
  Object.defineProperty(OtherCopy.prototype, Symbol.for('headroom-memory.HeadroomError'), { value: true });
  const err = new OtherCopy('busy');
  assert.equal(err instanceof HeadroomError, false);
  assert.equal(isHeadroomError(err), true);
  assert.equal(isHeadroomError(new Error('x')), false);
  assert.equal(isHeadroomError({ code: 'HEADROOM_OVERLOADED' }), false);
  assert.equal(isHeadroomError(null), false);
  assert.equal(isHeadroomError(new HeadroomError('HEADROOM_INTERNAL', 'x')), true);
});

test('a configuration error is a HeadroomError (HEADROOM_CONFIG_INVALID) that lists every problem', () => {
  assert.throws(
    () => loadConfig({ env: { PORT: 'eighty', CACHE_MAX_ENTRIES: '0' } }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(isHeadroomError(err));
      assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
      assert.equal(err.statusCode, statusOf('HEADROOM_CONFIG_INVALID'));
      assert.equal(err.name, 'ConfigError');
      assert.equal(err.problems.length, 2, err.message);
      assert.match(err.message, /^invalid configuration:\n {2}PORT/);
      return true;
    },
  );
});

// One case per code: real code (a part, or the gateway through a socket) raises it, and the status
// it answers with is the registry's. A code without a case fails here, by name.
const cases: Cases = { ...serverCases, ...proxyCases, ...imageCases, ...cacheCases };

describe('every code is raised by real code, with its status', () => {
  after(closeShared);

  for (const code of Object.keys(ERRORS)) {
    test(code, async () => {
      const raise = cases[code as keyof Cases];
      assert.ok(raise, `no test raises ${code}: add a case to test/errors/ (server, proxy, image or cache) that makes real code raise it`);
      const got = await raise();
      assert.equal(got.code, code);
      assert.equal(got.status, statusOf(code as keyof typeof ERRORS), `${code} answered ${got.status}`);
    });
  }

  test('test/errors/ has cases only for registered codes', () => {
    for (const code of Object.keys(cases))
      assert.ok(isErrorCode(code), `test/errors/ has a case for ${code}, which is not in src/errors.ts`);
  });
});
