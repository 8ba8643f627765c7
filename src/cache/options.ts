// Checks of createCache options for library users (the gateway's config schema has its own
// bounds). A bad value is a HEADROOM_CONFIG_INVALID naming the option, the value and what is
// accepted, instead of a cache that spins, never caps or never expires.
import { HeadroomError } from '../errors.js';

/** Largest delay setTimeout/setInterval honour (beyond it Node fires after 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function fail(name: string, value: unknown, accepted: string): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createCache: ${name}=${shown}: ${accepted}`);
}

/** An integer in [min, max]; `undefined` gives `dflt`. */
export function intOption(name: string, value: unknown, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) fail(name, value, `must be an integer between ${min} and ${max}`);
  return value;
}

/** A number in [min, max]; `undefined` gives `dflt`. */
export function numOption(name: string, value: unknown, dflt: number, min: number, max: number, unit = ''): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) fail(name, value, `must be a number between ${min} and ${max}${unit}`);
  return value;
}

/** A string of 1..max characters (or 0..max with allowEmpty); `undefined` gives `dflt`. */
export function strOption(name: string, value: unknown, dflt: string | undefined, max: number, allowEmpty = false): string {
  if (value === undefined && dflt !== undefined) return dflt;
  if (typeof value !== 'string' || value.length > max || (!allowEmpty && value === '')) fail(name, value, `must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${max} characters`);
  return value;
}

/** An object (or, when allowed, false/undefined). */
export function objOption(name: string, value: unknown, also: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(name, value, `must be an options object${also}`);
}
