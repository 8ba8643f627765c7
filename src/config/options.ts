// The configuration's view of an option. The option itself (default, bound, unit, accepted text,
// doc line, parse) has one home, src/options/spec.ts builders called in the part that uses it;
// here it gets its CLI flag (always the variable name in kebab-case) and `read`, its parse as the
// configuration uses it: an env var or a flag (strings) or a JSON value from the config file, and
// unset means the default. No schema library: `parse` already is the check, and a library loaded
// only to wrap it would stay in the gateway's memory for good (docs/benchmarks.md, footprint).
import * as spec from '../options/spec.js';
import { Refused, type OptionSpec, type SpecValue } from '../options/spec.js';

export type { TrustProxy } from '../options/spec.js';

export interface Option<T> extends OptionSpec<T> {
  env: string;
  /** CLI flag without the leading dashes: always the env name in kebab-case (one rule, no exceptions). */
  flag: string;
  /** The value of a raw input (undefined: the default), or what is wrong with it. */
  read(raw: unknown): { value: T } | { problem: string };
}

export type OptionValue<O> = O extends Option<infer T> ? T : never;

const toFlag = (env: string): string => env.toLowerCase().replace(/_/g, '-');

/** An option as the configuration schema uses it. */
export function option<T>(s: OptionSpec<T>): Option<T> {
  const env = s.env;
  if (!env) throw new Error(`option(): a library-only option (no env) cannot be configured: ${s.doc}`);
  const read = (raw: unknown): { value: T } | { problem: string } => {
    if (raw === undefined) return { value: s.default };
    const value = s.parse(raw);
    if (value === undefined || value instanceof Refused) return { problem: value instanceof Refused ? value.message : s.accepted };
    return { value };
  };
  return { ...s, env, flag: toFlag(env), read };
}

/** A part's options (its one home) as a configuration section. */
export function section<S extends Record<string, OptionSpec<unknown>>>(specs: S): { [K in keyof S]: Option<SpecValue<S[K]>> } {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, option(s)])) as { [K in keyof S]: Option<SpecValue<S[K]>> };
}

// Builders for options declared directly in a section (gateway-only options, and sections whose
// part does not declare its own yet).
type Arg<F> = F extends (c: infer C) => unknown ? C : never;
export const num = (c: Arg<typeof spec.num>) => option(spec.num(c));
export const share = (c: Arg<typeof spec.share>) => option(spec.share(c));
export const percent = (c: Arg<typeof spec.percent>) => option(spec.percent(c));
export const bytes = (c: Arg<typeof spec.bytes>) => option(spec.bytes(c));
export const optionalBytes = (c: Arg<typeof spec.optionalBytes>) => option(spec.optionalBytes(c));
export const duration = (c: Arg<typeof spec.duration>) => option(spec.duration(c));
export const bool = (c: Arg<typeof spec.bool>) => option(spec.bool(c));
export const oneOf = <const T extends string>(c: Parameters<typeof spec.oneOf<T>>[0]) => option(spec.oneOf<T>(c));
export const str = (c: Arg<typeof spec.str>) => option(spec.str(c));
export const optionalStr = (c: Arg<typeof spec.optionalStr>) => option(spec.optionalStr(c));
export const optionalUrl = (c: Arg<typeof spec.optionalUrl>) => option(spec.optionalUrl(c));
export const list = (c: Arg<typeof spec.list>) => option(spec.list(c));
export const trustProxy = (c: Arg<typeof spec.trustProxy>) => option(spec.trustProxy(c));
