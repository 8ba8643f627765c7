// The page's files reach users: the packed tarball holds them for both builds, and the built
// package (ESM and CommonJS) serves the page, its scripts and uPlot from where they are installed.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import type * as ToolkitModule from '../../../src/toolkit/index.js';
import { builtPackage, ROOT } from '../../helpers/install.js';

type Toolkit = typeof ToolkitModule;

test('the tarball ships the dashboard files in dist/ and dist/cjs/, and both builds serve them', { timeout: 300_000 }, async () => {
  const built = await builtPackage();
  const files = new Set(built.files);
  const statics = readdirSync(join(ROOT, 'src/observe/dashboard/static'));
  assert.ok(statics.includes('index.html') && statics.includes('app.js'));
  for (const build of ['dist', 'dist/cjs']) {
    for (const f of statics) assert.ok(files.has(`${build}/observe/dashboard/static/${f}`), `${build}: ${f} is packed`);
    assert.ok(files.has(`${build}/observe/dashboard/here.cjs`), `${build}: here.cjs is packed`);
  }
  const esm = (await import(pathToFileURL(join(built.dir, 'dist/toolkit/index.js')).href)) as Toolkit;
  const cjs = createRequire(join(built.dir, 'package.json'))('./dist/cjs/toolkit/index.js') as Toolkit;
  for (const [name, toolkit] of [
    ['esm', esm],
    ['cjs', cjs],
  ] as const) {
    const h = toolkit.createHeadroom({ adminToken: 'package-dashboard-token-0123', monitor: { rssLimit: null } });
    try {
      for (const path of ['/dashboard', '/dashboard/app.js', '/dashboard/uPlot.iife.min.js', '/dashboard/uPlot.min.css']) {
        const r = await h.admin({ method: 'GET', path, query: new URLSearchParams(), authorization: undefined, client: 'test' });
        assert.equal(r.status, 200, `${name} ${path}: ${r.body}`);
        assert.ok((r.bytes?.length ?? 0) > 100, `${name} ${path} has a body`);
      }
    } finally {
      await h.close();
    }
  }
});
