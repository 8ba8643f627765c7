// bench/footprint/adapters: what importing an adapter (and starting headroom without a proxy) costs
// an app's heap. For each entry of the built package, in a fresh plain `node --expose-gc` child (no
// TypeScript loader, one at a time): heap used after two full GCs before the import, after it, and
// after createHeadroom({}) from the toolkit (the monitor running, no proxy, cache or image), plus how
// many of undici's, sharp's and ioredis's modules are loaded. What the framework itself loads comes
// first and is left out of the figure: NestJS's core and common, Express, Fastify; for Next.js the
// Web globals (Request, Response, Web streams), which Node loads on first use (~0.9 MiB) and which
// Next.js uses anyway. Medians of --rounds children.
// Usage: npm run build && npm run bench -- footprint/adapters [--rounds 5] [--dist path/to/dist]
//        (--dist: another build, e.g. of an older commit, for an A/B)
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { median } from '../../src/soak/stats.js';
import { requireCurrentBuild } from './built.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, dist: { type: 'string' } },
});
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error(`--rounds: a whole number of at least 1, got ${args.rounds}`);
  process.exit(2);
}
const dist = resolve(args.dist ?? join(root, 'dist'));
requireCurrentBuild(
  root,
  join(dist, 'toolkit', 'index.js'),
  `bench/footprint/adapters measures a built package: no ${dist}/toolkit/index.js (run \`npm run build\` first)`,
  args.dist !== undefined,
);

/** Entry (relative to dist) and what the app has loaded before it: its framework's modules, and code run first. */
const ENTRIES: { name: string; entry: string; framework: string[]; prelude?: string }[] = [
  { name: 'fastify', entry: 'adapters/fastify/index.js', framework: ['fastify'] },
  { name: 'express', entry: 'adapters/express/index.js', framework: ['express'] },
  {
    name: 'next',
    entry: 'adapters/next/index.js',
    framework: [],
    prelude: 'void [Request, Response, Headers, ReadableStream, ByteLengthQueuingStrategy];',
  },
  { name: 'nestjs', entry: 'adapters/nestjs/index.js', framework: ['@nestjs/common', '@nestjs/core', 'reflect-metadata'] },
];

// The child: ES module source, run with the repo as its working directory (the frameworks resolve from there).
const child = (entry: string, framework: string[], prelude = ''): string => `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(root, 'package.json'))});
const used = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
const counts = () => {
  const files = Object.keys(require.cache);
  const of = (name) => files.filter((f) => f.includes('/node_modules/' + name + '/')).length;
  return { undici: of('undici'), sharp: of('sharp'), ioredis: of('ioredis') };
};
for (const f of ${JSON.stringify(framework)}) await import(f);
${prelude}
const h0 = used();
await import(${JSON.stringify(join(dist, entry))});
const h1 = used();
const loaded = counts();
const { createHeadroom } = await import(${JSON.stringify(join(dist, 'toolkit', 'index.js'))});
const h = createHeadroom({});
await new Promise((r) => setTimeout(r, 300));
const h2 = used();
const running = counts();
await h.close();
console.log(JSON.stringify({ imported: h1 - h0, running: h2 - h0, loaded, runningLoaded: running }));`;

const MiB = 1024 ** 2;

console.log(`node ${process.version}, ${dist}, ${ROUNDS} rounds\n`);
console.log('| adapter | heap after importing it | with createHeadroom({}) running | undici / sharp / ioredis modules loaded |');
console.log('|---|---:|---:|---|');
for (const { name, entry, framework, prelude } of ENTRIES) {
  const rows: { imported: number; running: number; loaded: Record<string, number>; runningLoaded: Record<string, number> }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '-e', child(entry, framework, prelude)], {
      cwd: root,
      timeout: 60_000,
    });
    rows.push(JSON.parse(stdout) as (typeof rows)[number]);
  }
  const last = rows.at(-1)!.runningLoaded;
  console.log(
    `| ${name} | +${(median(rows.map((r) => r.imported)) / MiB).toFixed(2)} MiB | +${(median(rows.map((r) => r.running)) / MiB).toFixed(2)} MiB | ${last.undici} / ${last.sharp} / ${last.ioredis} |`,
  );
}
