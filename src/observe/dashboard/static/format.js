// Human forms of the numbers the feed carries (bytes, milliseconds, percents 0–100).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function bytes(n) {
  if (n === null || n === undefined) return '–';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? '-' : ''}${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[i]}`;
}

/** 42.123 → "42.1%". */
export const percent = (n) => (n === null || n === undefined ? '–' : `${n.toFixed(1)}%`);

/** 3.2 → "3.2 ms". */
export const ms = (n) => (n === null || n === undefined ? '–' : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`);

/** 5400 → "1h 30m". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.round(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Bytes per hour as a signed rate: "+12 MiB/h". */
export const rate = (n) => (n === null || n === undefined ? 'not known yet' : `${n >= 0 ? '+' : '-'}${bytes(Math.abs(n))}/h`);
