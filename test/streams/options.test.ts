// The utilities refuse bad arguments at the call with a TypeError naming the function, the option,
// the value (with its type where the type is the mistake) and what is accepted; unknown options are
// refused with a "did you mean".
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkArray, processBatch, streamCopyFile } from '../../src/streams/index.js';

/** A TypeError whose message is exactly `message`. */
const typeError = (message: string) => (err: unknown) => {
  assert.ok(err instanceof TypeError, `not a TypeError: ${String(err)}`);
  assert.equal(err.message, message);
  return true;
};

describe('processBatch', () => {
  test('options must be an object or undefined', async () => {
    await assert.rejects(
      processBatch([1], (x) => x, null as never),
      typeError('processBatch: options must be an object ({ concurrency, signal }) or undefined, got null'),
    );
    await assert.rejects(
      processBatch([1], (x) => x, 8 as never),
      typeError('processBatch: options must be an object ({ concurrency, signal }) or undefined, got 8 (a number)'),
    );
    assert.deepEqual(await processBatch([1, 2], (x) => x * 2, undefined), [2, 4]);
  });

  test('a string concurrency is shown as a string', async () => {
    await assert.rejects(
      processBatch([1], (x) => x, { concurrency: '8' as never }),
      typeError('processBatch: concurrency must be an integer from 1 to 10000, got "8" (a string)'),
    );
    await assert.rejects(
      processBatch([1], (x) => x, { concurrency: 0 }),
      typeError('processBatch: concurrency must be an integer from 1 to 10000, got 0'),
    );
  });

  test('unknown options are refused with a did-you-mean', async () => {
    await assert.rejects(
      processBatch([1], (x) => x, { concurency: 4 } as never),
      typeError('processBatch: concurency: unknown option; did you mean concurrency? (accepted: concurrency, signal)'),
    );
  });

  test('signal must be an AbortSignal', async () => {
    await assert.rejects(
      processBatch([1], (x) => x, { signal: { aborted: false } as never }),
      typeError('processBatch: signal must be an AbortSignal or undefined, got an object'),
    );
  });

  test('fn and items are named with what was given', async () => {
    await assert.rejects(processBatch([1], 'f' as never), typeError('processBatch: fn must be a function, got "f" (a string)'));
    await assert.rejects(
      processBatch(42 as never, (x) => x),
      typeError('processBatch: items must be an iterable or an async iterable, got 42 (a number)'),
    );
  });
});

describe('streamCopyFile', () => {
  test('options: null, unknown keys and a string highWaterMark are refused by name', async () => {
    await assert.rejects(
      streamCopyFile('a', 'b', null as never),
      typeError('streamCopyFile: options must be an object ({ highWaterMark, signal }) or undefined, got null'),
    );
    await assert.rejects(
      streamCopyFile('a', 'b', { highWatermark: 1024 } as never),
      typeError('streamCopyFile: highWatermark: unknown option; did you mean highWaterMark? (accepted: highWaterMark, signal)'),
    );
    await assert.rejects(
      streamCopyFile('a', 'b', { highWaterMark: '65536' as never }),
      typeError('streamCopyFile: highWaterMark must be an integer from 1024 to 67108864, got "65536" (a string)'),
    );
    await assert.rejects(
      streamCopyFile('a', 'b', { signal: {} as never }),
      typeError('streamCopyFile: signal must be an AbortSignal or undefined, got an object'),
    );
    await assert.rejects(
      streamCopyFile('a', 42 as never),
      typeError('streamCopyFile: dest must be a file path or a file: URL, got 42 (a number)'),
    );
    await assert.rejects(streamCopyFile('', 'b'), typeError('streamCopyFile: src must be a file path or a file: URL, got an empty string'));
  });
});

describe('chunkArray', () => {
  test('a string size is shown as a string', () => {
    assert.throws(
      () => chunkArray([1], '2' as never),
      typeError('chunkArray: size must be an integer from 1 to 1000000, got "2" (a string)'),
    );
    assert.throws(
      () => chunkArray(7 as never, 2),
      typeError('chunkArray: items must be an iterable or an async iterable, got 7 (a number)'),
    );
  });
});
