// The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched) with
// the verdict, heap, RSS and slope over time, the rounds, the load, the cost and the snapshot diff.
import type { SoakReport } from '../run.js';
import { retained } from '../verdict.js';
import { escapeHtml as e, lineChart } from './svg.js';

const MiB = 1048576;
const num = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : n > 0 ? '∞' : '−∞');
/** "[lo, hi]", or why there is none: too few samples give an unbounded interval (null once read back from the JSON report). */
const interval = (lo: number | null | undefined, hi: number | null | undefined): string =>
  Number.isFinite(lo) && Number.isFinite(hi) ? `[${num(lo!)}, ${num(hi!)}]` : '(no interval yet: too few samples)';
const kib = (n: number): string => (Math.abs(n) >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

const COLOR = { leak: '#c62828', 'no-leak': '#2e7d32', inconclusive: '#ef6c00' } as const;

function charts(r: SoakReport): string {
  const sec = (t: number): number => t / 1000;
  const w = r.judgement.window;
  const ranges = [
    { from: 0, to: sec(r.warmupMs), label: 'warm-up', color: '#eeeeee' },
    ...(w ? [{ from: sec(w.fromMs), to: sec(w.toMs), label: 'judged window', color: '#e3f2fd' }] : []),
  ];
  const heap = lineChart({
    title: 'Post-GC memory',
    xLabel: 'seconds',
    yLabel: 'MiB',
    ranges,
    series: [
      { name: 'heap used', color: '#1565c0', points: r.samples.map((s) => [sec(s.t), s.heapUsed / MiB]) },
      { name: 'heap + external − code (judged)', color: '#6a1b9a', points: r.samples.map((s) => [sec(s.t), retained(s) / MiB]) },
    ],
  });
  const withRss = r.samples.filter((s) => s.rss !== undefined);
  const rss = lineChart({
    title: 'Resident set size (RSS)',
    xLabel: 'seconds',
    yLabel: 'MiB',
    ranges,
    series: [{ name: 'RSS', color: '#00838f', points: withRss.map((s) => [sec(s.t), s.rss! / MiB]) }],
  });
  const slope = lineChart({
    title: `Slope as judged after each sample (bytes per request, ${Math.round(r.thresholds.confidence * 100)} % interval shaded)`,
    xLabel: 'seconds',
    yLabel: 'B/request',
    ranges,
    band: {
      color: 'rgba(255,152,0,0.25)',
      lo: r.slopes.map((p) => [sec(p.t), p.lo]),
      hi: r.slopes.map((p) => [sec(p.t), p.hi]),
    },
    lines: [{ y: r.thresholds.bytesPerRequest, label: `leak threshold ${r.thresholds.bytesPerRequest} B/request`, color: '#c62828' }],
    series: [{ name: 'Theil–Sen slope', color: '#e65100', points: r.slopes.map((p) => [sec(p.t), p.slope]) }],
  });
  return heap + rss + slope;
}

function snapshots(r: SoakReport): string {
  const s = r.snapshots;
  if (!s) return '';
  if (s.skipped || s.error) return `<h2>Heap snapshots</h2><p class="warn">${e(s.skipped ?? s.error!)}</p>`;
  const a = s.analysis!;
  const head = a.snapshots.map((_, i) => `<th>#${i + 1}</th>`).join('');
  const rows = a.grown
    .map(
      (c) =>
        `<tr><td><code>${e(c.name)}</code></td>${c.counts.map((n) => `<td class="n">${n}</td>`).join('')}<td class="n">+${c.countDelta}</td><td class="n">+${kib(c.bytesDelta)}</td><td class="n">${c.heldBytes === undefined ? '' : kib(c.heldBytes)}</td><td class="path">${e(c.retainerPath ?? '(no path found)')}</td></tr>`,
    )
    .join('\n');
  return `<h2>Heap snapshots: what grew in every interval</h2>
<p>${a.snapshots.length} snapshots (${a.snapshots.map((f) => kib(f.bytes)).join(', ')}), each pausing the service ${s.takeMs.join(', ')} ms; diffed in ${(a.analysisMs / 1000).toFixed(1)} s${a.lastMs === undefined ? '' : ` (${(a.lastMs / 1000).toFixed(1)} s after the last one)`} with ${kib(a.analysisPeakRssBytes)} of RSS.${s.planned ? ` ${e(s.planned[0]!.toUpperCase() + s.planned.slice(1))}.` : ''}</p>
${
  a.grown.length === 0
    ? '<p>No constructor grew in every interval.</p>'
    : `<table><thead><tr><th>constructor</th>${head}<th>objects added</th><th>bytes added</th><th>new bytes held</th><th>one retainer path (newest object)</th></tr></thead><tbody>
${rows}
</tbody></table>`
}`;
}

export function renderHtml(r: SoakReport): string {
  const j = r.judgement;
  const rounds = r.rounds
    .map(
      (x) =>
        `<tr><td class="n">${num(x.atMs / 1000)}</td><td>${x.verdict}</td><td class="n">${x.bytesPerRequest === undefined ? '–' : `${num(x.bytesPerRequest)} ${interval(x.lo, x.hi)}`}</td><td>${e(x.reason)}</td></tr>`,
    )
    .join('\n');
  const last = r.samples[r.samples.length - 1];
  const target = r.target.attached ? `attached to pid ${r.target.pid}` : e(r.command.join(' '));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>headroom soak: ${r.verdict}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px}h1 .v{color:#fff;background:var(--v);padding:2px 10px;border-radius:4px}
h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.path{font-family:ui-monospace,monospace;font-size:12px}
.chart svg{max-width:100%;height:auto}.chart text{font-size:11px;fill:#444}.chart .note{fill:#777}.grid{stroke:#eee}.axis{stroke:#999}
figcaption{font-weight:600;margin:16px 0 4px}.key{font-weight:400;margin-left:12px}.key::before{content:"";display:inline-block;width:14px;height:3px;background:var(--c);margin-right:4px;vertical-align:middle}
.warn{color:#b71c1c}code{font-size:13px}
</style></head><body>
<h1>headroom soak: <span class="v" style="--v:${COLOR[r.verdict]}">${r.verdict.toUpperCase()}</span></h1>
<p>${e(r.reason)}</p>
${(r.warnings ?? []).map((w) => `<p class="warn">warning: ${e(w)}</p>`).join('\n')}
<table>
<tr><th>target</th><td>${target} — load to ${e(r.url)}</td></tr>
<tr><th>started</th><td>${e(r.startedAt)}; measured ${num(r.elapsedMs / 1000)} s of a ${num(r.budgetMs / 1000, 0)} s budget (warm-up ${num(r.warmupMs / 1000, 0)} s)</td></tr>
<tr><th>growth</th><td>${j.perRequest ? `${num(j.perRequest.slope)} B/request ${interval(j.perRequest.lo, j.perRequest.hi)}, ${num((j.perSecond?.slope ?? NaN) / 1024, 2)} KiB/s over ${j.window!.samples} samples and ${j.window!.requests} requests` : '–'}</td></tr>
<tr><th>load</th><td>${r.load.requests} requests (${num(r.load.rps, 0)} req/s over ${r.load.connections} connections), ${r.load.errors} errors, statuses ${e(JSON.stringify(r.load.statuses))}, latency p50 ${num(r.load.latencyMs.p50)} ms, p99 ${num(r.load.latencyMs.p99)} ms</td></tr>
<tr><th>target at the end</th><td>${last ? `heap ${kib(last.heapUsed)}, external ${kib(last.external)}, RSS ${last.rss === undefined ? '?' : kib(last.rss)}, ${last.fds ?? '?'} fds, ${last.handles} handles` : '–'}</td></tr>
<tr><th>cost</th><td>${r.cost.forcedGcs} forced full GCs (${num(r.cost.gcsPerMinute, 0)}/min), pause mean ${num(r.cost.gcPauseMs.mean)} ms, max ${num(r.cost.gcPauseMs.max)} ms; load paused ${num(r.cost.quietMs / 1000)} s in all</td></tr>
</table>
${charts(r)}
${snapshots(r)}
<h2>Rounds</h2>
<table><thead><tr><th>at (s)</th><th>verdict</th><th>B/request [interval]</th><th>reason</th></tr></thead><tbody>
${rounds}
</tbody></table>
</body></html>
`;
}
