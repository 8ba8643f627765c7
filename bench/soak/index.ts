// npm run bench -- soak [--duration 3m] [--only a,b] [--concurrency 1]
//
// The leak gate over the labelled corpus (bench/soak/corpus.ts): each service is soaked with
// runSoak under the given budget, and the same samples are scored by the anchors' rules (growth
// over 5 consecutive GCs; a fixed regression-slope limit; "grew in 2/3 of iterations"). Prints a
// row per service and the confusion matrix per rule. Inconclusive counts as "not called a leak".
// Runs services one at a time by default: the verdicts are timing-sensitive on a shared machine.
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/options/spec.js';
import { runSoak, type SoakReport } from '../../src/soak/index.js';
import { fiveConsecutive, fixedSlope, twoThirds } from './anchors.js';
import { CORPUS, type CorpusEntry } from './corpus.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3m' },
    only: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
  },
});
const durationMs = parseDuration(values.duration);
if (durationMs === undefined) throw new Error(`--duration ${values.duration}: not a duration (90s, 3m)`);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 8) throw new Error('--concurrency: an integer from 1 to 8');
const only = values.only?.split(',');
const entries = only ? CORPUS.filter((e) => only.includes(e.name)) : CORPUS;
if (only && entries.length !== only.length)
  throw new Error(
    `--only: unknown ${only.filter((n) => !CORPUS.some((e) => e.name === n)).join(', ')}; known: ${CORPUS.map((e) => e.name).join(', ')}`,
  );

const RULES = [
  'headroom',
  '5 consecutive GCs',
  'fixed slope',
  '2/3 of iterations',
  '5 consecutive GCs (as measured)',
  'fixed slope (as measured)',
  '2/3 of iterations (as measured)',
] as const;
type Rule = (typeof RULES)[number];

interface Row {
  entry: CorpusEntry;
  report: SoakReport;
  wallMs: number;
  calls: Record<Rule, boolean>;
}

// Ctrl-C / SIGTERM stop the soaks in progress the way the CLI does, so their children exit and
// their heap snapshots (hundreds of MiB each) are removed rather than left in the temp folder.
const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.log(`\n${signal}: stopping the soaks in progress`);
    stop.abort();
  });

async function soak(entry: CorpusEntry): Promise<Row> {
  const t0 = performance.now();
  const report = await runSoak({
    command: entry.command,
    durationMs,
    signal: stop.signal,
    ...(entry.requests ? { requests: entry.requests } : {}),
    ...(entry.env ? { env: entry.env } : {}),
  });
  const calls: Record<Rule, boolean> = {
    headroom: report.verdict === 'leak',
    '5 consecutive GCs': fiveConsecutive(report.samples),
    'fixed slope': fixedSlope(report.samples),
    '2/3 of iterations': twoThirds(report.samples),
    '5 consecutive GCs (as measured)': fiveConsecutive(report.samples, 'as measured'),
    'fixed slope (as measured)': fixedSlope(report.samples, 'as measured'),
    '2/3 of iterations (as measured)': twoThirds(report.samples, 'as measured'),
  };
  const row = { entry, report, wallMs: performance.now() - t0, calls };
  const top = report.snapshots?.analysis?.grown[0];
  console.log(
    `${entry.name.padEnd(18)} ${entry.leaks ? 'leaks' : 'ok   '}  headroom ${report.verdict.padEnd(12)} in ${(report.elapsedMs / 1000).toFixed(0).padStart(3)} s ` +
      `${(report.judgement.perRequest?.slope ?? NaN).toFixed(1).padStart(7)} B/req  ` +
      RULES.slice(1)
        .map((r) => `${r.replace('(as measured)', 'raw')}: ${calls[r] ? 'leak' : '-'}`)
        .join('  ') +
      (top ? `  → ${top.name}` : ''),
  );
  return row;
}

const rows: Row[] = [];
const queue = [...entries];
await Promise.all(
  Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    for (let e = queue.shift(); e && !stop.signal.aborted; e = queue.shift()) {
      const row = await soak(e);
      if (!stop.signal.aborted) rows.push(row); // a stopped soak has no verdict to score
    }
  }),
);

console.log(`\nconfusion matrix (${rows.length} services, budget ${values.duration} each; positive = called a leak)`);
console.log(`${'rule'.padEnd(32)} TP  FN  FP  TN  recall  false positives`);
for (const rule of RULES) {
  const tp = rows.filter((r) => r.entry.leaks && r.calls[rule]).length;
  const fn = rows.filter((r) => r.entry.leaks && !r.calls[rule]).length;
  const fp = rows.filter((r) => !r.entry.leaks && r.calls[rule]).length;
  const tn = rows.filter((r) => !r.entry.leaks && !r.calls[rule]).length;
  const recall = tp + fn ? `${((100 * tp) / (tp + fn)).toFixed(0)} %` : '–';
  console.log(`${rule.padEnd(31)} ${[tp, fn, fp, tn].map((n) => String(n).padStart(3)).join(' ')}  ${recall.padStart(6)}  ${fp}`);
}
const inconclusive = rows.filter((r) => r.report.verdict === 'inconclusive').map((r) => r.entry.name);
if (inconclusive.length) console.log(`headroom inconclusive (not called a leak above): ${inconclusive.join(', ')}`);
const named = rows.filter((r) => r.entry.leaks && r.report.verdict === 'leak');
for (const r of named) {
  const a = r.report.snapshots?.analysis;
  if (a)
    console.log(
      `${r.entry.name}: snapshot diff in ${(a.analysisMs / 1000).toFixed(1)} s, analysis RSS +${(a.analysisPeakRssBytes / 1048576).toFixed(1)} MiB for ${(Math.max(...a.snapshots.map((s) => s.bytes)) / 1048576).toFixed(1)} MiB snapshots; top: ${a.grown[0]?.name ?? '(none)'}`,
    );
}
