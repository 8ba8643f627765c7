#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test through tsx.
// Node 20's --test takes no globs, so the files are listed here.
// Usage: npm run test:unit [-- filter ...]   (filters match path substrings)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('test')
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no test files match ${filters.join(', ') || '(all)'}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--expose-gc',
    '--test',
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
    // A hung test file fails after 6 minutes instead of holding CI until its limit (the slowest
    // files, which build a Next.js app or run the cgroup matrix, take up to ~2 minutes on a busy machine).
    '--test-timeout=360000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
