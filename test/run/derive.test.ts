// The derivation: tiers, the reserve, --processes, the user's flags, the snapshot rule, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { derive, HEAP_OVERHEAD_SHARE, MiB, NODE_BASELINE, RUNNER_OVERHEAD, TIERS, type Derivation } from '../../src/run/derive.js';
import { explain } from '../../src/run/explain.js';
import { findGivenFlags, splitNodeOptions } from '../../src/run/node-flags.js';
import { isHeadroomError } from '../../src/errors.js';

const at = (limitMiB: number, more: Partial<Parameters<typeof derive>[0]> = {}) =>
  derive({ limit: limitMiB * MiB, limitSource: 'fixture', ...more });

test('old space and semi-space by tier; the heap share grows with the container', () => {
  const expected: [number, number, number][] = [
    // limit MiB, old space MiB, semi-space MiB (no runner: `headroom flags`)
    [128, 60, 2],
    [256, 164, 8],
    [512, 381, 8],
    [1024, 803, 16],
    [2048, 1682, 16],
    [8192, 6989, 32],
  ];
  let previousShare = 0;
  for (const [limit, old, semi] of expected) {
    const d = at(limit);
    assert.deepEqual(d.flags, [`--max-old-space-size=${old}`, `--max-semi-space-size=${semi}`], `${limit} MiB`);
    const share = (old + 3 * semi) / limit;
    assert.ok(share > previousShare, `${limit} MiB: heap share ${share} grows`);
    previousShare = share;
    // The reserve is the young generation + the baseline + the heap's overhead (a share of the old
    // space) + the tier's off-heap share, and adds up.
    assert.deepEqual(
      d.reserve.map((r) => r.what),
      ['young generation', 'Node baseline', 'heap overhead', 'off-heap share'],
    );
    const reserve = d.reserve.reduce((s, r) => s + r.bytes, 0);
    const offHeap = Math.round(d.tier!.offHeapShare * limit * MiB);
    const overhead = d.reserve.find((r) => r.what === 'heap overhead')!.bytes;
    assert.equal(reserve, 3 * semi * MiB + NODE_BASELINE + overhead + offHeap);
    assert.ok(Math.abs(overhead - HEAP_OVERHEAD_SHARE * (limit * MiB - reserve)) < 1, 'the heap overhead is its share of the old space');
    const left = limit * MiB - reserve - old * MiB;
    assert.ok(left > -1 && left < MiB, 'old space = budget − reserve (floored to MiB)');
  }
});

test('the tier is chosen by the per-process budget; tiers are ordered', () => {
  assert.deepEqual(
    TIERS.map((t) => t.name),
    ['small', 'medium', 'large', 'xlarge'],
  );
  for (let i = 1; i < TIERS.length; i++) assert.ok(TIERS[i]!.offHeapShare < TIERS[i - 1]!.offHeapShare);
  assert.equal(at(255).tier!.name, 'small');
  assert.equal(at(256).tier!.name, 'medium');
  assert.equal(at(4096).tier!.name, 'xlarge');
});

test('the runner, when it stays as the parent, is set aside; --processes splits the rest', () => {
  const alone = at(1024, { runnerParent: true });
  assert.equal(alone.budget, 1024 * MiB - RUNNER_OVERHEAD);
  const four = at(1024, { runnerParent: true, processes: 4 });
  assert.equal(four.budget, Math.floor((1024 * MiB - RUNNER_OVERHEAD) / 4));
  assert.equal(four.tier!.name, 'small');
  assert.deepEqual(four.env, { MEMORY_RSS_LIMIT: String(four.budget) });
  assert.match(explain(four), /processes +4 +Node processes sharing the limit/);
});

test('too little memory per process is refused, naming the numbers', () => {
  for (const [limit, processes] of [
    [48, 1],
    [512, 16],
  ] as const) {
    assert.throws(
      () => at(limit, { processes }),
      (err: unknown) => isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID' && /needs at least 64 MiB/.test(err.message),
    );
  }
  assert.throws(() => at(512, { processes: 0 }), /--processes=0: must be an integer from 1 to 256/);
  assert.throws(() => at(512, { processes: 1.5 }), /--processes=1.5/);
});

