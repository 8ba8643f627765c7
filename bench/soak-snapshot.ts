// npm run bench -- soak-snapshot [--heap-mib 512] [--rate 200] [--dir DIR]
//
// The snapshot diff of a leak verdict on a big target: starts bench/soak-snapshot-target.mjs
// (a live heap of --heap-mib MiB and a small per-request leak), drives load at it, then does what
// runSoak does after a leak verdict — snapshotDiff with the default count and interval — and
// prints how long it took until the report named the leaking constructor (with its retainer
// path), and the analysis's own peak RSS against the snapshot size (target: ≤ 60 s and ≤ 2×, for
// heaps up to 512 MiB). The peak is measured twice: the analysis's own RSS sampling, and the
// kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs just before).
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startChild, freePort } from '../src/soak/child.js';
import { connectInspector } from '../src/soak/inspector.js';
import { startLoad } from '../src/soak/load.js';
import { resolveOptions } from '../src/soak/options.js';
import { snapshotDiff } from '../src/soak/snapshot/take.js';

const { values } = parseArgs({
  options: { 'heap-mib': { type: 'string', default: '512' }, rate: { type: 'string', default: '200' }, dir: { type: 'string' } },
});
const heapMib = Number(values['heap-mib']);
const rate = Number(values.rate);
if (!(heapMib >= 16 && heapMib <= 4096)) throw new Error('--heap-mib: a number from 16 to 4096');
if (!(rate >= 1 && rate <= 10_000)) throw new Error('--rate: requests per second, 1 to 10000');

const MiB = 1048576;
const mib = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;
// CPU seconds of a process (user + system), from /proc: the machine may be shared, so wall times
// are printed with the CPU time they took.
const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const status = (key: string): number =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
// The defaults a leak verdict uses (3 snapshots, 5 s of load between them).
const defaults = resolveOptions({ command: ['node'] });

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const t0 = performance.now();
const child = await startChild({
  command: [process.execPath, '--max-old-space-size=8192', 'bench/soak-snapshot-target.mjs'],
  env: { ...process.env, HEAP_MIB: String(heapMib) },
  url,
  port,
  startTimeoutMs: 600_000,
});
const probe = await connectInspector(child.inspectorUrl);
const load = startLoad({ url, connections: 4, rate, requests: defaults.requests });
try {
  console.log(`target built and listening in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 3_000));
  await load.pause();
  const heap = await probe.measure();
  load.resume();
  console.log(`target post-GC heap: ${mib(heap.heapUsed)}; ${defaults.snapshots} snapshots ${defaults.snapshotIntervalMs} ms apart`);
  try {
    writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  } catch {
    console.log('(cannot reset VmHWM: the kernel peak below includes earlier use)');
  }
  const rssBefore = status('VmRSS');
  const t1 = performance.now();
  const takeCpu: number[] = [];
  let diffCpu0 = 0;
  let diffWall0 = 0;
  const r = await snapshotDiff({
    probe: {
      ...probe,
      takeHeapSnapshot: async (file, onWrite) => {
        const c0 = cpuOf(child.pid);
        try {
          return await probe.takeHeapSnapshot(file, onWrite);
        } finally {
          takeCpu.push(cpuOf(child.pid) - c0);
        }
      },
    },
    load,
    count: defaults.snapshots,
    intervalMs: defaults.snapshotIntervalMs,
    budgetMs: defaults.snapshotBudgetMs,
    heapBytes: heap.heapUsed,
    ...(values.dir ? { dir: values.dir } : {}),
    onNotice: (m) => {
      console.log(`  ${((performance.now() - t1) / 1000).toFixed(1)} s: ${m}`);
      if (m.startsWith('diffing')) [diffCpu0, diffWall0] = [cpuOf(process.pid), performance.now()];
    },
  });
  const namedMs = performance.now() - t1;
  const [diffCpu, diffWall] = [cpuOf(process.pid) - diffCpu0, (performance.now() - diffWall0) / 1000];
  const hwm = status('VmHWM') - rssBefore;
  if (!r.analysis) throw new Error(`no analysis: ${r.skipped ?? r.error}`);
  const a = r.analysis;
  const largest = Math.max(...a.snapshots.map((s) => s.bytes));
  const top = a.grown[0];
  console.log(`\nsnapshots: ${a.snapshots.map((s) => `${mib(s.bytes)} (${(s.nodes / 1e6).toFixed(2)} M nodes)`).join(', ')}`);
  const s1 = (x: number): string => `${x.toFixed(1)} s`;
  console.log(`taking them paused the target: ${r.takeMs.map((ms, k) => `${s1(ms / 1000)} (${s1(takeCpu[k]!)} CPU)`).join(', ')}`);
  console.log(
    `analysis: ${s1(a.analysisMs / 1000)} in all; after the last snapshot (its parse, the diff, the paths): ${s1(diffWall)} (${s1(diffCpu)} CPU)`,
  );
  console.log(`leak verdict → constructor and path named: ${s1(namedMs / 1000)} (target ≤ 60 s)`);
  if (r.planned) console.log(r.planned);
  const intervals = a.snapshots.length - 1;
  const cpuNamed = takeCpu.reduce((x, y) => x + y, 0) + (intervals * r.intervalMs) / 1000 + diffCpu;
  console.log(`the same on an idle machine (CPU times, the ${intervals} intervals of load as they are): ~${s1(cpuNamed)}`);
  console.log(
    `machine load average during the run: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${availableParallelism()} CPUs`,
  );
  console.log(
    `analysis peak RSS: +${mib(a.analysisPeakRssBytes)} sampled, +${mib(hwm)} kernel high-water mark; ` +
      `${(Math.max(a.analysisPeakRssBytes, hwm) / largest).toFixed(2)}× the largest snapshot (target ≤ 2×)`,
  );
  console.log(`top entry: ${top?.name} ${top?.counts.join(' → ')}, retained by ${top?.retainerPath}`);
  if (top?.name !== 'Leaked') process.exitCode = 1;
} finally {
  await load.close();
  await probe.close();
  await child.stop();
}
