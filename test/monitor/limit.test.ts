// The limit reader against fixture trees: cgroup v2 (memory.max, memory.high, "max"), v1 (the
// "no limit" marker, hierarchical limits), hybrids, nested paths and cgroup namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseLimitValue, parseProcCgroup, readMemoryLimit } from '../../src/monitor/limit.js';

const MiB = 1024 ** 2;
const MACHINE_KB = 16 * 1024 * 1024; // 16 GiB

function fixture(files: Record<string, string>): { root: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), 'headroom-cgroup-'));
  const all = { 'proc/meminfo': `MemTotal:       ${MACHINE_KB} kB\nMemFree: 1 kB\n`, ...files };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return { root, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

test('limit values: bytes, "max", the v1 no-limit marker, garbage', () => {
  assert.equal(parseLimitValue('536870912\n'), 512 * MiB);
  assert.equal(parseLimitValue('max\n'), null);
  assert.equal(parseLimitValue('9223372036854771712'), null);
  assert.equal(parseLimitValue('9223372036854775807'), null);
  assert.equal(parseLimitValue(''), undefined);
  assert.equal(parseLimitValue('12ab'), undefined);
  assert.equal(parseLimitValue(undefined), undefined);
});

test('/proc/self/cgroup lines', () => {
  assert.deepEqual(parseProcCgroup('12:memory:/kubepods/pod1/abc\n1:name=systemd:/x\n0::/system.slice/a.service\n'), [
    { controllers: ['memory'], path: '/kubepods/pod1/abc' },
    { controllers: ['name=systemd'], path: '/x' },
    { controllers: [], path: '/system.slice/a.service' },
  ]);
});

test('cgroup v2: memory.max of the nested cgroup named by /proc/self/cgroup', () => {
  using f = fixture({
    'proc/self/cgroup': '0::/kubepods/pod1/app\n',
    'sys/fs/cgroup/cgroup.controllers': 'cpu memory pids\n',
    'sys/fs/cgroup/kubepods/pod1/app/memory.max': `${512 * MiB}\n`,
    'sys/fs/cgroup/kubepods/pod1/app/memory.high': 'max\n',
  });
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, 512 * MiB);
  assert.match(l.source, /kubepods\/pod1\/app\/memory\.max \(cgroup v2 memory\.max\)$/);
  assert.equal(l.machine, MACHINE_KB * 1024);
});

test('cgroup v2: an ancestor binds when it is lower; memory.high below memory.max wins, with a note', () => {
  using f = fixture({
    'proc/self/cgroup': '0::/pod/app\n',
    'sys/fs/cgroup/cgroup.controllers': 'memory\n',
    'sys/fs/cgroup/pod/memory.max': `${1024 * MiB}\n`,
    'sys/fs/cgroup/pod/app/memory.max': 'max\n',
  });
  assert.equal(readMemoryLimit({ root: f.root }).bytes, 1024 * MiB);
  writeFileSync(join(f.root, 'sys/fs/cgroup/pod/app/memory.high'), `${768 * MiB}\n`);
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, 768 * MiB);
  assert.match(l.source, /memory\.high/);
  assert.match(l.notes.join('\n'), /memory\.high .* is below memory\.max/);
});

test('cgroup v2 with its own namespace: the path in /proc/self/cgroup is not mounted, the mount root is the cgroup', () => {
  using f = fixture({
    'proc/self/cgroup': '0::/../../host/slice\n',
    'sys/fs/cgroup/cgroup.controllers': 'memory\n',
    'sys/fs/cgroup/memory.max': `${256 * MiB}\n`,
  });
  assert.equal(readMemoryLimit({ root: f.root }).bytes, 256 * MiB);
  writeFileSync(join(f.root, 'proc/self/cgroup'), '0::/docker/0123abcd\n');
  assert.equal(readMemoryLimit({ root: f.root }).bytes, 256 * MiB);
});

test('cgroup v2 "max" everywhere: no limit', () => {
  using f = fixture({
    'proc/self/cgroup': '0::/\n',
    'sys/fs/cgroup/cgroup.controllers': 'memory\n',
    'sys/fs/cgroup/memory.max': 'max\n',
  });
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, null);
  assert.match(l.source, /no cgroup memory limit/);
});

test('cgroup v1: nested memory.limit_in_bytes; the unlimited marker is no limit', () => {
  using f = fixture({
    'proc/self/cgroup': '4:memory:/process_api/abc\n0::/\n',
    'sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    'sys/fs/cgroup/memory/process_api/memory.limit_in_bytes': '9223372036854771712\n',
    'sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes': `${128 * MiB}\n`,
    'sys/fs/cgroup/unified/cgroup.controllers': '\n', // hybrid: v2 mounted without the memory controller
  });
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, 128 * MiB);
  assert.match(l.source, /process_api\/abc\/memory\.limit_in_bytes \(cgroup v1/);
  writeFileSync(join(f.root, 'sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes'), '9223372036854771712\n');
  assert.equal(readMemoryLimit({ root: f.root }).bytes, null);
});

test('cgroup v1: hierarchical_memory_limit of memory.stat counts (an ancestor not visible here)', () => {
  using f = fixture({
    'proc/self/cgroup': '9:memory:/docker/abc\n',
    'sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    'sys/fs/cgroup/memory/memory.stat': `cache 0\nhierarchical_memory_limit ${300 * MiB}\nhierarchical_memsw_limit 9223372036854771712\n`,
  });
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, 300 * MiB);
  assert.match(l.source, /hierarchical_memory_limit/);
});

test('a limit at or above the machine memory does not bind', () => {
  using f = fixture({
    'proc/self/cgroup': '0::/\n',
    'sys/fs/cgroup/cgroup.controllers': 'memory\n',
    'sys/fs/cgroup/memory.max': `${64 * 1024 * MiB}\n`,
  });
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, null);
  assert.match(l.notes.join('\n'), /not below the machine's memory/);
});

test('cgroup v1: a limit above the machine, which memory.stat repeats, is noted once', () => {
  using f = fixture({
    'proc/self/cgroup': '9:memory:/big\n',
    'sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    'sys/fs/cgroup/memory/big/memory.limit_in_bytes': `${100 * 1024 * MiB}\n`,
    'sys/fs/cgroup/memory/big/memory.stat': `cache 0\nhierarchical_memory_limit ${100 * 1024 * MiB}\n`,
  });
  const l = readMemoryLimit({ root: f.root });
  assert.equal(l.bytes, null);
  assert.equal(l.notes.length, 1, l.notes.join('\n'));
  assert.match(l.notes[0]!, /big\/memory\.limit_in_bytes .* is not below the machine's memory/);
});

test('no cgroup file system at all (not Linux, or /sys not mounted)', () => {
  using f = fixture({});
  const l = readMemoryLimit({ root: f.root });
  assert.deepEqual([l.bytes, l.source], [null, 'no cgroup file system']);
});
