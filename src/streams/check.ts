// The utilities' argument checks: a clear TypeError naming the function, the option, the value (with
// its type where the type is the mistake: "8" (a string)) and what is accepted.
import { unknownOptionProblem } from '../options/spec.js';

/** A value as a message shows it: strings quoted and called strings, numbers as they are, objects by their kind. */
export function shown(value: unknown): string {
  if (typeof value === 'string')
    return value === '' ? 'an empty string' : `${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)} (a string)`;
  if (typeof value === 'number') return `${String(value)} (a number)`;
  if (typeof value === 'boolean') return `${String(value)} (a boolean)`;
  if (typeof value === 'bigint') return `${String(value)}n (a bigint)`;
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`; // function, symbol
}

export function checkInt(fn: string, name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    // A number out of range is shown as it is; anything else with its type ("8" is not 8).
    throw new TypeError(`${fn}: ${name} must be an integer from ${min} to ${max}, got ${typeof value === 'number' ? value : shown(value)}`);
  return value;
}

export function checkFunction(fn: string, name: string, value: unknown, optional = false): void {
  if (typeof value === 'function' || (optional && value === undefined)) return;
  throw new TypeError(`${fn}: ${name} must be a function${optional ? ' or undefined' : ''}, got ${shown(value)}`);
}

/**
 * An options object: a plain object (or undefined when `optional`) holding only the `known` keys; an
 * unknown key is refused with the closest known one ("did you mean"), as the parts' factories do.
 */
export function checkOptions(fn: string, options: unknown, known: readonly string[], optional = true): void {
  if (options === undefined && optional) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(
      `${fn}: options must be an object ({ ${known.join(', ')} })${optional ? ' or undefined' : ''}, got ${shown(options)}`,
    );
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw new TypeError(`${fn}: ${unknown.map((key) => unknownOptionProblem(key, key, known)).join('; ')} (accepted: ${known.join(', ')})`);
}
