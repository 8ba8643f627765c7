// One home per option: its default, bound, unit, accepted text and doc line. A part declares its
// options here (src/<part>/options.ts) and validates its factory's arguments with them; the
// gateway's configuration schema (src/config) wraps the same objects, so the two cannot drift.
// `parse` takes a library value (a number, a boolean, an array), an environment string or a JSON
// value from the config file, and returns the value, or undefined / a Refused when it is bad.
import { isIP } from 'node:net';
import { HeadroomError } from '../errors.js';
import { shareToFraction, toPercent } from './units.js';
import { redactUrl, redactValue } from './redact.js';
import { optionsPlace } from './place.js';
import { suggestOption } from './suggest.js';
import { oneLine } from './printable.js';

export { nestedOptions, optionsPlace, type OptionsPlace } from './place.js';

/** A parse result that refuses a value for a reason more specific than `accepted`. */
export class Refused {
  constructor(readonly message: string) {}
}

export interface OptionSpec<T> {
  /**
   * Environment variable of the gateway (the CLI flag and the config-file key derive from it).
   * Unset for a library-only option, which the configuration schema refuses to wrap.
   */
  env?: string;
  doc: string;
  /** What is allowed, as error messages and docs/configuration.md say it. */
  accepted: string;
  /** Value used when nothing is given; `undefined` means "unset" (optional options only). */
  default: T;
  /** The default as the docs show it (e.g. "10 MiB", "cgroup memory.max"). */
  defaultText: string;
  /** Never shown in logs, errors or docs examples. */
  secret: boolean;
  parse(raw: unknown): T | Refused | undefined;
}

export type SpecValue<S> = S extends OptionSpec<infer T> ? T : never;
export type SpecValues<S extends Record<string, OptionSpec<unknown>>> = { [K in keyof S]: SpecValue<S[K]> };

interface Common<T> {
  env?: string;
  doc: string;
  default: T;
  defaultText?: string;
  secret?: boolean;
}

function spec<T>(c: Common<T>, accepted: string, parse: (raw: unknown) => T | Refused | undefined): OptionSpec<T> {
  return {
    env: c.env,
    doc: c.doc,
    accepted,
    default: c.default,
    defaultText: c.defaultText ?? (c.default === undefined ? 'unset' : String(c.default)),
    secret: c.secret ?? false,
    parse,
  };
}

const text = (raw: unknown): string | undefined =>
  typeof raw === 'string' ? raw.trim() : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;
/** What a value is, for a message about an argument of the wrong type ("got null", "got an array", "got string"). */
export const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value);
/** Free text (a path, a name, a secret) is a string: `dir: 5` is a mistake, not a folder named "5". */
const onlyText = (raw: unknown): string | undefined => (typeof raw === 'string' ? raw.trim() : undefined);

function parseNumber(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  const s = text(raw);
  if (s === undefined || s === '' || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s)) return undefined;
  return Number(s);
}

