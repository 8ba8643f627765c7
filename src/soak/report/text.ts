// The snapshot diff as plain text, for the CLI summary.
import type { SnapshotReport } from '../snapshot/take.js';

const kib = (n: number): string => (Math.abs(n) >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

export function snapshotText(s: SnapshotReport | undefined): string[] {
  if (!s) return [];
  if (s.skipped) return [`  heap snapshots: skipped — ${s.skipped}`];
  if (s.error) return [`  heap snapshots: failed — ${s.error}`];
  const a = s.analysis!;
  const sizes = a.snapshots.map((f) => kib(f.bytes)).join(', ');
  const lines = [
    `  heap snapshots: ${a.snapshots.length} (${sizes}; taking them paused the service ${s.takeMs.join(', ')} ms), diffed in ${(a.analysisMs / 1000).toFixed(1)} s${a.lastMs === undefined ? '' : ` (${(a.lastMs / 1000).toFixed(1)} s after the last one)`} using ${kib(a.analysisPeakRssBytes)} of RSS`,
  ];
  if (s.planned) lines.push(`  ${s.planned}`);
  if (a.grown.length === 0) lines.push('  no constructor grew in every interval between the snapshots');
  else lines.push('  grew in every interval (objects per snapshot; bytes added; new bytes they hold in the last interval):');
  for (const c of a.grown) {
    const held = c.heldBytes === undefined ? '' : `, holding ${kib(c.heldBytes)} new`;
    lines.push(`    ${c.name}: ${c.counts.join(' → ')} objects, +${kib(c.bytesDelta)}${held}`);
    if (c.retainerPath) lines.push(`      retained by ${c.retainerPath}`);
  }
  if (s.files) lines.push(`  snapshot files: ${s.files.join(', ')}`);
  return lines;
}
