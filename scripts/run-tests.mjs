#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test through tsx.
// Node 20's --test takes no globs, so the files are listed here.
// Usage: npm run test:unit [-- filter ...]   (filters match path substrings)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

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
/** The whole run's limit: the suite takes ~10–15 minutes on a 2-core machine. */
const RUN_LIMIT_MS = Number(process.env.TEST_RUN_LIMIT_MINUTES ?? 45) * 60_000;
const runner = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--expose-gc',
    '--test',
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
    // Each file (and test) fails after 10 minutes: the longest test's own timeout (examples/next:
    // building the package, npm install and next build; past 6 minutes once on a busy CI machine,
    // ~1 minute alone).
    '--test-timeout=600000',
    ...files,
  ],
  // Its own process group, so that the files it runs can be stopped with it.
  { stdio: 'inherit', detached: true },
);
// A file whose test failed before closing a server or timer never exits (the runner waits for it):
// the whole run is bounded, so CI says why instead of waiting for its own limit.
const limit = setTimeout(() => {
  console.error(
    `run-tests: the run did not end within ${RUN_LIMIT_MS / 60_000} minutes: a test file is still running (a test that failed ` +
      'before closing its server or timer keeps its process alive); its results are missing above',
  );
  process.kill(-runner.pid, 'SIGKILL');
  process.exit(1);
}, RUN_LIMIT_MS);
// Ctrl-C, a kill or a closed terminal stops the files too (they are in the runner's group, not the terminal's).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.kill(-runner.pid, signal));
runner.on('exit', (code, signal) => {
  clearTimeout(limit);
  process.exit(code ?? (signal ? 1 : 0));
});
