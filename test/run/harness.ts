// The proof harness shared by test/run/matrix.test.ts and bench/run: runs a workload in a fresh
// cgroup with a real memory limit (v1 memory.limit_in_bytes + memsw, or v2 memory.max with
// swap off), under one sizing rule, and reports how it ended and how much it held.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const MiB = 1024 ** 2;

export type Rule = 'default' | 'fixed75' | 'headroom';
export type Workload = 'heap' | 'buffer' | 'sharp' | 'buffer-unguarded';
export const WORKLOADS: readonly Workload[] = ['heap', 'buffer', 'sharp'];
export const LIMITS_MIB = [128, 256, 512, 1024, 2048] as const;

export interface Cell {
  limitMiB: number;
  workload: Workload;
  rule: Rule;
  /** 'heap-error' (V8's own error), 'shed' (refused by headroom's guard), 'kernel-kill' (OOM killer), 'other'. */
  outcome: 'heap-error' | 'shed' | 'kernel-kill' | 'other';
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The most the workload held before it ended (bytes). */
  retained: number;
  oomKills: number;
  maxUsage: number;
  heapSizeLimit: number | null;
  ms: number;
  tail: string;
}

export interface Cgroup {
  dir: string;
  version: 1 | 2;
}

const V1 = '/sys/fs/cgroup/memory';
const V2 = '/sys/fs/cgroup';

/** Why real cgroup limits cannot be used here, or undefined when they can. */
export function cgroupUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (creating a cgroup needs root)';
  if (existsSync(join(V1, 'memory.limit_in_bytes'))) return undefined;
  if (readFileSafe(join(V2, 'cgroup.controllers')).split(/\s+/).includes('memory')) return undefined;
  return 'no writable cgroup memory controller at /sys/fs/cgroup';
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

let serial = 0;
export function createCgroup(limit: number): Cgroup {
  const name = `headroom-test-${process.pid}-${serial++}`;
  if (existsSync(join(V1, 'memory.limit_in_bytes'))) {
    const dir = join(V1, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limit));
    // Swap would blur the result: memory+swap gets the same limit.
    if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limit));
    return { dir, version: 1 };
  }
  const dir = join(V2, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'memory.max'), String(limit));
  if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
  return { dir, version: 2 };
}

function cgroupStats(cg: Cgroup): { oomKills: number; maxUsage: number } {
  if (cg.version === 1) {
    const oom = /^oom_kill (\d+)$/m.exec(readFileSafe(join(cg.dir, 'memory.oom_control')));
    return { oomKills: Number(oom?.[1] ?? 0), maxUsage: Number(readFileSafe(join(cg.dir, 'memory.max_usage_in_bytes')) || 0) };
  }
  const oom = /^oom_kill (\d+)$/m.exec(readFileSafe(join(cg.dir, 'memory.events')));
  return { oomKills: Number(oom?.[1] ?? 0), maxUsage: Number(readFileSafe(join(cg.dir, 'memory.peak')) || 0) };
}

/** sh's arguments that move the shell into the cgroup at `dir`, then exec `argv` there (a child stays in it). */
export function inCgroupArgs(dir: string, argv: readonly string[]): string[] {
  return ['-c', `echo $$ > '${dir}/cgroup.procs' && exec "$@"`, 'sh', ...argv];
}

export async function removeCgroup(cg: Cgroup): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(cg.dir);
      return;
    } catch {
      await sleep(100); // the last task is still leaving
    }
  }
}

/** Bundles the CLI and the guarded workloads (plain node, as in production: no TypeScript loader in the measured memory). */
export async function buildArtifacts(): Promise<{ cli: string; workload(w: Workload): string }> {
  const { build } = await import('esbuild');
  const out = join(repo, 'node_modules', '.cache', 'headroom-run');
  await build({
    entryPoints: {
      main: join(repo, 'src/cli/main.ts'),
      buffer: join(here, 'workloads/buffer.ts'),
      sharp: join(here, 'workloads/sharp.ts'),
    },
    outdir: out,
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return {
    cli: join(out, 'main.js'),
    workload: (w) =>
      w === 'heap'
        ? join(here, 'workloads/heap.mjs')
        : w === 'buffer-unguarded'
          ? join(here, 'workloads/buffer-unguarded.mjs')
          : join(out, `${w}.js`),
  };
}

export interface RunCellOptions {
  cli: string;
  script: string;
  timeoutMs?: number;
}

/** Runs one workload under one rule in a fresh cgroup of `limitMiB`. */
export async function runCell(limitMiB: number, workload: Workload, rule: Rule, o: RunCellOptions): Promise<Cell> {
  const limit = limitMiB * MiB;
  const cg = createCgroup(limit);
  const node = process.execPath;
  const cmd =
    rule === 'headroom'
      ? [node, o.cli, 'run', '--', node, o.script]
      : rule === 'fixed75'
        ? [node, `--max-old-space-size=${Math.floor(limitMiB * 0.75)}`, o.script]
        : [node, o.script];
  // Without headroom run, the guarded workloads get the limit as the user would configure it.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  if (rule !== 'headroom') env.MEMORY_RSS_LIMIT = String(limit);
  const started = Date.now();
  const child = spawn('sh', inCgroupArgs(cg.dir, cmd), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let retained = 0;
  let heapSizeLimit: number | null = null;
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out = (out + c).slice(-4096);
    for (const m of c.matchAll(/^retained (\d+)$/gm)) retained = Math.max(retained, Number(m[1]));
    const h = /^heap_size_limit (\d+)$/m.exec(c);
    if (h) heapSizeLimit = Number(h[1]);
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-8192)));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 90_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.once('close', (c, s) => res([c, s])));
  clearTimeout(timer);
  const stats = cgroupStats(cg);
  await removeCgroup(cg);
  const heapOom = /JavaScript heap out of memory/.test(err);
  const outcome: Cell['outcome'] =
    signal === 'SIGKILL' || code === 137 || stats.oomKills > 0
      ? 'kernel-kill'
      : heapOom && (code === 134 || signal === 'SIGABRT')
        ? 'heap-error'
        : code === 0 && /^shed /m.test(out)
          ? 'shed'
          : 'other';
  return {
    limitMiB,
    workload,
    rule,
    outcome,
    code,
    signal,
    retained,
    ...stats,
    heapSizeLimit,
    ms: Date.now() - started,
    tail: `${out.split('\n').slice(-3).join('\n')}\n${err
      .split('\n')
      .filter((l) => l && !/^\s+\d+: 0x/.test(l))
      .slice(-4)
      .join('\n')}`,
  };
}
