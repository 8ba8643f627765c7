// A user of one part loads only what that part needs: a monitor-only app never loads ioredis,
// undici or sharp, a cache-only app (no Redis) never loads ioredis or sharp — neither when it
// imports the entry point nor when it creates and uses the part. Checked on the built package as a
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
};

/** The child: prints the packages in require.cache after importing `entry`, then after `use`. */
function childSource(system: 'cjs' | 'esm', entry: string, use: string): string {
  const load =
    system === 'cjs' ? `const part = require(${JSON.stringify(entry)});` : `const part = await import(${JSON.stringify(entry)});`;
  const preamble = system === 'cjs' ? "const { createRequire } = require('node:module');" : "import { createRequire } from 'node:module';";
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

    test(`${system}: headroom-memory/cache without Redis loads neither sharp nor ioredis, imported or used`, async () => {
      const r = await loaded(system, 'headroom-memory/cache', 'cache');
      for (const at of ['imported', 'used'] as const)
        for (const heavy of ['ioredis', 'sharp']) assert.ok(!r[at].includes(heavy), `${heavy} ${at}: ${r[at].join(', ')}`);
    });
  }
});
