// createObjectPool checks its options at creation (a TypeError naming the option, the value and what
// is accepted; unknown options with a "did you mean") and never takes back or hands out undefined.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createObjectPool } from '../../src/streams/index.js';

/** A TypeError whose message is exactly `message`. */
const typeError = (message: string) => (err: unknown) => {
  assert.ok(err instanceof TypeError, `not a TypeError: ${String(err)}`);
  assert.equal(err.message, message);
  return true;
};

describe('createObjectPool', () => {
  test('release(undefined) and release(null) are refused: the next acquire() makes a new object', () => {
    let made = 0;
    const pool = createObjectPool({ create: () => ({ n: ++made }) });
    assert.throws(
      () => pool.release(undefined as never),
      typeError('createObjectPool: release() needs an object that acquire() returned, got undefined'),
    );
    assert.throws(
      () => pool.release(null as never),
      typeError('createObjectPool: release() needs an object that acquire() returned, got null'),
    );
    assert.equal(pool.size, 0);
    assert.deepEqual(pool.acquire(), { n: 1 });
  });

  test('create() returning undefined is refused at acquire()', () => {
    const pool = createObjectPool({ create: () => undefined });
    assert.throws(
      () => pool.acquire(),
      typeError('createObjectPool: create() must return a value other than undefined or null, got undefined'),
    );
    assert.equal(pool.created, 0);
  });

  test('reset that is not a function is refused at creation, not at the first release()', () => {
    assert.throws(
      () => createObjectPool({ create: () => ({}), reset: 5 as never }),
      typeError('createObjectPool: reset must be a function or undefined, got 5 (a number)'),
    );
    assert.throws(
      () => createObjectPool({ create: 'x' as never }),
      typeError('createObjectPool: create must be a function, got "x" (a string)'),
    );
    assert.throws(
      () => createObjectPool({ create: () => 1, max: '8' as never }),
      typeError('createObjectPool: max must be an integer from 1 to 100000, got "8" (a string)'),
    );
  });

  test('unknown options are refused with a did-you-mean; options must be an object', () => {
    assert.throws(
      () => createObjectPool({ create: () => ({}), maxIdle: 4 } as never),
      typeError('createObjectPool: maxIdle: unknown option; did you mean max? (accepted: create, reset, max)'),
    );
    assert.throws(
      () => createObjectPool(null as never),
      typeError('createObjectPool: options must be an object ({ create, reset, max }), got null'),
    );
    assert.throws(
      () => createObjectPool(undefined as never),
      typeError('createObjectPool: options must be an object ({ create, reset, max }), got undefined'),
    );
  });
});
