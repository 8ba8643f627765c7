import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { availableMemory, cgroupMemoryLimit } from '../../src/monitor/cgroup.js';

const base = mkdtempSync(join(os.tmpdir(), 'headroom-cgroup-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A fake cgroup tree: files relative to the root, and the /proc/self/cgroup text. */
function tree(name: string, files: Record<string, string>, procSelf = '0::/\n') {
  const root = join(base, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  const procSelfCgroup = join(base, `${name}.proc`);
  writeFileSync(procSelfCgroup, procSelf);
  return { root, procSelfCgroup };
}

const MiB = 1024 * 1024;

test('cgroup v2 memory.max at the root, and in the process own cgroup', () => {
  assert.equal(cgroupMemoryLimit(tree('v2root', { 'memory.max': `${512 * MiB}\n` })), 512 * MiB);
  const nested = tree('v2nested', { 'kubepods/pod1/memory.max': `${256 * MiB}\n` }, '0::/kubepods/pod1\n');
  assert.equal(cgroupMemoryLimit(nested), 256 * MiB);
});

test('"max", absurd values and missing files mean no limit', () => {
  assert.equal(cgroupMemoryLimit(tree('v2max', { 'memory.max': 'max\n' })), null);
  assert.equal(cgroupMemoryLimit(tree('v1none', { 'memory/memory.limit_in_bytes': '9223372036854771712\n' })), null);
  assert.equal(cgroupMemoryLimit(tree('empty', {})), null);
});

test('cgroup v1 memory.limit_in_bytes', () => {
  assert.equal(cgroupMemoryLimit(tree('v1', { 'memory/memory.limit_in_bytes': `${1024 * MiB}\n` })), 1024 * MiB);
});

test('available memory is the smaller of os.freemem() and the cgroup headroom', () => {
  const p = tree('v2usage', { 'memory.max': `${512 * MiB}`, 'memory.current': `${500 * MiB}` });
  assert.equal(availableMemory(p), Math.min(os.freemem(), 12 * MiB));
  assert.ok(Math.abs(availableMemory(tree('nolimit', {})) - os.freemem()) < 256 * MiB);
});
