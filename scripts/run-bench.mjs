#!/usr/bin/env node
// npm run bench -- NAME [args]: runs bench/NAME.ts (or bench/NAME/index.ts) through tsx.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const [name, ...args] = process.argv.slice(2);
const candidates = [`bench/${name}.ts`, `bench/${name}/index.ts`];
const file = name ? candidates.find((f) => existsSync(f)) : undefined;
if (!file) {
  const known = readdirSync('bench')
    .map((f) => f.replace(/\.ts$/, ''))
    .filter((f) => !f.startsWith('_'));
  console.error(`usage: npm run bench -- NAME\nknown benchmarks: ${known.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
