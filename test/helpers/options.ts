// Shared assertion of the options tests: a factory refuses a bad option with HEADROOM_CONFIG_INVALID,
// the exact (or matching) message, and never names an environment variable (a library call
// names the library option).
import assert from 'node:assert/strict';
import { allOptions } from '../../src/config/index.js';
import { HeadroomError } from '../../src/errors.js';

const envNames = allOptions.map((o) => o.option.env);

export function refuses(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HeadroomError, `not a HeadroomError: ${String(err)}`);
    assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    for (const env of envNames) assert.ok(!new RegExp(`\\b${env}\\b`).test(err.message), `names ${env}: ${err.message}`);
    return true;
  });
}
