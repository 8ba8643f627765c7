// One check for the utilities' numeric options: a clear TypeError naming the function, the option,
// the value and what is accepted.
export function checkInt(fn: string, name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new TypeError(`${fn}: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}
