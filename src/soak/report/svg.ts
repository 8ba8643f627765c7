// Inline SVG line charts for the HTML report: no script, no library, no network — the file opens
// anywhere, also as a CI artifact.

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** A shaded band between two curves (e.g. a confidence interval), same x as `band.lo`. */
  band?: { color: string; lo: readonly (readonly [number, number])[]; hi: readonly (readonly [number, number])[] };
  /** Shaded x ranges with a label (warm-up, the judged window). */
  ranges?: readonly { from: number; to: number; label: string; color: string }[];
  /** Horizontal reference lines. */
  lines?: readonly { y: number; label: string; color: string }[];
}

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || v === Math.round(v) ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

const W = 760;
const H = 260;
const PAD = { l: 64, r: 16, t: 28, b: 40 };

export function lineChart(c: ChartSpec): string {
  const all = [...c.series.flatMap((s) => s.points), ...(c.band ? [...c.band.lo, ...c.band.hi] : [])].filter(
    ([x, y]) => Number.isFinite(x) && Number.isFinite(y),
  );
  const ys = [...all.map((p) => p[1]), ...(c.lines ?? []).map((l) => l.y)];
  const xs = all.map((p) => p[0]);
  if (xs.length === 0) return `<figure><figcaption>${escapeHtml(c.title)}</figcaption><p>no data</p></figure>`;
  const x0 = Math.min(...xs);
  const xMax = Math.max(...xs);
  const x1 = xMax === x0 ? x0 + 1 : xMax;
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const padY = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - padY, y1 + padY];
  const px = (x: number): number => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const py = (y: number): number => H - PAD.b - ((Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const path = (pts: readonly (readonly [number, number])[]): string =>
    pts
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join('');
  const parts: string[] = [];
  for (const r of c.ranges ?? []) {
    const a = px(Math.max(r.from, x0));
    const b = px(Math.min(r.to, x1));
    if (b <= a) continue;
    parts.push(
      `<rect x="${a.toFixed(1)}" y="${PAD.t}" width="${(b - a).toFixed(1)}" height="${H - PAD.t - PAD.b}" fill="${r.color}"/>`,
      `<text x="${(a + 4).toFixed(1)}" y="${PAD.t + 12}" class="note">${escapeHtml(r.label)}</text>`,
    );
  }
  for (const t of ticks(y0, y1))
    parts.push(
      `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" class="grid"/>`,
      `<text x="${PAD.l - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
    );
  for (const t of ticks(x0, x1, 8)) parts.push(`<text x="${px(t).toFixed(1)}" y="${H - PAD.b + 16}" text-anchor="middle">${fmt(t)}</text>`);
  if (c.band) {
    const lo = c.band.lo.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const hi = c.band.hi.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (lo.length && hi.length) parts.push(`<path d="${path(lo)}${path([...hi].reverse()).replace(/^M/, 'L')}Z" fill="${c.band.color}"/>`);
  }
  for (const l of c.lines ?? [])
    parts.push(
      `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${py(l.y).toFixed(1)}" y2="${py(l.y).toFixed(1)}" stroke="${l.color}" stroke-dasharray="6 4"/>`,
      `<text x="${W - PAD.r - 4}" y="${(py(l.y) - 4).toFixed(1)}" text-anchor="end" class="note">${escapeHtml(l.label)}</text>`,
    );
  for (const s of c.series)
    parts.push(
      `<path d="${path(s.points)}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ''}><title>${escapeHtml(s.name)}</title></path>`,
    );
  const legend = c.series.map((s) => `<span class="key" style="--c:${s.color}">${escapeHtml(s.name)}</span>`).join(' ');
  return `<figure class="chart"><figcaption>${escapeHtml(c.title)} ${legend}</figcaption>
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(c.title)}">
<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" class="axis"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" class="axis"/>
${parts.join('\n')}
<text x="${(W + PAD.l) / 2}" y="${H - 6}" text-anchor="middle">${escapeHtml(c.xLabel)}</text>
<text transform="translate(14 ${(H - PAD.b + PAD.t) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(c.yLabel)}</text>
</svg></figure>`;
}
