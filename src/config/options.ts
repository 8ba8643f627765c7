// Builders for configuration options. Each option knows its environment variable, its CLI flag,
// its default, its bound and its description; the zod schema validates a raw value that may come
// from an env var (a string), a CLI flag (a string) or the JSON config file (any JSON value).
// The `accepted` text is what error messages and docs/configuration.md say is allowed.
import { z } from 'zod';
import { shareToFraction, toPercent } from '../monitor/units.js';

export interface Option<T> {
  env: string;
  /** CLI flag without the leading dashes: always the env name in kebab-case (one rule, no exceptions). */
  flag: string;
  doc: string;
  accepted: string;
  /** Value used when nothing is given. `undefined` means "unset" (only for optional options). */
  default: T;
  /** Text shown in the docs for the default (e.g. "10 MiB", "cgroup memory.max"). */
  defaultText: string;
  secret: boolean;
  schema: z.ZodType<T>;
}

export type OptionValue<O> = O extends Option<infer T> ? T : never;

interface Common<T> {
  env: string;
  doc: string;
  default: T;
  defaultText?: string;
  secret?: boolean;
}

const toFlag = (env: string): string => env.toLowerCase().replace(/_/g, '-');

/** A parse result that refuses a value for a reason more specific than `accepted`. */
class Refused {
  constructor(readonly message: string) {}
}

function build<T>(c: Common<T>, accepted: string, parse: (raw: unknown) => T | Refused | undefined): Option<T> {
  const schema = z.unknown().transform((raw, ctx): T => {
    if (raw === undefined) return c.default;
    const value = parse(raw);
    if (value === undefined || value instanceof Refused) {
      ctx.addIssue({ code: 'custom', message: value instanceof Refused ? value.message : accepted });
      return z.NEVER;
    }
    return value;
  }) as unknown as z.ZodType<T>;
  return {
    env: c.env,
    flag: toFlag(c.env),
    doc: c.doc,
    accepted,
    default: c.default,
    defaultText: c.defaultText ?? (c.default === undefined ? 'unset' : String(c.default)),
    secret: c.secret ?? false,
    schema,
  };
}

const text = (raw: unknown): string | undefined =>
  typeof raw === 'string' ? raw.trim() : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;

function parseNumber(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  const s = text(raw);
  if (s === undefined || s === '' || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s)) return undefined;
  return Number(s);
}

export function num(c: Common<number> & { min: number; max: number; integer?: boolean; unit?: string }): Option<number> {
  const kind = c.integer ? 'an integer' : 'a number';
  const unit = c.unit ? ` (${c.unit})` : '';
  return build(c, `must be ${kind} between ${c.min} and ${c.max}${unit}`, (raw) => {
    const n = parseNumber(raw);
    if (n === undefined || n < c.min || n > c.max) return undefined;
    if (c.integer && !Number.isInteger(n)) return undefined;
    return n;
  });
}

/**
 * A share named without a unit (MEMORY_WARNING_THRESHOLD): a fraction up to 1 (0.75) or a percent
 * (75, 75%); the value is the fraction. `max` is a fraction.
 */
export function share(c: Common<number> & { max: number }): Option<number> {
  const maxPercent = toPercent(c.max);
  return build(
    { ...c, defaultText: c.defaultText ?? `${c.default} (${toPercent(c.default)}%)` },
    `must be a fraction from 0 to ${c.max} or a percent up to ${maxPercent} (a number up to 1 is a fraction: ${c.default} or ${toPercent(c.default)}%; write 1% for one percent)`,
    (raw) => {
      const s = text(raw);
      const pct = s?.endsWith('%') ? parseNumber(s.slice(0, -1).trim()) : undefined;
      const f = pct !== undefined ? (pct >= 0 ? pct / 100 : undefined) : shareToFraction(parseNumber(raw));
      return f === undefined || f > c.max ? undefined : f;
    },
  );
}

/** A percent (0–100) of something, named …_PERCENT: 80 or 80%. A fraction is refused with a hint. */
export function percent(c: Common<number> & { min: number; max: number }): Option<number> {
  return build(c, `must be a percent from ${c.min} to ${c.max} (80 or 80%)`, (raw) => {
    const s = text(raw);
    const n = parseNumber(s?.endsWith('%') ? s.slice(0, -1).trim() : raw);
    if (n !== undefined && n > 0 && n < 1 && c.min >= 1) {
      return new Refused(`must be a percent from ${c.min} to ${c.max}: ${n} would mean ${n} %; for ${toPercent(n)} % write ${toPercent(n)}`);
    }
    return n === undefined || n < c.min || n > c.max ? undefined : n;
  });
}

const BYTE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9,
  k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3,
};

export function parseBytes(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  const s = text(raw);
  const m = s === undefined ? null : /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s);
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** A byte size: a plain integer or a number with a unit (512KiB, 10MB, 1GiB; K/M/G are binary). */
export function bytes(c: Common<number> & { min: number; max: number }): Option<number> {
  return build(
    { ...c, defaultText: c.defaultText ?? formatBytes(c.default) },
    `must be a byte size between ${formatBytes(c.min)} and ${formatBytes(c.max)} (an integer, or a number with B, KB, MB, GB, KiB, MiB or GiB)`,
    (raw) => {
      const n = parseBytes(raw);
      return n === undefined || n < c.min || n > c.max ? undefined : n;
    },
  );
}

