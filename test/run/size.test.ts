// Memory sizes as containers write them: Docker's 512m, Kubernetes' 512Mi, IEC and decimal units.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_MEMORY, parseSize, sizeProblem } from '../../src/run/size.js';

const MiB = 1024 ** 2;

test('parseSize reads the units people use for containers, and nothing else', () => {
  const cases: [string, number | undefined][] = [
    ['512m', 512 * MiB],
    ['512Mi', 512 * MiB],
    ['512MiB', 512 * MiB],
    ['2g', 2 * 1024 * MiB],
    ['1.5GiB', 1.5 * 1024 * MiB],
    ['500MB', 500e6],
    ['1T', 1024 ** 4],
    ['2Ti', 2 * 1024 ** 4],
    ['1tib', 1024 ** 4],
    ['1tb', 1e12],
    ['1TB', 1e12],
    [' 64m ', 64 * MiB],
    ['1048576', MiB],
    ['0', undefined],
    ['12x', undefined],
    ['-1g', undefined],
    ['', undefined],
  ];
  for (const [raw, want] of cases) assert.equal(parseSize(raw), want, JSON.stringify(raw));
});

test('sizeProblem: a bare number under 1 MiB and a size beyond any machine are no memory limit', () => {
  assert.match(sizeProblem('512', 512)!, /did you mean 512m or 512g/);
  assert.equal(sizeProblem('512m', 512 * MiB), undefined);
  assert.equal(sizeProblem('1tb', 1e12), undefined);
  assert.match(sizeProblem('2048t', 2048 * 1024 ** 4)!, /more memory than any machine/);
  assert.equal(sizeProblem('1024t', MAX_MEMORY), undefined);
});
