import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirProblem, fsReason, readSmallFile } from '../../src/options/user-files.js';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: x`), { code });

test('fsReason says in words what a file system error code means for the path', () => {
  assert.equal(fsReason(errno('ENOENT'), '/etc/headroom.json'), 'no such file');
  assert.equal(fsReason(errno('ENOENT'), '/no-such-headroom/x', true), 'its parent directory /no-such-headroom does not exist');
  assert.match(fsReason(errno('ENOENT'), '/proc/x', true), /^cannot be created in \/proc \(a file system that holds no files of ours/);
  assert.equal(fsReason(errno('EACCES'), '/x'), 'permission denied');
  assert.match(fsReason(errno('EPERM'), '/x', true), /^permission denied: this user must be able to create it/);
  assert.equal(fsReason(errno('EROFS'), '/x'), 'the file system is read-only');
  assert.equal(fsReason(errno('ENOTDIR'), '/x'), 'it, or a folder on its path, is a file, not a directory');
  assert.equal(fsReason(errno('EIO'), '/x'), 'EIO: x', "an unmapped code: Node's own message, which names it");
  assert.equal(fsReason(new Error('odd'), '/x'), 'odd');
});

test('dirProblem makes the directory (0700) and proves a file can be written in it; names what stops it', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'headroom-fs-problem-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const made = join(root, 'snaps');
  assert.equal(dirProblem(made), undefined);
  assert.equal(statSync(made).mode & 0o777, 0o700);
  assert.equal(dirProblem(made), undefined, 'an existing directory is fine');
  const file = join(root, 'a-file');
  writeFileSync(file, '');
  assert.equal(dirProblem(file), 'is a file, not a directory');
  assert.equal(dirProblem(join(file, 'below')), 'it, or a folder on its path, is a file, not a directory');
  assert.equal(dirProblem(join(root, 'missing', 'snaps')), `its parent directory ${join(root, 'missing')} does not exist`);
  assert.ok(!existsSync(join(root, 'missing')), 'not recursive: no parent made');
  assert.match(dirProblem('/proc/headroom-fs-problem')!, /^cannot be created in \/proc/);
  if (process.getuid?.() !== 0) {
    const closed = join(root, 'closed');
    dirProblem(closed);
    chmodSync(closed, 0o500);
    assert.match(dirProblem(closed)!, /^permission denied/);
  }
});

test('readSmallFile reads a small file and refuses what it must not read whole, saying why', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'headroom-small-file-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const file = join(root, 'a.json');
  writeFileSync(file, '{"a":1}');
  assert.equal(readSmallFile(file, 16), '{"a":1}');
  writeFileSync(file, 'x'.repeat(17));
  assert.throws(() => readSmallFile(file, 16), { message: 'the file is larger than 16 bytes, the most that is read' });
  assert.throws(() => readSmallFile('/dev/zero', 1024 ** 2), {
    message: 'not a regular file (a device, pipe or socket); give a JSON file',
  });
  assert.throws(() => readSmallFile(root, 16, 'a scenario'), { message: 'not a regular file (a directory); give a scenario' });
  assert.throws(() => readSmallFile(join(root, 'missing'), 16), { message: 'cannot read the file (no such file)' });
});