/** Optional byte size: unset means "derive it" (e.g. from the cgroup limit). */
export function optionalBytes(c: Common<number | undefined> & { min: number; max: number }): Option<number | undefined> {
  return build(
    c,
    `must be a byte size between ${formatBytes(c.min)} and ${formatBytes(c.max)} (an integer, or a number with B, KB, MB, GB, KiB, MiB or GiB)`,
    (raw) => {
      const n = parseBytes(raw);
      return n === undefined || n < c.min || n > c.max ? undefined : n;
    },
  );
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  const s = text(raw);
  const m = s === undefined ? null : /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(s);
  if (!m) return undefined;
  const n = Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? '').toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : undefined;
}

const formatMs = (ms: number): string =>
  ms % 3_600_000 === 0 && ms > 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m` : ms % 1000 === 0 && ms > 0 ? `${ms / 1000}s` : `${ms}ms`;

/** A duration in milliseconds: a plain integer, or a number with ms, s, m or h. */
export function duration(c: Common<number> & { min: number; max: number }): Option<number> {
  return build(
    { ...c, defaultText: c.defaultText ?? `${c.default} (${formatMs(c.default)})` },
    `must be a duration between ${formatMs(c.min)} and ${formatMs(c.max)} (milliseconds, or a number with ms, s, m or h)`,
    (raw) => {
      const n = parseDuration(raw);
      return n === undefined || n < c.min || n > c.max ? undefined : n;
    },
  );
}

export function bool(c: Common<boolean>): Option<boolean> {
  return build(c, 'must be true or false (also accepted: 1/0, yes/no, on/off)', (raw) => {
    if (typeof raw === 'boolean') return raw;
    const s = text(raw)?.toLowerCase();
    if (s === 'true' || s === '1' || s === 'yes' || s === 'on') return true;
    if (s === 'false' || s === '0' || s === 'no' || s === 'off') return false;
    return undefined;
  });
}

export function oneOf<const T extends string>(c: Common<T> & { values: readonly T[] }): Option<T> {
  return build(c, `must be one of ${c.values.join(', ')}`, (raw) => {
    const s = text(raw);
    return c.values.find((v) => v === s);
  });
}

export function str(c: Common<string> & { pattern?: RegExp; accepted?: string; maxLength?: number }): Option<string> {
  const max = c.maxLength ?? 1024;
  return build(c, c.accepted ?? `must be a string of at most ${max} characters`, (raw) => {
    const s = text(raw);
    if (s === undefined || s.length > max) return undefined;
    if (c.pattern && !c.pattern.test(s)) return undefined;
    return s;
  });
}

export function optionalStr(c: Common<string | undefined> & { minLength?: number; maxLength?: number; accepted?: string }): Option<string | undefined> {
  const min = c.minLength ?? 1;
  const max = c.maxLength ?? 4096;
  return build(c, c.accepted ?? `must be a string of ${min} to ${max} characters`, (raw) => {
    const s = text(raw);
    if (s === undefined || s.length < min || s.length > max) return undefined;
    return s;
  });
}

/**
 * An absolute http(s) URL, or unset. Without allowUserinfo, user:password@ is refused and
 * `userinfoHint` says why (e.g. that the credentials would never be sent).
 */
export function optionalUrl(
  c: Common<string | undefined> & { protocols?: string[]; allowUserinfo?: boolean; userinfoHint?: string },
): Option<string | undefined> {
  const protocols = c.protocols ?? ['http:', 'https:'];
  const names = protocols.map((p) => p.replace(':', '')).join(' or ');
  const accepted = c.allowUserinfo ? `must be an absolute ${names} URL` : `must be an absolute ${names} URL without user:password@`;
  const userinfo = new Refused(c.userinfoHint ? `${accepted} (${c.userinfoHint})` : accepted);
  return build(c, accepted, (raw) => {
    const s = text(raw);
    if (!s) return undefined;
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return undefined;
    }
    if (!protocols.includes(u.protocol)) return undefined;
    return !c.allowUserinfo && (u.username || u.password) ? userinfo : s;
  });
}

/** A comma-separated list (or a JSON array in the config file). */
export function list(c: Common<string[]> & { item?: RegExp; itemText?: string; maxItems?: number }): Option<string[]> {
  const maxItems = c.maxItems ?? 256;
  return build(
    { ...c, defaultText: c.defaultText ?? (c.default.length ? c.default.join(',') : '(empty)') },
    `must be a comma-separated list of at most ${maxItems} ${c.itemText ?? 'entries'}`,
    (raw) => {
      const items = Array.isArray(raw) ? raw.map(text) : text(raw)?.split(',').map((s) => s.trim());
      if (!items) return undefined;
      const clean = items.filter((s) => s !== '');
      if (clean.length > maxItems || clean.some((s) => s === undefined || (c.item && !c.item.test(s)))) return undefined;
      return clean as string[];
    },
  );
}

/** Which proxies in front are trusted for X-Forwarded-*: none, a hop count, or their addresses. */
export type TrustProxy = false | number | string[];

export function trustProxy(c: Common<TrustProxy>): Option<TrustProxy> {
  const ipOrCidr = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/;
  return build(
    { ...c, defaultText: c.defaultText ?? String(c.default) },
    'must be false, a hop count from 1 to 10, or a comma-separated list of proxy IP addresses or CIDRs (true is refused: it would let any client choose its own address)',
    (raw) => {
      const s = text(raw);
      if (s === undefined) return undefined;
      if (/^(false|0|no|off)$/i.test(s)) return false;
      if (/^\d+$/.test(s)) {
        const n = Number(s);
        return n >= 1 && n <= 10 ? n : undefined;
      }
      const items = s.split(',').map((x) => x.trim()).filter(Boolean);
      return items.length > 0 && items.length <= 64 && items.every((x) => ipOrCidr.test(x)) ? items : undefined;
    },
  );
}
