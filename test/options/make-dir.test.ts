// makeDirSync / makeDir: mkdir -p that fails, once, where Node 20's recursive mkdir retries for ever (/proc).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDir, makeDirSync } from '../../src/options/make-dir.js';

test('makes the missing levels (mode on each), leaves an existing directory, and throws where a level cannot be made', async () => {
  const root = mkdtempSync(join(tmpdir(), 'headroom-make-dir-'));
  try {
    const deep = join(root, 'a', 'b', 'c');
    makeDirSync(deep, 0o700);
    assert.equal(statSync(deep).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, 'a')).mode & 0o777, 0o700);
    makeDirSync(deep); // exists: nothing to do
    await makeDir(join(root, 'x', 'y'), 0o700);
    assert.ok(statSync(join(root, 'x', 'y')).isDirectory());
    writeFileSync(join(root, 'file'), '');
    assert.throws(() => makeDirSync(join(root, 'file', 'sub')), { code: 'ENOTDIR' });
    await assert.rejects(makeDir(join(root, 'file', 'sub')), { code: 'ENOTDIR' });
    // /proc refuses with ENOENT although its parent exists: thrown, not retried for ever.
    assert.throws(() => makeDirSync('/proc/headroom-make-dir/x'), { code: 'ENOENT' });
    await assert.rejects(makeDir('/proc/headroom-make-dir/x'), { code: 'ENOENT' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