export function num(c: Common<number> & { min: number; max: number; integer?: boolean; unit?: string }): OptionSpec<number> {
  const kind = c.integer ? 'an integer' : 'a number';
  const unit = c.unit ? ` (${c.unit})` : '';
  return spec(c, `must be ${kind} between ${c.min} and ${c.max}${unit}`, (raw) => {
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
export function share(c: Common<number> & { max: number }): OptionSpec<number> {
  const maxPercent = toPercent(c.max);
  return spec(
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
export function percent(c: Common<number> & { min: number; max: number }): OptionSpec<number> {
  return spec(c, `must be a percent from ${c.min} to ${c.max} (80 or 80%)`, (raw) => {
    const s = text(raw);
    const n = parseNumber(s?.endsWith('%') ? s.slice(0, -1).trim() : raw);
    if (n !== undefined && n > 0 && n < 1 && c.min >= 1) {
      return new Refused(
        `must be a percent from ${c.min} to ${c.max}: ${n} would mean ${n} %; for ${toPercent(n)} % write ${toPercent(n)}`,
      );
    }
    return n === undefined || n < c.min || n > c.max ? undefined : n;
  });
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
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

const bytesAccepted = (min: number, max: number): string =>
  `must be a byte size between ${formatBytes(min)} and ${formatBytes(max)} (an integer, or a number with B, KB, MB, GB, KiB, MiB or GiB)`;

/** A byte size: a plain integer or a number with a unit (512KiB, 10MB, 1GiB; K/M/G are binary). */
export function bytes(c: Common<number> & { min: number; max: number }): OptionSpec<number> {
  return spec({ ...c, defaultText: c.defaultText ?? formatBytes(c.default) }, bytesAccepted(c.min, c.max), (raw) => {
    const n = parseBytes(raw);
    return n === undefined || n < c.min || n > c.max ? undefined : n;
  });
}

/** Optional byte size: unset means "derive it" (e.g. from the cgroup limit). */
export function optionalBytes(c: Common<number | undefined> & { min: number; max: number }): OptionSpec<number | undefined> {
  return spec(c, bytesAccepted(c.min, c.max), (raw) => {
    const n = parseBytes(raw);
    return n === undefined || n < c.min || n > c.max ? undefined : n;
  });
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

export const formatMs = (ms: number): string =>
  ms % 3_600_000 === 0 && ms > 0
    ? `${ms / 3_600_000}h`
    : ms % 60_000 === 0 && ms > 0
      ? `${ms / 60_000}m`
      : ms % 1000 === 0 && ms > 0
        ? `${ms / 1000}s`
        : `${ms}ms`;

/** A duration in milliseconds: a plain integer, or a number with ms, s, m or h. */
export function duration(c: Common<number> & { min: number; max: number }): OptionSpec<number> {
  return spec(
    { ...c, defaultText: c.defaultText ?? `${c.default} (${formatMs(c.default)})` },
    `must be a duration between ${formatMs(c.min)} and ${formatMs(c.max)} (milliseconds, or a number with ms, s, m or h)`,
    (raw) => {
      const n = parseDuration(raw);
      return n === undefined || n < c.min || n > c.max ? undefined : n;
    },
  );
}

export function bool(c: Common<boolean>): OptionSpec<boolean> {
  return spec(c, 'must be true or false (also accepted: 1/0, yes/no, on/off)', (raw) => {
    if (typeof raw === 'boolean') return raw;
    const s = text(raw)?.toLowerCase();
    if (s === 'true' || s === '1' || s === 'yes' || s === 'on') return true;
    if (s === 'false' || s === '0' || s === 'no' || s === 'off') return false;
    return undefined;
  });
}

export function oneOf<const T extends string>(c: Common<T> & { values: readonly T[] }): OptionSpec<T> {
  return spec(c, `must be one of ${c.values.join(', ')}`, (raw) => {
    const s = text(raw);
    return c.values.find((v) => v === s);
  });
}

export function str(
  c: Common<string> & { pattern?: RegExp; valid?: (s: string) => boolean; accepted?: string; maxLength?: number },
): OptionSpec<string> {
  const max = c.maxLength ?? 1024;
  return spec(c, c.accepted ?? `must be a string of at most ${max} characters`, (raw) => {
    const s = onlyText(raw);
    if (s === undefined || s.length > max) return undefined;
    if (c.pattern && !c.pattern.test(s)) return undefined;
    if (c.valid && !c.valid(s)) return undefined;
    return s;
  });
}

/**
 * An address to listen on: an IP address, or a host name (labels of letters, digits, - and _).
 * Dots and digits alone are meant as an IPv4 address, so 999.1.1.1 is refused here rather than
 * looked up as a name when the server listens.
 */
export function isListenHost(s: string): boolean {
  if (isIP(s) !== 0) return true;
  if (/^[\d.]+$/.test(s)) return false;
  return s.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

export function optionalStr(
  c: Common<string | undefined> & { minLength?: number; maxLength?: number; pattern?: RegExp; accepted?: string },
): OptionSpec<string | undefined> {
  const min = c.minLength ?? 1;
  const max = c.maxLength ?? 4096;
  return spec(c, c.accepted ?? `must be a string of ${min} to ${max} characters`, (raw) => {
    const s = onlyText(raw);
    if (s === undefined || s.length < min || s.length > max || (c.pattern && !c.pattern.test(s))) return undefined;
    return s;
  });
}

/** Visible ASCII, no spaces: a bearer token (RFC 6750's token68 and more), a key prefix. */
export const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** What an HTTP header value can carry as a credential: visible ASCII, spaces only between words. */
export const HEADER_VALUE_CHARS = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * An absolute http(s) URL, or unset. Without allowUserinfo, user:password@ is refused and
 * `userinfoHint` says why (e.g. that the credentials would never be sent).
 */
export function optionalUrl(
  c: Common<string | undefined> & { protocols?: string[]; allowUserinfo?: boolean; userinfoHint?: string },
): OptionSpec<string | undefined> {
  const protocols = c.protocols ?? ['http:', 'https:'];
  const names = protocols.map((p) => p.replace(':', '')).join(' or ');
  const accepted = c.allowUserinfo ? `must be an absolute ${names} URL` : `must be an absolute ${names} URL without user:password@`;
  const userinfo = new Refused(c.userinfoHint ? `${accepted} (${c.userinfoHint})` : accepted);
  return spec(c, accepted, (raw) => {
    const s = raw instanceof URL ? raw.href : text(raw);
    if (!s) return undefined;
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return undefined;
    }
    if (!protocols.includes(u.protocol)) return undefined;
    if (!c.allowUserinfo) return u.username || u.password ? userinfo : s;
    try {
      // Credentials are decoded when used (a Basic header): refuse what cannot be, here.
      decodeURIComponent(u.username);
      decodeURIComponent(u.password);
    } catch {
      return new Refused(`${accepted} whose user:password@ is valid percent-encoding`);
    }
    return s;
  });
}

/**
 * A library-only object (a logger, a monitor, a cache), or unset: checked for the methods the part
 * calls, so a wrong object fails at construction instead of on the first request.
 */
export function optionalObject<T extends object>(c: { doc: string; what: string; methods: readonly string[] }): OptionSpec<T | undefined> {
  const accepted = c.methods.length
    ? `must be ${c.what} (an object with ${c.methods.map((m) => `${m}()`).join(', ')})`
    : `must be ${c.what}`;
  return spec<T | undefined>({ doc: c.doc, default: undefined }, accepted, (raw) =>
    typeof raw === 'object' && raw !== null && c.methods.every((m) => typeof (raw as Record<string, unknown>)[m] === 'function')
      ? (raw as T)
      : undefined,
  );
}

/** A library-only function (a callback), or unset; `what` says what it is for. */
export function optionalFunction<T extends (...args: never[]) => unknown>(c: { doc: string; what: string }): OptionSpec<T | undefined> {
  return spec<T | undefined>({ doc: c.doc, default: undefined }, `must be a function (${c.what})`, (raw) =>
    typeof raw === 'function' ? (raw as T) : undefined,
  );
}

/**
 * A nested options object a factory hands on to another part (createHeadroom's `proxy: {…}`), or
 * unset. Only its shape is checked here: the receiving part checks its keys and values.
 */
export function optionsGroup<T extends object>(c: { doc: string; of: string }): OptionSpec<T | undefined> {
  return spec<T | undefined>({ doc: c.doc, default: undefined }, `must be an options object (${c.of})`, (raw) =>
    typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as T) : undefined,
  );
}

/** A memory monitor a part subscribes to: an object with status() and onPressure(). */
export function memoryMonitor<T extends object>(doc: string): OptionSpec<T | undefined> {
  return optionalObject<T>({ doc, what: 'a memory monitor', methods: ['status', 'onPressure'] });
}

/**
 * A list: comma-separated in an environment variable or flag, an array in the config file or a
 * library call. `itemText` says what the items are, in the plural ("paths starting with /").
 */
export function list(c: Common<string[]> & { item?: RegExp; itemText?: string; maxItems?: number }): OptionSpec<string[]> {
  const maxItems = c.maxItems ?? 256;
  const what = `at most ${maxItems} ${c.itemText ?? 'entries'}`;
  return spec(
    { ...c, defaultText: c.defaultText ?? (c.default.length ? c.default.join(',') : '(empty)') },
    // A library-only list is an array; one the gateway configures is also written comma-separated.
    c.env ? `must be a list of ${what} (an array; comma-separated in the variable and the flag)` : `must be an array of ${what}`,
    (raw) => {
      // A boolean or a number is not a list (allowPrivateOrigins: true would read as an origin "true"),
      // nor an item of one (allowedOrigins: [5] is a mistake, not the origin "5").
      const items = Array.isArray(raw) ? raw.map(onlyText) : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : undefined;
      if (!items) return undefined;
      const clean = items.filter((s) => s !== '');
      if (clean.length > maxItems || clean.some((s) => s === undefined || (c.item && !c.item.test(s)))) return undefined;
      return clean as string[];
    },
  );
}

/**
 * A list of absolute http(s) URLs: comma-separated in a variable or flag, an array in the config
 * file or a library call. Each URL is checked as optionalUrl checks one; the message names the
 * first bad entry (credentials hidden) and its position.
 */
export function urlList(c: Common<string[]> & { maxItems?: number; allowUserinfo?: boolean }): OptionSpec<string[]> {
  const maxItems = c.maxItems ?? 16;
  const one = optionalUrl({ doc: c.doc, default: undefined, allowUserinfo: c.allowUserinfo });
  const accepted = `must be a list of at most ${maxItems} ${one.accepted.replace(/^must be an /, '')}s (comma-separated in the variable and the flag)`;
  return spec({ ...c, defaultText: c.defaultText ?? (c.default.length ? c.default.join(',') : '(empty)') }, accepted, (raw) => {
    const items = Array.isArray(raw)
      ? raw.map((x) => (x instanceof URL ? x.href : text(x)))
      : raw instanceof URL
        ? [raw.href]
        : text(raw)
            ?.split(',')
            .map((s) => s.trim());
    if (!items) return undefined;
    const clean = items.filter((s) => s !== '');
    if (clean.length > maxItems || clean.some((s) => s === undefined)) return undefined;
    for (const [i, s] of (clean as string[]).entries()) {
      const v = one.parse(s);
      if (v === undefined || v instanceof Refused)
        // A secret list (webhook URLs carry their token in the path) names the entry only by position.
        return new Refused(
          `${accepted}; entry ${i + 1}${c.secret ? '' : ` (${redactValue(s)})`} ${v instanceof Refused ? v.message : one.accepted}`,
        );
    }
    return clean as string[];
  });
}

/** Which proxies in front are trusted for X-Forwarded-*: none, a hop count, or their addresses. */
export type TrustProxy = false | number | string[];

export function trustProxy(c: Common<TrustProxy>): OptionSpec<TrustProxy> {
  // An address, or an address/prefix length within its family's bits (what proxy-addr compiles;
  // anything else would pass here and crash Fastify at start-up).
  const ipOrCidr = (x: string): boolean => {
    const [address = '', bits, extra] = x.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  };
  return spec(
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
      const items = s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      return items.length > 0 && items.length <= 64 && items.every(ipOrCidr) ? items : undefined;
    },
  );
}

/**
 * The value of an option a factory cannot work without; HEADROOM_CONFIG_INVALID when it is missing.
 * `given` (the options object the factory received) names a nested option by its path.
 */
export function requireOption<T>(factory: string, key: string, s: OptionSpec<T | undefined>, value: T | undefined, given?: unknown): T {
  if (value !== undefined) return value;
  const at = optionsPlace(factory, given);
  throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${at.factory}: ${at.prefix}${key} is required: ${s.accepted}`);
}

/** Keys Fastify itself reads from a plugin's options (`app.register(plugin, { prefix })`): a Fastify plugin accepts them besides its own. */
export const FASTIFY_REGISTER_KEYS: readonly string[] = ['prefix', 'logLevel', 'logSerializers'];

/** An options key the specs and `known` do not list, with the closest one that exists. */
export function unknownOptionProblem(name: string, key: string, accepted: readonly string[]): string {
  const hint = suggestOption(key, accepted);
  return `${name}: unknown option${hint ? `; did you mean ${hint}?` : ''}`;
}

/**
 * Validates a factory's options object against its specs. `known` lists the other keys the factory
 * takes (objects it checks itself, such as a logger or a monitor, and nested option objects it
 * hands on); any key outside the specs and `known` is refused with a "did you mean". Every problem
 * lands in one HEADROOM_CONFIG_INVALID that names the library option, the value and what is
 * accepted. An object handed on by another part (nestedOptions) is named by its path in that
 * part's options.
 */
export function resolveOptions<S extends Record<string, OptionSpec<unknown>>, O extends object>(
  factory: string,
  specs: S,
  given: O | undefined,
  known: readonly string[] = [],
): Omit<O, keyof S> & SpecValues<S> {
  const at = optionsPlace(factory, given);
  const input = (given ?? {}) as Record<string, unknown>;
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given)))
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${at.factory}: options must be an object`);
  const out: Record<string, unknown> = { ...input };
  const problems: string[] = [];
  for (const key of Object.keys(specs)) {
    const s = specs[key]!;
    const raw = input[key];
    if (raw === undefined) {
      out[key] = s.default;
      continue;
    }
    const value = s.parse(raw);
    if (value === undefined || value instanceof Refused)
      problems.push(`${at.prefix}${key}=${show(raw, s.secret)}: ${value instanceof Refused ? value.message : s.accepted}`);
    else out[key] = value;
  }
  const accepted = [...Object.keys(specs), ...known];
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(specs, key) && !known.includes(key)) problems.push(unknownOptionProblem(`${at.prefix}${key}`, key, accepted));
  }
  if (problems.length > 0) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${at.factory}: ${problems.join('; ')}`);
  return out as Omit<O, keyof S> & SpecValues<S>;
}

/** One option on its own (a route's timeout, a module's drainTimeout), checked and defaulted as resolveOptions does. */
export function resolveOne<T>(factory: string, name: string, s: OptionSpec<T>, value: unknown): T {
  return (resolveOptions(factory, { [name]: s }, { [name]: value }) as Record<string, unknown>)[name] as T;
}

function show(value: unknown, secret: boolean): string {
  if (secret) return '<hidden>';
  if (value instanceof URL) value = value.href;
  if (typeof value === 'number') return String(value); // JSON would show NaN and Infinity as null
  // A refused URL may carry user:password@ or a token in its query: never echoed.
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${redactUrl(value.slice(0, 200))}…` : redactUrl(value));
  try {
    // Bounded as a config value is: a 100 000-item array must not become the message.
    return oneLine(JSON.stringify(value) ?? String(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

const ROUTE_PATH = /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;

/**
 * A route path an adapter mounts one of headroom's routes at (health, metrics, admin, proxy,
 * image), or false for "not mounted". One rule for every adapter: starts with '/', segments of
 * letters, digits, . _ ~ -, no trailing slash, no wildcard or parameter.
 */
export function pathOrOff(c: Common<string | false> & { example?: string }): OptionSpec<string | false> {
  const example = c.example ?? (c.default === false ? '/path' : c.default);
  const path = routePath({ ...c, default: example });
  return spec({ ...c, defaultText: c.defaultText ?? (c.default === false ? 'off' : c.default) }, `${path.accepted} or false`, (raw) =>
    raw === false ? false : path.parse(raw),
  );
}

/** A route path, or unset (pathOrOff's rule, with undefined for "not given"); `example` shows the form. */
export function optionalRoutePath(c: Common<string | undefined> & { example: string }): OptionSpec<string | undefined> {
  const path = routePath({ ...c, default: c.example });
  return spec(c, path.accepted, path.parse);
}

/** A route path that must be mounted (pathOrOff's rule without "or false"). */
export function routePath(c: Common<string>): OptionSpec<string> {
  return spec(c, `must be a path like ${c.default} (letters, digits, . _ ~ -; no trailing slash)`, (raw) =>
    typeof raw === 'string' && ROUTE_PATH.test(raw) ? raw : undefined,
  );
}
