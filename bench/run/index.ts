// npm run bench -- run [--limits 128,256,…] [--workloads heap,buffer,sharp,buffer-unguarded] [--rules default,fixed75,headroom]
//
// The proof matrix of `headroom run` beside its peers, with real cgroup memory limits (needs root
// and a cgroup memory controller): each workload allocates until it fails, under Node's default
// flags, under the usual fixed rule (--max-old-space-size = 75 % of the limit) and under
// `headroom run`. Prints how each ended and how much it held: "heap error" (V8's own, exit 134),
// "shed" (headroom's monitor refused the work first), "KILLED" (the kernel's OOM killer, 137).
// buffer-unguarded retains Buffers with no guard: no V8 flag bounds it, it shows the limitation.
import { parseArgs } from 'node:util';
import os from 'node:os';
import { buildArtifacts, cgroupUnavailable, LIMITS_MIB, runCell, type Cell, type Rule, type Workload } from '../../test/run/harness.js';

const { values } = parseArgs({
  options: {
    limits: { type: 'string', default: LIMITS_MIB.join(',') },
    workloads: { type: 'string', default: 'heap,buffer,sharp,buffer-unguarded' },
    rules: { type: 'string', default: 'default,fixed75,headroom' },
  },
});
const limits = values.limits.split(',').map(Number);
const workloads = values.workloads.split(',') as Workload[];
const rules = values.rules.split(',') as Rule[];
for (const l of limits) if (!Number.isInteger(l) || l < 64) throw new Error(`--limits: ${l} is not a MiB count ≥ 64`);
for (const w of workloads) if (!['heap', 'buffer', 'sharp', 'buffer-unguarded'].includes(w)) throw new Error(`--workloads: unknown ${w}`);
for (const r of rules) if (!['default', 'fixed75', 'headroom'].includes(r)) throw new Error(`--rules: unknown ${r}`);

const why = cgroupUnavailable();
if (why) {
  console.error(`bench run needs real cgroup limits: ${why}`);
  process.exit(1);
}

const MiB = 1024 ** 2;
const a = await buildArtifacts();
const cells: Cell[] = [];
for (const limit of limits) {
  for (const w of workloads) {
    for (const r of rules) {
      const c = await runCell(limit, w, r, { cli: a.cli, script: a.workload(w) });
      cells.push(c);
      console.error(
        `${limit} MiB ${w} ${r}: ${c.outcome}, held ${(c.retained / MiB).toFixed(0)} MiB, peak ${(c.maxUsage / MiB).toFixed(0)} MiB, ${c.ms} ms`,
      );
    }
  }
}

const label: Record<Cell['outcome'], string> = { 'heap-error': 'heap error', shed: 'shed', 'kernel-kill': '**KILLED**', other: 'other' };
const cell = (c: Cell | undefined): string => (c ? `${label[c.outcome]}, ${(c.retained / MiB).toFixed(0)}` : '—');
const ruleName: Record<Rule, string> = { default: "Node's default", fixed75: 'fixed 75 %', headroom: 'headroom run' };
console.log(
  `\nNode ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, cgroup memory limits (swap off)`,
);
console.log('Each cell: how the workload ended, MiB it held before the end.\n');
const head = ['limit', 'workload', ...rules.map((r) => ruleName[r])];
const withRatio = rules.includes('default') && rules.includes('headroom');
if (withRatio) head.push('headroom / default (held)');
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
for (const limit of limits) {
  for (const w of workloads) {
    const get = (r: Rule): Cell | undefined => cells.find((c) => c.limitMiB === limit && c.workload === w && c.rule === r);
    const row = [`${limit} MiB`, w, ...rules.map((r) => cell(get(r)))];
    if (withRatio) {
      const d = get('default');
      const h = get('headroom');
      row.push(d && h && d.outcome === 'heap-error' && h.outcome === 'heap-error' ? `${(h.retained / d.retained).toFixed(2)}×` : '—');
    }
    console.log(`| ${row.join(' | ')} |`);
  }
}
const kills = (r: Rule): number =>
  cells.filter((c) => c.rule === r && c.outcome === 'kernel-kill' && c.workload !== 'buffer-unguarded').length;
console.log(`\nKernel kills (heap, buffer, sharp): ${rules.map((r) => `${ruleName[r]} ${kills(r)}`).join(', ')}`);
