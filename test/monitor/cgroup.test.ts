// The monitor's container limit (its RSS limit) and free memory come from the same cgroup reader as
// `headroom run` (src/monitor/limit.ts; its own cases are in limit.test.ts): nested cgroups named
// by /proc/self/cgroup and their ancestors, in fixture trees and in a real nested cgroup v1. The
// real one needs root and a cgroup v1 memory controller; elsewhere it skips loudly, and with
// HEADROOM_REQUIRE_CGROUP=1 (CI) it fails when no cgroup can be created at all.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { availableMemory, cgroupMemoryLimit } from '../../src/monitor/cgroup.js';
import { cgroupUnavailable, inCgroupArgs } from '../run/harness.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;

// ---------- child: prints what the monitor reads, from inside the cgroup it was moved into ----------

if (process.argv[2] === '--cgroup-child') {
  process.stdout.write(`${JSON.stringify({ limit: cgroupMemoryLimit(), available: availableMemory(), free: os.freemem() })}\n`);
  process.exit(0);
}

const base = mkdtempSync(join(os.tmpdir(), 'headroom-cgroup-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A fake root (/proc and /sys/fs/cgroup under it): files relative to it. */
function tree(name: string, files: Record<string, string>): { root: string } {
  const root = join(base, name);
  const all = { 'proc/meminfo': `MemTotal:       ${16 * 1024 * 1024} kB\n`, 'proc/self/cgroup': '0::/\n', ...files };
  for (const [rel, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return { root };
}

const V2 = 'sys/fs/cgroup';
const V1 = 'sys/fs/cgroup/memory';

test('cgroup v2 memory.max at the root, and in the process’s own nested cgroup', () => {
  assert.equal(
    cgroupMemoryLimit(tree('v2root', { [`${V2}/cgroup.controllers`]: 'memory\n', [`${V2}/memory.max`]: `${512 * MiB}\n` })),
    512 * MiB,
  );
  const nested = tree('v2nested', {
    'proc/self/cgroup': '0::/kubepods/pod1\n',
    [`${V2}/cgroup.controllers`]: 'memory\n',
    [`${V2}/kubepods/pod1/memory.max`]: `${256 * MiB}\n`,
  });
  assert.equal(cgroupMemoryLimit(nested), 256 * MiB);
});

test('"max", the v1 no-limit marker, limits above the machine and missing files mean no limit', () => {
  assert.equal(cgroupMemoryLimit(tree('v2max', { [`${V2}/cgroup.controllers`]: 'memory\n', [`${V2}/memory.max`]: 'max\n' })), null);
  assert.equal(cgroupMemoryLimit(tree('v1none', { [`${V1}/memory.limit_in_bytes`]: '9223372036854771712\n' })), null);
  assert.equal(cgroupMemoryLimit(tree('v1big', { [`${V1}/memory.limit_in_bytes`]: `${32 * 1024 * MiB}\n` })), null);
  assert.equal(cgroupMemoryLimit(tree('empty', {})), null);
});

test('cgroup v1: the nested cgroup of the memory line, and an ancestor that binds it', () => {
  assert.equal(cgroupMemoryLimit(tree('v1', { [`${V1}/memory.limit_in_bytes`]: `${1024 * MiB}\n` })), 1024 * MiB);
  const nested = tree('v1nested', {
    'proc/self/cgroup': '4:memory:/jobs/app\n0::/\n',
    [`${V1}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`${V1}/jobs/memory.limit_in_bytes`]: `${300 * MiB}\n`,
    [`${V1}/jobs/app/memory.limit_in_bytes`]: '9223372036854771712\n',
  });
  assert.equal(cgroupMemoryLimit(nested), 300 * MiB);
});

test('available memory: the smaller of os.freemem() and the binding cgroup’s limit minus its usage', () => {
  const v2 = tree('v2usage', {
    [`${V2}/cgroup.controllers`]: 'memory\n',
    [`${V2}/memory.max`]: `${512 * MiB}`,
    [`${V2}/memory.current`]: `${500 * MiB}`,
  });
  assert.equal(availableMemory(v2), Math.min(os.freemem(), 12 * MiB));
  // The limit is the parent's: so is the usage that counts against it.
  const v1 = tree('v1usage', {
    'proc/self/cgroup': '4:memory:/jobs/app\n',
    [`${V1}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`${V1}/jobs/memory.limit_in_bytes`]: `${300 * MiB}\n`,
    [`${V1}/jobs/memory.usage_in_bytes`]: `${290 * MiB}\n`,
    [`${V1}/jobs/app/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`${V1}/jobs/app/memory.usage_in_bytes`]: `${100 * MiB}\n`,
  });
  assert.equal(availableMemory(v1), Math.min(os.freemem(), 10 * MiB));
  assert.ok(Math.abs(availableMemory(tree('nolimit', {})) - os.freemem()) < 256 * MiB);
});

// ---------- a real nested cgroup v1 ----------

const V1_MOUNT = '/sys/fs/cgroup/memory';
const why = cgroupUnavailable() ?? (existsSync(join(V1_MOUNT, 'memory.limit_in_bytes')) ? undefined : 'no cgroup v1 memory controller');
if (why) {
  const noCgroupAtAll = cgroupUnavailable() !== undefined;
  const required = process.env.HEADROOM_REQUIRE_CGROUP === '1' && noCgroupAtAll;
  process.stderr.write(`\n*** ${required ? 'FAIL' : 'SKIP'}: the real nested cgroup v1 case of the monitor needs ${why} ***\n\n`);
  if (required) test('real nested cgroup v1 (HEADROOM_REQUIRE_CGROUP=1)', () => assert.fail(`cannot create a cgroup: ${why}`));
} else {
  test('in a real nested cgroup v1, the monitor reads the parent’s limit and its usage', { timeout: 60_000 }, async () => {
    const parent = join(V1_MOUNT, `headroom-monitor-${process.pid}`);
    const child = join(parent, 'app');
    const limit = 300 * MiB;
    mkdirSync(parent);
    try {
      writeFileSync(join(parent, 'memory.limit_in_bytes'), String(limit));
      mkdirSync(child); // no limit of its own: the parent's binds it
      const { stdout } = await promisify(execFile)(
        'sh',
        inCgroupArgs(child, [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--cgroup-child']),
        { timeout: 50_000 },
      );
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as { limit: number | null; available: number; free: number };
      assert.equal(r.limit, limit, 'the parent’s memory.limit_in_bytes');
      // Node and tsx use some tens of MiB of the 300: available is the parent's limit minus that.
      assert.ok(r.available < limit - 10 * MiB && r.available > 0, `available ${r.available} is below the limit by the child’s usage`);
      assert.ok(r.available <= r.free, 'never more than the machine has free');
    } finally {
      // The child has exited; the kernel may take a moment to let the cgroups go.
      await waitFor(() => {
        try {
          if (existsSync(child)) rmdirSync(child);
          rmdirSync(parent);
          return true;
        } catch {
          return false;
        }
      }, 'the test cgroups removed');
    }
  });
}
