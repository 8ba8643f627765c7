// The live status line on a terminal: `headroom soak` run under a pseudo-TTY (util-linux `script`)
// rewrites one line in place (carriage return + erase line) instead of printing a line every 10 s,
// and clears it before the summary so the summary starts on a clean line.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { CLI, spawnWatched } from '../cli/child.js';

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasScript) console.log('SKIP the TTY status line test: util-linux `script` is not on PATH');

const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;

test('on a TTY the status line is rewritten in place, then cleared before the summary', { skip: !hasScript, timeout: 60_000 }, async () => {
  const argv = [
    process.execPath,
    ...CLI,
    'soak',
    '--duration=14s',
    '--warmup=2s',
    '--',
    process.execPath,
    'test/fixtures/soak/ok-alloc.mjs',
  ];
  // -q no banner, -f flush each write, -e the command's exit code; the transcript goes nowhere.
  const c = spawnWatched('script', ['-qfec', argv.map(quote).join(' '), '/dev/null'], { env: { TERM: 'xterm' } });
  const { code } = await c.exited;
  const out = c.output();
  assert.ok(code === 0 || code === 3, `exit ${code}: ${out}`);
  const rewrites = out.split('\r\x1b[K');
  // One rewrite per sample (every 500 ms over 14 s): far more than the plain mode's one per 10 s.
  const statuses = rewrites.filter((s) =>
    /^soak \d+s\/14s · \d+ req\/s · heap [\d.]+ MiB .* · slope .* · (warm-up|measuring|no-leak|leak)$/.test(s),
  );
  assert.ok(statuses.length >= 10, `only ${statuses.length} status rewrites in:\n${JSON.stringify(out.slice(0, 2000))}`);
  assert.ok(statuses.some((s) => s.endsWith('· warm-up')) && statuses.some((s) => !s.endsWith('· warm-up')), 'warm-up, then measuring');
  // No status line ends with a newline: each one overwrites the previous.
  assert.ok(!/soak \d+s\/14s[^\r\n]*\r?\n/.test(out), 'a status line was followed by a newline');
  // The last rewrite clears the line, and the summary follows on it.
  assert.match(rewrites[rewrites.length - 1]!, /^headroom soak: (NO-LEAK|INCONCLUSIVE) — /);
});
