// LOG_FORMAT=pretty: pino's JSON lines made readable for a person at a terminal, one line each
// (`12:00:01.234 INFO  GET /api/items 200 3.1ms reqId=… route=/api/* …`; an error's stack follows
// on its own lines). pino-pretty would do it with a worker thread and a dependency; this is a
// plain synchronous destination in front of the real one, and every line it writes is bounded.
import type { DestinationStream } from 'pino';
import { CONTROL_CHARS, escapeControls } from '../options/printable.js';

/** Longest line written (a longer one is cut and ends in '…'); stack lines are bounded too. */
export const MAX_PRETTY_LINE = 4096;
const MAX_STACK_LINES = 20;

const LEVELS: Record<number, [name: string, color: string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

// Fields the line's head already shows, or that say nothing at a terminal.
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'err']);

export interface PrettyOptions {
  /** ANSI colours for the level and the fields (a terminal that wants them). Default false. */
  color?: boolean;
}

const bounded = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

// A plain value has no space, quote, '=', or character escapeControls would escape.
const PLAIN = new RegExp(`^[^\\s"=${CONTROL_CHARS}]*$`);

function value(v: unknown): string {
  if (typeof v === 'string') return PLAIN.test(v) && v !== '' ? v : escapeControls(JSON.stringify(v));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return escapeControls(JSON.stringify(v) ?? String(v));
}

function time(t: unknown): string {
  const given = typeof t === 'number' ? new Date(t) : undefined;
  // A time Date cannot hold (1e20, a line's own odd "time") is shown as now, not thrown.
  const d = given && Number.isFinite(given.getTime()) ? given : new Date();
  return d.toISOString().slice(11, 23);
}

/** One JSON log line as one readable line (plus an error's stack), or the line as it was when it is not JSON. */
export function prettyLine(json: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  if (o === null || typeof o !== 'object') return `${json.trimEnd()}\n`;
  const [name, c] = LEVELS[o.level as number] ?? [String(o.level ?? '?').padEnd(5), ''];
  const fields: string[] = [];
  for (const k in o)
    if (!SKIP.has(k) && o[k] !== undefined)
      fields.push(`${k !== '' && PLAIN.test(k) ? k : escapeControls(JSON.stringify(k))}=${value(o[k])}`);
  const msg = typeof o.msg === 'string' ? escapeControls(o.msg) : '';
  const rest = fields.join(' ');
  const head = color ? `${DIM}${time(o.time)}${RESET} ${c}${name}${RESET} ${msg}` : `${time(o.time)} ${name} ${msg}`;
  let out = bounded(rest ? `${head} ${color ? `${DIM}${rest}${RESET}` : rest}` : head, MAX_PRETTY_LINE);
  const err = o.err as { type?: string; message?: string; stack?: string; code?: string } | undefined;
  if (err && typeof err === 'object') {
    const stack = typeof err.stack === 'string' ? err.stack : `${err.type ?? 'Error'}: ${err.message ?? ''}`;
    const lines = stack.split('\n');
    const shown = lines.slice(0, MAX_STACK_LINES).map((l) => `    ${bounded(l, MAX_PRETTY_LINE)}`);
    if (lines.length > MAX_STACK_LINES) shown.push(`    … ${lines.length - MAX_STACK_LINES} more lines`);
    if (err.code) shown.unshift(`    code=${value(err.code)}`);
    out += `\n${shown.join('\n')}`;
  }
  return `${out}\n`;
}

/** A pino destination that writes each line to `out` in the pretty format. */
export function createPrettyDestination(out: DestinationStream, options: PrettyOptions = {}): DestinationStream {
  const color = options.color === true;
  return {
    write(chunk: string) {
      // pino writes one line per call; a multistream or a caller may hand over several.
      let text = '';
      for (const line of chunk.split('\n')) if (line) text += prettyLine(line, color);
      out.write(text);
    },
  };
}
