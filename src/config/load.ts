// Loads the configuration: CLI flag > env var > config file > default, validated by the one
// schema. Problems are collected, not thrown one by one, so a user fixes them all in one go.
import { HeadroomError } from '../errors.js';
import { allOptions, crossChecks, parseConfig, type Config, type OptionEntry } from './schema.js';
import { HIDDEN, redactValue } from '../options/redact.js';
import { oneLine } from '../options/printable.js';
import { kindOf } from '../options/spec.js';
import { suggest } from '../options/suggest.js';
import { readSmallFile } from '../options/user-files.js';

export { suggest };

/** Every problem found in the configuration at once (`problems`, one line each). */
export class ConfigError extends HeadroomError {
  /** `notes`: the warnings of the same load (a misspelt variable is often why a value is missing). */
  constructor(
    readonly problems: string[],
    notes: readonly string[] = [],
  ) {
    super(
      'HEADROOM_CONFIG_INVALID',
      `invalid configuration:\n${[...problems, ...notes.map((n) => `note: ${n}`)].map((p) => `  ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

export interface LoadConfigInput {
  /** Parsed CLI flags keyed by flag name (without dashes), e.g. { port: '8080', upstream: '…' }. */
  flags?: Record<string, string | undefined>;
  env?: Record<string, string | undefined>;
  /** Path of a JSON config file whose keys are the env var names. Defaults to env HEADROOM_CONFIG. */
  configFile?: string;
}

export interface LoadedConfig {
  config: Config;
  /** Non-fatal findings, e.g. a probable typo in an env var name. */
  warnings: string[];
}

const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** `label`: how the file was named (`--config FILE` or `HEADROOM_CONFIG=FILE`), so a message points where it came from. */
function readConfigFile(path: string, label: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readSmallFile(path, MAX_CONFIG_FILE_BYTES);
  } catch (err) {
    problems.push(`${label}: ${(err as Error).message}`);
    return {};
  }
  // A byte-order mark (some Windows editors write one) is not JSON, but means nothing: skipped.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const notJson = !/^\s*[{[]/.test(text) ? '; a config file is one JSON object, {"PORT": 8080} — YAML and .env files are not read' : '';
    problems.push(`${label}: not valid JSON (${jsonProblem(err as Error, text)})${notJson}`);
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`${label}: must be a JSON object whose keys are variable names, e.g. {"PORT": 8080}`);
    return {};
  }
  for (const key of duplicateKeys(text)) problems.push(`${label}: ${oneLine(key)} is given more than once: give it once`);
  const known = new Set(allOptions.map((o) => o.option.env));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      const hint = suggest(key, [...known]);
      problems.push(`${label}: unknown key ${oneLine(key)}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
  }
  return parsed as Record<string, unknown>;
}

const present = (v: string | undefined): v is string => v !== undefined && v !== '';

export function loadConfig(input: LoadConfigInput = {}): LoadedConfig {
  const flags = input.flags ?? {};
  const env = input.env ?? {};
  const problems: string[] = [];
  // An empty environment variable counts as unset (a template left blank); a flag given empty is a
  // mistake (`--upstream-url "$UNSET"`), not a request for the default.
  const emptyFlag = (flag: string): string => `--${flag}: given an empty value; give a value, or leave the flag out for the default`;
  if (input.configFile === '') problems.push(emptyFlag('config'));
  const configFile = input.configFile ?? (present(env.HEADROOM_CONFIG) ? env.HEADROOM_CONFIG : undefined);
  const label = input.configFile !== undefined ? `--config ${configFile}` : `HEADROOM_CONFIG=${configFile}`;
  const file = configFile ? readConfigFile(configFile, label, problems) : {};

  const raw: Record<string, Record<string, unknown>> = {};
  const origin = new Map<string, string>();
  for (const { section, key, option } of allOptions) {
    const fromFlag = flags[option.flag];
    const fromEnv = env[option.env];
    let value: unknown;
    if (fromFlag === '') problems.push(emptyFlag(option.flag));
    if (present(fromFlag)) {
      value = fromFlag;
      origin.set(`${section}.${key}`, `--${option.flag}`);
    } else if (present(fromEnv)) {
      value = fromEnv;
    } else if (option.env in file) {
      value = file[option.env];
      origin.set(`${section}.${key}`, `config file ${configFile}`);
    }
    (raw[section] ??= {})[key] = value;
  }

  const result = parseConfig(raw);
  if ('issues' in result) {
    for (const { section, key, message } of result.issues) {
      const entry = allOptions.find((o) => o.section === section && o.key === key)!;
      const from = origin.get(`${section}.${key}`);
      problems.push(`${entry.option.env}=${shown(entry, raw[section]?.[key])}: ${message}${from ? ` (from ${from})` : ''}`);
    }
    throw new ConfigError(problems, typoWarnings(env));
  }
  const parsed = result.config;
  const given = (env: string): boolean => {
    const e = allOptions.find((o) => o.option.env === env);
    return e !== undefined && raw[e.section]?.[e.key] !== undefined;
  };
  for (const p of crossChecks(parsed, given)) {
    const entry = allOptions.find((o) => o.option.env === p.env);
    // Shown as given (128MiB, not 134217728) and where from; a default as parsed; an option that is
    // missing is named without a value ("REDIS_SENTINEL_NAME is required with …").
    const given = entry && raw[entry.section]?.[entry.key];
    const value = given ?? (entry ? (parsed as unknown as Record<string, Record<string, unknown>>)[entry.section]?.[entry.key] : undefined);
    const from = entry && origin.get(`${entry.section}.${entry.key}`);
    if (value === undefined) problems.push(`${p.env} ${p.message}`);
    else problems.push(`${p.env}=${entry ? shown(entry, value) : String(value)}: ${p.message}${from ? ` (from ${from})` : ''}`);
  }
  const demoGiven = raw.server?.demo !== undefined;
  const config: Config = demoGiven ? parsed : { ...parsed, server: { ...parsed.server, demo: env.NODE_ENV !== 'production' } };
  problems.push(...demoCheck(config, demoGiven));
  if (problems.length > 0) throw new ConfigError(problems, typoWarnings(env));
  return { config, warnings: [...typoWarnings(env), ...unusedWarnings(config, raw), ...sharedTokenWarnings(config)] };
}

/** Options given that have no effect without another: REQUEST_ACCOUNTING_WARN_BYTES without REQUEST_ACCOUNTING, the LOG_SHIP_* settings without LOG_SHIP_URL. */
function unusedWarnings(config: Config, raw: Record<string, Record<string, unknown>>): string[] {
  const warnings: string[] = [];
  if (!config.server.requestAccounting && raw.server?.requestAccountingWarnBytes !== undefined)
    warnings.push('REQUEST_ACCOUNTING_WARN_BYTES has no effect without REQUEST_ACCOUNTING=true (request accounting is off)');
  return [...warnings, ...unusedShipWarnings(config, raw)];
}

function unusedShipWarnings(config: Config, raw: Record<string, Record<string, unknown>>): string[] {
  if (config.log.shipUrl !== undefined) return [];
  const given = allOptions.filter(
    (o) => o.option.env.startsWith('LOG_SHIP_') && o.option.env !== 'LOG_SHIP_URL' && raw[o.section]?.[o.key] !== undefined,
  );
  return given.length === 0
    ? []
    : [
        `${given.map((o) => o.option.env).join(', ')} ${given.length === 1 ? 'has' : 'have'} no effect without LOG_SHIP_URL (log shipping is off)`,
      ];
}

// The scraper's credentials file holds METRICS_TOKEN: the same value as the admin token would put
// the key to heap snapshots and cache clears there too.
function sharedTokenWarnings(config: Config): string[] {
  const { adminToken, metricsToken } = config.server;
  return adminToken !== undefined && adminToken === metricsToken
    ? [
        'METRICS_TOKEN is the same as HEADROOM_ADMIN_TOKEN: whatever scrapes /metrics could then use the admin API (heap snapshots, cache clears); give it a token of its own',
      ]
    : [];
}

// HEADROOM_DEMO is off by default in production: there a gateway without UPSTREAM_URL would
// serve demo data and report ready instead of refusing to start.
function demoCheck(config: Config, demoGiven: boolean): string[] {
  if (config.proxy.upstreamUrl || config.server.demo) return [];
  const why = demoGiven ? 'with HEADROOM_DEMO=false' : 'when NODE_ENV=production (the built-in demo origin is off there)';
  const demoHint = demoGiven ? '' : ', or HEADROOM_DEMO=true to serve demo data anyway';
  return [`UPSTREAM_URL is not set: it is required ${why}; set it to the origin of your API${demoHint}`];
}

/**
 * A value as an error message shows it: secrets never, credentials in URLs hidden, printable (a
 * newline in a value must not fake a second problem line), and a value nested too deep to print
 * named rather than crashing the start.
 */
function shown(entry: OptionEntry, value: unknown): string {
  if (entry.option.secret) return HIDDEN;
  let text: string;
  if (typeof value === 'string') text = redactValue(value);
  else {
    try {
      text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? redactValue(v) : v)) ?? String(value);
    } catch {
      text = `${kindOf(value)} too deeply nested to show`;
    }
  }
  return oneLine(text);
}

// V8's JSON.parse messages quote the text around the error, which may be a secret (a token
// without quotes): only the kind of error and where it is are reported.
function jsonProblem(err: Error, text: string): string {
  const m = /^(.*?) in JSON at position (\d+)/.exec(err.message);
  if (/end of JSON input/.test(err.message)) return 'unexpected end of input';
  const at = m ? Number(m[2]) : errorPosition(text);
  const kind = !m || m[1]!.startsWith('Unexpected token') ? 'unexpected character' : m[1]!;
  if (at === undefined) return `${kind}, not shown as it may be part of a secret`;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  return `${kind} at line ${line}, column ${column}`;
}

/**
 * Where JSON.parse stopped, for the errors whose message gives no position ("Unexpected token"):
 * every prefix before the error parses, or fails only at its end; every prefix holding the
 * error fails before its end. So the shortest prefix that fails before its end ends just after it.
 */
function errorPosition(text: string): number | undefined {
  const failsBeforeEnd = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (err) {
      const message = (err as Error).message;
      const at = /at position (\d+)/.exec(message);
      return !/end of JSON input/.test(message) && (at === null || Number(at[1]) < n);
    }
  };
  if (!failsBeforeEnd(text.length)) return undefined;
  let lo = 1;
  let hi = text.length; // fails before its end
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (failsBeforeEnd(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

/**
 * Keys of the top-level object given more than once (JSON.parse keeps the last, silently). `text` is
 * valid JSON: a key is a string at depth 1 followed by a colon.
 */
function duplicateKeys(text: string): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(text.slice(j + 1, j + 40))) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) twice.add(key);
        seen.add(key);
      }
      i = j;
    }
  }
  return [...twice];
}

// Variables that share a prefix with ours but are not ours are probably typos.
const OWN_PREFIXES = [
  'HEADROOM_',
  'MEMORY_',
  'CACHE_',
  'IMAGE_',
  'PROXY_',
  'COMPRESSION_',
  'UPSTREAM_',
  'STREAM_',
  'HEAP_SNAPSHOT_',
  'REDIS_',
  'LOG_SHIP_',
  'ALERT_',
  'MAX_CONCURRENT_',
  'DASHBOARD_',
  'SHUTDOWN_',
  'ACCESS_LOG_',
];
// Outside those prefixes (CLIENT_TIMEOUT, TRUST_PROXY, …, whose first words other programs use too)
// a long name a few edits from one of ours is a typo as well: CLIENT_TIMEOU, TRUST_PROXIES (two
// edits from 10 characters on, three from 12).
const closeTypoDistance = (name: string): number => (name.length >= 12 ? 3 : name.length >= 10 ? 2 : 0);
// HEADROOM_RUN and HEADROOM_MEMORY are read by the CLI before the gateway starts (src/cli/run.ts).
export const FOREIGN_OK = new Set(['HEADROOM_CONFIG', 'HEADROOM_RUN', 'HEADROOM_MEMORY']);

function typoWarnings(env: Record<string, string | undefined>): string[] {
  const known = allOptions.map((o) => o.option.env);
  const knownSet = new Set(known);
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (knownSet.has(name) || FOREIGN_OK.has(name)) continue;
    if (OWN_PREFIXES.some((p) => name.startsWith(p))) {
      // HEADROOM_METRICS_TOKEN for METRICS_TOKEN: our prefix put before one of our names.
      const bare = name.startsWith('HEADROOM_') ? name.slice('HEADROOM_'.length) : undefined;
      const hint = bare !== undefined && knownSet.has(bare) ? bare : suggest(name, known);
      warnings.push(`unknown variable ${name} is ignored${hint ? ` (did you mean ${hint}?)` : ''}`);
    } else if (closeTypoDistance(name) > 0) {
      const hint = suggest(name, known, closeTypoDistance(name));
      if (hint) warnings.push(`unknown variable ${name} is ignored (did you mean ${hint}?)`);
    }
  }
  return warnings;
}
