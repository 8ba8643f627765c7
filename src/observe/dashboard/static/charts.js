// The page's uPlot charts. Each keeps at most MAX_POINTS points (15 minutes at one a second), so a
// tab left open for days holds the same memory as one opened a minute ago.
import * as f from './format.js';

const MAX_POINTS = 900;
const uPlot = globalThis.uPlot;
const MUTED = '#8a96a3';
const GRID = { stroke: '#263140', width: 1 };
const count = (n) => String(Math.round(n));
const COLORS = ['#4aa3ff', '#a371f7', '#e5534b', '#2ea043', '#d29922'];

// Counts are whole: no axis tick between 0 and 1.
const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

const axis = (fmt, extra = {}) => ({ stroke: MUTED, grid: GRID, ticks: GRID, size: 80, values: (_u, splits) => splits.map(fmt), ...extra });

/**
 * A time chart: `series` is [{ label, fmt, scale, bars, dash }]; one left axis per scale, the
 * second scale on the right. push() appends one point (x in seconds) and ignores points not newer
 * than the last one, so a frame that repeats the end of the history draws nothing twice.
 */
export class Chart {
  constructor(el, series) {
    this.el = el;
    this.data = [[], ...series.map(() => [])];
    const scales = [...new Set(series.map((s) => s.scale ?? 'y'))];
    const fmtOf = (scale) => series.find((s) => (s.scale ?? 'y') === scale).fmt;
    this.plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: el.clientHeight || 170,
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          ...Object.fromEntries(scales.map((s) => [s, { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] }])),
        },
        axes: [
          { stroke: MUTED, grid: GRID, ticks: GRID },
          ...scales.map((s, i) =>
            axis(fmtOf(s), {
              scale: s,
              side: i === 0 ? 3 : 1,
              grid: i === 0 ? GRID : { show: false },
              ...(fmtOf(s) === count ? { incrs: WHOLE } : {}),
            }),
          ),
        ],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            scale: s.scale ?? 'y',
            stroke: COLORS[i % COLORS.length],
            width: 1.5,
            dash: s.dash,
            fill: s.bars ? `${COLORS[i % COLORS.length]}66` : undefined,
            paths: s.bars ? uPlot.paths.bars({ size: [0.8, 6] }) : undefined,
            value: (_u, v) => (v === null || v === undefined ? '–' : s.fmt(v)),
          })),
        ],
      },
      this.data,
      el,
    );
  }

  /** Appends many points at once: xs in seconds, one column per series. */
  load(xs, columns) {
    for (let i = 0; i < xs.length; i++)
      this.add(
        xs[i],
        columns.map((c) => c[i]),
      );
    this.draw();
  }

  push(x, values) {
    if (this.add(x, values)) this.draw();
  }

  add(x, values) {
    const xs = this.data[0];
    if (xs.length > 0 && x <= xs[xs.length - 1]) return false;
    xs.push(x);
    values.forEach((v, i) => this.data[i + 1].push(v ?? null));
    if (xs.length > MAX_POINTS) for (const column of this.data) column.shift();
    return true;
  }

  draw() {
    this.plot.setData(this.data);
    // For people reading the DOM (and the browser test): how many points are drawn, and the latest.
    this.el.dataset.points = String(this.data[0].length);
    this.el.dataset.last = String(this.data[0].at(-1) ?? '');
  }

  resize() {
    this.plot.setSize({ width: Math.max(200, this.el.clientWidth), height: this.el.clientHeight || 170 });
  }
}

/** The dashboard's charts, by panel. */
export function createCharts(byId) {
  const charts = {
    // Against the V8 heap limit, never heapTotal (which V8 grows and shrinks as it likes).
    heap: new Chart(byId('chart-heap'), [
      { label: 'heap used', fmt: f.bytes },
      { label: 'warning at', fmt: f.bytes, dash: [2, 4] },
      { label: 'heap limit', fmt: f.bytes, dash: [4, 4] },
    ]),
    postgc: new Chart(byId('chart-postgc'), [{ label: 'heap after GC', fmt: f.bytes }]),
    rss: new Chart(byId('chart-rss'), [
      { label: 'RSS', fmt: f.bytes },
      { label: 'container limit', fmt: f.bytes, dash: [4, 4] },
    ]),
    loop: new Chart(byId('chart-loop'), [
      { label: 'delay p99', fmt: f.ms, scale: 'ms' },
      { label: 'utilisation', fmt: f.percent, scale: '%' },
    ]),
    gc: new Chart(byId('chart-gc'), [{ label: 'pause', fmt: f.ms, bars: true }]),
    cache: new Chart(byId('chart-cache'), [
      { label: 'L1 bytes', fmt: f.bytes },
      { label: 'hit ratio', fmt: f.percent, scale: '%' },
    ]),
    proxy: new Chart(byId('chart-proxy'), [
      { label: 'in flight', fmt: count, scale: 'n' },
      { label: 'queued', fmt: count, scale: 'n' },
      { label: 'latency p99', fmt: f.ms, scale: 'ms' },
    ]),
    image: new Chart(byId('chart-image'), [
      { label: 'active', fmt: count },
      { label: 'queued', fmt: count },
    ]),
  };
  let pending;
  globalThis.addEventListener('resize', () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => Object.values(charts).forEach((c) => c.resize()));
  });
  return charts;
}