test("the user's flags are kept and said so; a given heap beyond the budget is warned about", () => {
  const given = findGivenFlags(splitNodeOptions('--max-old-space-size=300 --enable-source-maps'), 'NODE_OPTIONS');
  const d = at(512, { given });
  assert.deepEqual(d.flags, ['--max-semi-space-size=8']);
  assert.equal(d.oldSpaceMiB, 300);
  assert.match(explain(d), /kept +--max-old-space-size=300 \(from NODE_OPTIONS\): the user's, not derived/);
  assert.deepEqual(d.warnings, []);

  const semi = at(512, { given: findGivenFlags(['--max_semi_space_size', '4', 'app.js', '--max-old-space-size=1'], 'argv', true) });
  assert.deepEqual(semi.flags, ['--max-old-space-size=393']);
  assert.equal(semi.semiSpaceMiB, 4);

  // A Node option's separate value is not the script: the heap flag after it is the user's.
  for (const before of [
    ['--disable-warning', 'DEP0005'],
    ['--watch-path', '.'],
    ['--env-file', '.env'],
    ['--report-dir', '/tmp'],
  ]) {
    const tokens = [...before, '--max-old-space-size=300', 'app.js'];
    assert.deepEqual(
      findGivenFlags(tokens, 'argv', true).map((g) => g.text),
      ['--max-old-space-size=300'],
      tokens.join(' '),
    );
  }

  const big = at(512, { given: findGivenFlags(['--max-old-space-size=600'], 'argv', true) });
  assert.deepEqual(big.flags, ['--max-semi-space-size=8']);
  assert.match(big.warnings.join('\n'), /--max-old-space-size=600 \(argv\) lets the heap grow to 624 MiB, beyond the 512 MiB budget/);
  // The heap's own overhead counts: 460 MiB + 24 MiB young + 32 MiB baseline fits 512 MiB, + 6 % of 460 does not.
  const near = at(512, { given: findGivenFlags(['--max-old-space-size=460'], 'argv', true) });
  assert.match(
    near.warnings.join('\n'),
    /lets the heap grow to 484 MiB, beyond the 512 MiB budget less Node's baseline and the heap's overhead/,
  );
  assert.equal(near.reserve.find((r) => r.what === 'heap overhead')!.bytes, Math.round(0.06 * 460 * MiB));
});

test('a heap flag Node ignores (no size, or 0) is not a limit the user set: the heap is sized, with a warning', () => {
  const plain = at(512, {});
  for (const text of ['--max-old-space-size=', '--max-old-space-size=0', '--max_old_space_size=00', '--max-heap-size=']) {
    const d = at(512, { given: findGivenFlags(splitNodeOptions(`${text} --max-semi-space-size=`), 'NODE_OPTIONS') });
    assert.deepEqual(d.flags, plain.flags, text);
    assert.equal(d.oldSpaceMiB, plain.oldSpaceMiB);
    assert.match(
      d.warnings.join('\n'),
      /: Node ignores a size that is empty or 0 \(V8's default heap stays\): sized as if it were not there/,
      text,
    );
    assert.equal(d.warnings.length, 2, `${text}: one warning each, the semi-space's too`);
  }
});

test('a given semi-space that leaves no old space stops, naming the flag, its source, the budget and the fix; a small one is warned about', () => {
  const semi = (value: number, limit = 256) =>
    at(limit, { runnerParent: true, given: findGivenFlags(splitNodeOptions(`--max-semi-space-size=${value}`), 'NODE_OPTIONS') });
  // 256 MiB under the runner: a 240 MiB budget; 3 × 64 MiB of young generation leaves nothing (was --max-old-space-size=-32, which V8 ignores).
  assert.throws(
    () => semi(64),
    (err: unknown) =>
      isHeadroomError(err) &&
      err.code === 'HEADROOM_CONFIG_INVALID' &&
      /^--max-semi-space-size=64 \(from NODE_OPTIONS\) leaves no old space/.test(err.message) &&
      /3 × 64 MiB = 192 MiB of the 240 MiB budget per Node process \(fixture\)/.test(err.message) &&
      /Give a smaller --max-semi-space-size \(--max-semi-space-size=\d+ or less leaves 32 MiB\), or --max-old-space-size yourself, or a larger limit/.test(
        err.message,
      ),
  );
  // Positive but small: kept, with a warning (was silent: 60 left 10 MiB under `headroom flags --memory 256m`).
  const small = semi(45);
  assert.ok(small.oldSpaceMiB! > 0 && small.oldSpaceMiB! < 32, String(small.oldSpaceMiB));
  assert.deepEqual(small.flags, [`--max-old-space-size=${small.oldSpaceMiB}`]);
  assert.match(small.warnings.join('\n'), /--max-semi-space-size=45 \(from NODE_OPTIONS\) leaves only \d+ MiB of old space \(< 32 MiB\)/);
  // The suggested size is right: it leaves at least 32 MiB, one more does not.
  const max = Number(/--max-semi-space-size=(\d+) or less/.exec(small.warnings.join('\n'))![1]);
  assert.ok(semi(max).oldSpaceMiB! >= 32);
  assert.deepEqual(semi(max).warnings, []);
  assert.ok(semi(max + 1).oldSpaceMiB! < 32);
  // A given old space takes the decision away: no error, the usual warning when it is beyond the budget.
  const both = at(256, { given: findGivenFlags(['--max-semi-space-size=64', '--max-old-space-size=50'], 'argv') });
  assert.deepEqual(both.flags, []);
  assert.match(both.warnings.join('\n'), /lets the heap grow to 242 MiB/);
});

test('a derived old space under 32 MiB (a budget near the 64 MiB minimum) is warned about, naming the budget and the fix', () => {
  const small = at(64);
  assert.equal(small.oldSpaceMiB, 12);
  assert.ok(
    small.warnings.some((w) => /the old space is only 12 MiB \(< 32 MiB\) in a 64 MiB budget .*give a larger limit$/.test(w)),
    small.warnings.join('\n'),
  );
  const split = at(512, { processes: 8 });
  assert.ok(
    split.warnings.some((w) => /split over 8 processes.*or fewer --processes/.test(w)),
    split.warnings.join('\n'),
  );
  assert.deepEqual(at(128).warnings, [], 'no warning from 48 MiB up');
});

test('--memory replaces the limit; above the cgroup limit it is warned about', () => {
  const d = derive({ limit: 256 * MiB, limitSource: 'cgroup', memory: 1024 * MiB });
  assert.equal(d.limitSource, '--memory');
  assert.equal(d.budget, 1024 * MiB);
  assert.match(d.warnings.join('\n'), /--memory 1024 MiB is above the cgroup limit 256 MiB/);
});

test("--memory above the machine's memory is warned about (no cgroup limit), at or below it is not", () => {
  const at = (memory: number): Derivation =>
    derive({ limit: null, limitSource: 'no cgroup file system', memory, machineMemory: 4096 * MiB });
  assert.match(at(8192 * MiB).warnings.join('\n'), /--memory 8192 MiB is above this machine's memory 4096 MiB: .*OOM killer/);
  assert.equal(at(8192 * MiB).budget, 8192 * MiB, 'still sized as asked');
  assert.deepEqual(at(4096 * MiB).warnings, []);
});

test('no limit: no flags, Node sizes its heap from the machine', () => {
  const d = derive({ limit: null, limitSource: 'no cgroup file system', runnerParent: true });
  assert.deepEqual([d.flags, d.budget, d.env], [[], null, {}]);
  assert.match(explain(d), /no memory limit: Node sizes its heap from the machine/);
});

test('no limit and --heap-snapshot-dir: on only when the machine holds the heap and 12× it', () => {
  const none = { limit: null, limitSource: 'none', runnerParent: true, heapSnapshotDir: '/s', defaultHeapLimit: 2048 * MiB };
  const small = derive({ ...none, machineMemory: 8192 * MiB });
  assert.equal(small.snapshot.enabled, false);
  assert.deepEqual(small.flags, []);
  assert.match(
    small.warnings.join('\n'),
    /off: no room: the heap may grow to 2048 MiB \(V8's default here\), and a snapshot at that limit needs up to 12× the heap \(24576 MiB\); the machine has 8192 MiB — give --memory or --max-old-space-size/,
  );
  assert.equal(derive({ ...none, machineMemory: 65536 * MiB }).snapshot.enabled, true);
  const given = derive({ ...none, machineMemory: 8192 * MiB, given: findGivenFlags(['--max-old-space-size=200'], 'argv') });
  assert.equal(given.snapshot.enabled, true);
  assert.deepEqual(given.flags, ['--heapsnapshot-near-heap-limit=1', '--diagnostic-dir=/s']);
});

test('heap snapshot near the limit: on only with room for 12× the old space beside it (V8 builds the graph outside the heap)', () => {
  const d = at(1024, { heapSnapshotDir: '/snaps' });
  assert.equal(d.snapshot.enabled, true);
  // old + 12 × old (the snapshot) + young + baseline + off-heap share ≤ budget
  const old = d.oldSpaceMiB! * MiB;
  const young = 3 * d.semiSpaceMiB! * MiB;
  const offHeap = d.reserve.find((r) => r.what === 'off-heap share')!.bytes;
  assert.ok(13 * old + young + NODE_BASELINE + HEAP_OVERHEAD_SHARE * old + offHeap <= 1024 * MiB);
  assert.deepEqual(d.flags.slice(2), ['--heapsnapshot-near-heap-limit=1', '--diagnostic-dir=/snaps']);
  assert.match(d.snapshot.why, /old space 803 → 65 MiB so that a snapshot \(up to 12× the heap, 780 MiB\) fits beside it/);
  assert.match(
    d.warnings.join('\n'),
    /the old space is cut from 803 to 65 MiB to leave room for it .* without --heap-snapshot-dir the heap keeps 803 MiB/,
  );
  // The reserve's heap overhead is that of the smaller old space, and the reserve still adds up.
  const reserve = d.reserve.reduce((s, r) => s + r.bytes, 0);
  assert.ok(Math.abs(1024 * MiB - reserve - 13 * old) < 13 * MiB);

  // 512 MiB: the room would leave too little heap; the heap is not shrunk for nothing.
  const small = at(512, { heapSnapshotDir: '/snaps' });
  assert.equal(small.snapshot.enabled, false);
  assert.deepEqual(small.flags, at(512).flags, 'the heap is not shrunk for nothing');
  assert.match(
    small.warnings.join('\n'),
    /heap snapshot near the heap limit is off: no room: .* would shrink the old space to \d+ MiB \(< 32 MiB\)/,
  );

  // A heap the user gave: a snapshot only when what it leaves holds one.
  const roomy = at(1024, { heapSnapshotDir: '/s', given: findGivenFlags(['--max-old-space-size=40'], 'argv') });
  assert.equal(roomy.snapshot.enabled, true);
  const full = at(1024, { heapSnapshotDir: '/s', given: findGivenFlags(['--max-old-space-size=300'], 'argv') });
  assert.equal(full.snapshot.enabled, false);
  assert.match(full.snapshot.why, /a snapshot needs up to 12× the heap \(3600 MiB\) beyond the reserve, only 485\.8 MiB left/);
});

test('NODE_OPTIONS splitting and flag finding', () => {
  assert.deepEqual(splitNodeOptions(' --a  --b="x y" "--c=\\"q\\""'), ['--a', '--b=x y', '--c="q"']);
  const flags = findGivenFlags(
    ['-r', 'dotenv/config', '--import', 'tsx', '--max-old-space-size', '200', 'app.js', '--max-semi-space-size=9'],
    'argv',
    true,
  );
  assert.deepEqual(
    flags.map((f) => f.text),
    ['--max-old-space-size=200'],
  );
});

test('node -e/-p CODE: the flags after the code are still Node options (found); after a script argument they are not', () => {
  // As Node reads it: `node -e CODE --max-old-space-size=100` runs with a 100 MiB old space.
  for (const opt of ['-e', '--eval', '-p', '--print', '-pe'])
    assert.deepEqual(
      findGivenFlags([opt, 'console.log(1)', '--max-old-space-size=100'], 'argv', true).map((f) => f.text),
      ['--max-old-space-size=100'],
      opt,
    );
  // An argument after the code is the script's (process.argv), and so is everything after it.
  assert.deepEqual(findGivenFlags(['-e', 'console.log(1)', 'arg', '--max-old-space-size=100'], 'argv', true), []);
});
