// `--explain`: the inputs and each step of the derivation, for a person reading container logs.
import { mib, type Derivation } from './derive.js';

export interface ExplainExtra {
  /** How the flags reach the command: 'argv' (a `node …` command) or 'NODE_OPTIONS'. */
  delivery?: string;
  /** Notes from the limit reader (memory.high, limits above the machine's memory, …). */
  notes?: string[];
  machine?: number | null;
}

const row = (label: string, value: string, why = ''): string => `  ${label.padEnd(11)}${value.padEnd(12)}${why}`.trimEnd();

export function explain(d: Derivation, extra: ExplainExtra = {}): string {
  const out = ['headroom: memory derivation'];
  out.push(row('limit', d.limit === null ? 'none' : mib(d.limit), d.limitSource));
  if (extra.machine) out.push(row('machine', mib(extra.machine), 'MemTotal of /proc/meminfo'));
  for (const n of extra.notes ?? []) out.push(row('', '', `note: ${n}`));
  out.push(row('processes', String(d.processes), d.processes > 1 ? 'Node processes sharing the limit (--processes)' : ''));
  if (d.budget !== null) {
    if (d.runnerOverhead > 0) out.push(row('runner', `−${mib(d.runnerOverhead)}`, 'headroom run itself, the parent of the command'));
    out.push(row('budget', mib(d.budget), `per Node process: (limit − runner) / processes`));
    const t = d.tier!;
    out.push(
      row(
        'tier',
        t.name,
        `budget below ${t.below === Infinity ? '∞' : mib(t.below)}: semi-space ${t.semiSpaceMiB} MiB, off-heap share ${Math.round(t.offHeapShare * 100)} %`,
      ),
    );
    const total = d.reserve.reduce((s, r) => s + r.bytes, 0);
    out.push(row('reserve', mib(total), 'outside the old space:'));
    for (const r of d.reserve) out.push(`    ${r.what.padEnd(18)}${mib(r.bytes).padEnd(11)}${r.why}`);
  }
  if (d.oldSpaceMiB !== null)
    out.push(
      row(
        'old space',
        `${d.oldSpaceMiB} MiB`,
        d.semiSpaceMiB !== null ? `heap limit ${d.oldSpaceMiB + 3 * d.semiSpaceMiB} MiB with the young generation` : '',
      ),
    );
  out.push(row('flags', d.flags.length ? '' : 'none', d.flags.join(' ')));
  for (const w of d.why) out.push(`    ${w}`);
  for (const k of d.kept) out.push(row('kept', '', `${k.text} (from ${k.from}): the user's, not derived`));
  out.push(row('snapshot', d.snapshot.enabled ? 'on' : 'off', `${d.snapshot.dir ? `${d.snapshot.dir}: ` : ''}${d.snapshot.why}`));
  if (extra.delivery) out.push(row('delivery', extra.delivery));
  for (const [k, v] of Object.entries(d.env)) out.push(row('env', '', `${k}=${v}`));
  for (const w of d.warnings) out.push(row('warning', '', w));
  return `${out.join('\n')}\n`;
}
