// A user of one part loads only what that part needs: a monitor-only app never loads ioredis,
// undici or sharp, a cache-only app (no Redis) never loads ioredis or sharp, an adapter without a
// proxy never loads undici (it loads when a proxy is created) — neither when it imports the entry
// point nor when it creates and uses the part. Checked on the built package as a
// user gets it (builtPackage()), through both builds: `require('headroom-memory/monitor')` and
// `import('headroom-memory/monitor')`, each in a fresh process. ioredis, undici and sharp are
// CommonJS, so whichever module system loads them, they land in require.cache, which the child
// reports as package names.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { builtPackage } from '../helpers/install.js';

const run = promisify(execFile);

/** What the child does with the entry's exports once imported: create the part, use it, close it. */
const USE: Record<string, string> = {
  none: '',
  monitor: 'const m = part.createMemoryMonitor({ sampleInterval: 50 }); m.start(); m.report(); await m.close();',
  cache:
    "const c = part.createCache({}); await c.set('k', Buffer.from('v')); if (!(await c.get('k'))) throw new Error('cache miss'); await c.close();",
  headroom: 'const h = part.createHeadroom({}); h.health(); await h.metrics(); await h.close();',
  // A proxy made and used at once: its request waits for undici, which loads when the proxy is created.
  proxy: `const http = require('node:http');
    const upstream = http.createServer((req, res) => res.end('upstream saw ' + req.url));
    await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
    const h = part.createHeadroom({ proxy: { upstreamUrl: 'http://127.0.0.1:' + upstream.address().port, prefix: '/api' } });
    const res = await h.proxy.fetch(new Request('http://app.test/api/echo?x=1'));
    const text = await res.text();
    if (res.status !== 200 || text !== 'upstream saw /echo?x=1') throw new Error('proxy answered ' + res.status + ' ' + text);
    await h.close();
    upstream.close();`,
};

/** The child: prints the packages in require.cache after importing `entry`, then after `use`. */
function childSource(system: 'cjs' | 'esm', entry: string, use: string): string {
  const load =
    system === 'cjs' ? `const part = require(${JSON.stringify(entry)});` : `const part = await import(${JSON.stringify(entry)});`;
  const preamble =
    system === 'cjs'
      ? "const { createRequire } = require('node:module');"
      : "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";
  const body = `
    const packages = () => [...new Set(Object.keys(createRequire(process.cwd() + '/').cache)
      .map((f) => /node_modules\\/((@[^/]+\\/)?[^/]+)\\//.exec(f)?.[1]).filter(Boolean))].sort();
    ${load}
    const imported = packages();
    ${use}
    console.log(JSON.stringify({ imported, used: packages() }));`;
  return system === 'cjs'
    ? `${preamble}(async () => {${body}})().catch((e) => { console.error(e); process.exit(1); });`
    : `${preamble}${body}`;
}

describe('a user of one part does not load the heavy dependencies of the others', { timeout: 300_000 }, () => {
  let project = '';
  before(async () => {
    const built = await builtPackage();
    // A project with the package installed under its name (a link to the built folder).
    project = mkdtempSync(join(tmpdir(), 'headroom-lazy-'));
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(built.dir, join(project, 'node_modules', 'headroom-memory'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'project', private: true }));
  });
  after(() => rmSync(project, { recursive: true, force: true }));

  async function loaded(system: 'cjs' | 'esm', entry: string, use: keyof typeof USE): Promise<{ imported: string[]; used: string[] }> {
    const args = system === 'cjs' ? ['-e'] : ['--input-type=module', '-e'];
    const { stdout } = await run(process.execPath, [...args, childSource(system, entry, USE[use]!)], { cwd: project, timeout: 60_000 });
    return JSON.parse(stdout) as { imported: string[]; used: string[] };
  }

  for (const system of ['cjs', 'esm'] as const) {
    test(`${system}: the check sees a dependency that is loaded (the proxy entry loads undici)`, async () => {
      const r = await loaded(system, 'headroom-memory/proxy', 'none');
      assert.ok(r.imported.includes('undici'), `undici among ${r.imported.join(', ')}`);
    });

    test(`${system}: headroom-memory/monitor loads neither ioredis, undici nor sharp, imported or used`, async () => {
      const r = await loaded(system, 'headroom-memory/monitor', 'monitor');
      for (const at of ['imported', 'used'] as const)
        for (const heavy of ['ioredis', 'undici', 'sharp']) assert.ok(!r[at].includes(heavy), `${heavy} ${at}: ${r[at].join(', ')}`);
    });

    // prom-client's index loads @opentelemetry/api (its default metrics' CPU module, for exemplars);
    // headroom loads prom-client's registry, metric classes and default-metric modules by path.
    test(`${system}: neither the monitor nor an adapter with its metrics scraped loads @opentelemetry/api (prom-client's index)`, async () => {
      assert.ok(!(await loaded(system, 'headroom-memory/monitor', 'monitor')).used.includes('@opentelemetry/api'));
      for (const entry of ['fastify', 'express', 'next', 'nestjs']) {
        const r = await loaded(system, `headroom-memory/${entry}`, 'none');
        assert.ok(r.imported.includes('prom-client'), `${entry}: prom-client among ${r.imported.join(', ')}`);
        assert.ok(!r.imported.includes('@opentelemetry/api'), `${entry}: ${r.imported.join(', ')}`);
      }
      const r = await loaded(system, 'headroom-memory/toolkit', 'headroom');
      assert.ok(!r.used.includes('@opentelemetry/api'), r.used.join(', '));
    });

    test(`${system}: an adapter without a proxy loads neither ioredis, undici nor sharp; createHeadroom without one neither`, async () => {
      for (const entry of ['fastify', 'express', 'next', 'nestjs']) {
        const r = await loaded(system, `headroom-memory/${entry}`, 'none');
        for (const heavy of ['ioredis', 'undici', 'sharp'])
          assert.ok(!r.imported.includes(heavy), `${entry}: ${heavy} in ${r.imported.join(', ')}`);
      }
      const r = await loaded(system, 'headroom-memory/toolkit', 'headroom');
      for (const at of ['imported', 'used'] as const)
        for (const heavy of ['ioredis', 'undici', 'sharp']) assert.ok(!r[at].includes(heavy), `${heavy} ${at}: ${r[at].join(', ')}`);
    });

    test(`${system}: createHeadroom with a proxy loads undici then, and a request made at once is answered`, async () => {
      const r = await loaded(system, 'headroom-memory/toolkit', 'proxy');
      assert.ok(!r.imported.includes('undici'));
      assert.ok(r.used.includes('undici'));
    });

    test(`${system}: headroom-memory/cache without Redis loads neither sharp nor ioredis, imported or used`, async () => {
      const r = await loaded(system, 'headroom-memory/cache', 'cache');
      for (const at of ['imported', 'used'] as const)
        for (const heavy of ['ioredis', 'sharp']) assert.ok(!r[at].includes(heavy), `${heavy} ${at}: ${r[at].join(', ')}`);
    });
  }
});
