// `headroom run` and `headroom flags` as a user runs them: the flags, the explanation, usage
// errors (exit 2), exit codes and signals passed through, and PID 1 (in a PID namespace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupUnavailable, createCgroup, inCgroupArgs, removeCgroup } from '../run/harness.js';
import { CLI, exitWithin, runCli, startCli } from './child.js';

const node = process.execPath;

test('flags prints only the flags, for NODE_OPTIONS; --explain writes the derivation to stderr', async () => {
  const plain = await runCli(['flags', '--memory', '512m']);
  assert.deepEqual([plain.code, plain.stdout, plain.stderr], [0, '--max-old-space-size=381 --max-semi-space-size=8\n', '']);
  const e = await runCli(['flags', '--memory=1Gi', '--processes=2', '--explain']);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(e.stdout, '--max-old-space-size=381 --max-semi-space-size=8\n');
  for (const re of [
    /^ {2}limit +1024 MiB +--memory$/m,
    /^ {2}processes +2 +Node processes sharing the limit/m,
    /^ {2}budget +512 MiB/m,
    /^ {2}tier +medium/m,
    /^ {4}young generation +24 MiB/m,
    /^ {4}Node baseline +32 MiB/m,
    /^ {4}heap overhead +22\.9 MiB +6 % of the old space/m,
    /^ {4}off-heap share +51\.2 MiB +10 % of the budget/m,
    /^ {4}--max-old-space-size=381: budget 512 MiB − reserve 130\.1 MiB$/m,
    /^ {2}env +MEMORY_RSS_LIMIT=536870912$/m,
  ]) {
    assert.match(e.stderr, re);
  }
  const kept = await runCli(['flags', '--memory', '512m', '--explain'], { NODE_OPTIONS: '--max-old-space-size=200' });
  assert.equal(kept.stdout, '--max-semi-space-size=8\n');
  assert.match(kept.stderr, /kept +--max-old-space-size=200 \(from NODE_OPTIONS\)/);
});

test('bad usage exits 2 naming the option, the value and what is accepted', async () => {
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [['flags', '--memory', '12x'], /--memory=12x: must be a size such as 512m, 512Mi/],
    [['flags', '--memory'], /--memory needs a value/],
    [['flags', '--memory', '12'], /--memory=12: a bare number is bytes, and 12 bytes is no memory limit: did you mean 12m or 12g\?/],
    [['flags', '--memory', '999999t'], /--memory=999999t: 999999 TiB is more memory than any machine has: at most 1024 TiB \(1024t\)/],
    [['flags', '--processes', '0'], /--processes=0: must be an integer from 1 to 256/],
    [['flags', '--memroy', '1g'], /unknown option --memroy \(did you mean --memory\?\)/],
    [['flags', '-memory', '1g'], /unknown option -memory: flags take two dashes \(did you mean --memory\?\)/],
    [
      ['run', '-Qx9secretTOKEN', '--', node, '-e', '0'],
      /^(?![\s\S]*secretTOKEN)(?:[\s\S]*\n)?headroom: unknown option '<hidden>' \(an argument starting with one dash\)/,
    ],
    [['flags', '--explain=yes'], /--explain takes no value/],
    [['flags', '--', 'node'], /flags takes no command/],
    [['run', '--memory', '512m'], /run needs a command: headroom run \[options\] -- <command>/],
    [
      ['run', '--memory', '512m', '--processes', '64', '--', node, '-e', '0'],
      /leaves 7\.8 MiB per Node process .* at least 64 MiB: use fewer --processes/,
    ],
    [
      ['run', '--memory', '1g', '--heap-snapshot-dir', '/nonexistent-headroom/snaps', '--', node, '-e', '0'],
      /--heap-snapshot-dir \/nonexistent-headroom\/snaps: its parent directory \/nonexistent-headroom does not exist/,
    ],
    [
      ['run', '--memory', '1g', '--heap-snapshot-dir', '/proc/headroom-snaps', '--', node, '-e', '0'],
      /--heap-snapshot-dir \/proc\/headroom-snaps: cannot be created in \/proc \(a file system that holds no files of ours/,
    ],
    [['serve', '--port', '0'], /HEADROOM_RUN=maybe: must be on or off/, { HEADROOM_RUN: 'maybe' }],
    [['serve', '--port', '0'], /HEADROOM_MEMORY=lots: must be a size/, { HEADROOM_MEMORY: 'lots' }],
    [['serve', '--port', '0'], /HEADROOM_MEMORY=2000t: 2000 TiB is more memory than any machine has/, { HEADROOM_MEMORY: '2000t' }],
  ];
  const results = await Promise.all(cases.map(([args, , env]) => runCli(args, env)));
  results.forEach((r, i) => {
    assert.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
  });
});

test('help: run --help, help run, help flags; a --help after -- belongs to the command', async () => {
  const [a, b, c, d] = await Promise.all([
    runCli(['run', '--help']),
    runCli(['help', 'run']),
    runCli(['help', 'flags']),
    runCli(['run', '--memory', '256m', '--', 'sh', '-c', 'echo "$@"', 'sh', '--help']),
  ]);
  assert.match(a.stdout, /^Usage: headroom run \[options\] -- <command>/);
  assert.equal(b.stdout, a.stdout);
  assert.match(c.stdout, /^Usage: headroom flags/);
  assert.deepEqual([d.code, d.stdout], [0, '--help\n']);
});

const probe = `const v8 = require('v8'); console.log(JSON.stringify({ execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS ?? null, heap: v8.getHeapStatistics().heap_size_limit / 2 ** 20, rss: process.env.MEMORY_RSS_LIMIT }))`;

test('a node command gets the flags on its command line; any other command in NODE_OPTIONS', async () => {
  const direct = await runCli(['run', '--memory', '512m', '--', node, '-e', probe]);
  assert.equal(direct.code, 0, direct.stderr);
  const d = JSON.parse(direct.stdout) as { execArgv: string[]; nodeOptions: string | null; heap: number; rss: string };
  // The runner's own memory is set aside: budget 496 MiB.
  assert.deepEqual(d.execArgv, ['--max-old-space-size=368', '--max-semi-space-size=8', '-e', probe]);
  assert.equal(d.nodeOptions, null);
  assert.equal(d.heap, 368 + 24);
  assert.equal(d.rss, String(496 * 1024 ** 2));

  const viaSh = await runCli(['run', '--memory', '512m', '--', 'sh', '-c', `exec "${node}" -e "$0"`, probe], {
    NODE_OPTIONS: '--enable-source-maps',
  });
  assert.equal(viaSh.code, 0, viaSh.stderr);
  const s = JSON.parse(viaSh.stdout) as typeof d;
  assert.equal(s.nodeOptions, '--enable-source-maps --max-old-space-size=368 --max-semi-space-size=8');
  assert.equal(s.heap, 392);
  assert.doesNotMatch(viaSh.stderr, /note/, 'sh is not a package manager');
});

test('a package manager command (npm …) gets a note that it is a Node process too, unless --processes is given', async () => {
  const viaNpm = await runCli(['run', '--memory', '512m', '--', 'npm', '--version']);
  assert.equal(viaNpm.code, 0, viaNpm.stderr);
  assert.match(
    viaNpm.stderr,
    /note: npm is a Node process too: .*SIGTERM reaches npm, .*headroom run -- node server\.js\), or give --processes 2/,
  );
  const split = await runCli(['run', '--memory', '512m', '--processes', '2', '--', 'npm', '--version']);
  assert.equal(split.code, 0, split.stderr);
  assert.doesNotMatch(split.stderr, /note/);
});

test('the exit code, and death by signal, pass through', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-run-'));
  const noInterpreter = join(dir, 'script');
  writeFileSync(noInterpreter, '#!/no/such/interpreter\n', { mode: 0o755 });
  const [seven, abort, missing, orphan, huge, folder] = await Promise.all([
    runCli(['run', '--memory', '256m', '--', node, '-e', 'process.exit(7)']),
    runCli(['run', '--memory', '256m', '--', node, '-e', 'process.abort()']),
    runCli(['run', '--', 'no-such-command-headroom']),
    runCli(['run', '--', noInterpreter]),
    // NODE_OPTIONS just under Linux's 128 KiB limit for one environment string: the runner starts,
    // the flags it appends for a command that is not node push it over, and spawn throws E2BIG.
    runCli(['run', '--memory', '256m', '--', 'sh', '-c', 'true'], { NODE_OPTIONS: `--no-warnings${' '.repeat(128 * 1024 - 60)}` }),
    runCli(['run', '--', dir]),
  ]);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(seven.code, 7);
  assert.equal(abort.code, 134, 'SIGABRT (a heap error ends this way): 128 + 6, not a core of the runner');
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /cannot run "no-such-command-headroom": not found/);
  assert.equal(orphan.code, 127);
  assert.match(orphan.stderr, /the file exists, but the interpreter its #! line names was not found/);
  assert.equal(huge.code, 126, huge.stderr);
  assert.match(huge.stderr, /its arguments and environment are larger than the system allows \(E2BIG\)/);
  assert.doesNotMatch(huge.stderr, /fatal|\n\s+at /, 'one line, no stack');
  assert.equal(folder.code, 126);
  assert.match(folder.stderr, /it is a directory, not a program/);
  const term = startCli(['run', '--', node, '-e', "process.kill(process.pid, 'SIGTERM')"]);
  assert.deepEqual(await exitWithin(term, 10_000, 'run'), { code: null, signal: 'SIGTERM' }, term.output());
  // SIGKILL under a limit (as the OOM killer sends it): passed through, and said what it most likely was.
  const killed = startCli(['run', '--memory', '256m', '--', node, '-e', "process.kill(process.pid, 'SIGKILL')"]);
  assert.deepEqual(await exitWithin(killed, 10_000, 'run'), { code: null, signal: 'SIGKILL' }, killed.output());
  assert.match(killed.output(), /killed \(SIGKILL\) under a 256 MiB memory limit \(--memory\): most likely the kernel's OOM killer/);
});

test('signals are forwarded to the command: TERM, INT, HUP, QUIT, USR2, and USR1 to a node command', async () => {
  const script = `for (const s of ['SIGTERM','SIGINT','SIGHUP','SIGQUIT','SIGUSR2','SIGUSR1']) process.on(s, () => { console.log('got ' + s); process.exit(3); }); console.log('ready'); setInterval(() => {}, 1000);`;
  await Promise.all(
    // SIGUSR1 would open the runner's own inspector if the runner did not take it: the command gets it instead.
    (['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGUSR1'] as const).map(async (signal) => {
      const c = startCli(['run', '--', node, '-e', script]);
      try {
        await c.waitForOutput(/ready/);
        c.child.kill(signal);
        assert.deepEqual(await exitWithin(c, 10_000, `run after ${signal}`), { code: 3, signal: null }, c.output());
        assert.match(c.output(), new RegExp(`got ${signal}`));
        assert.doesNotMatch(c.output(), /Debugger listening/);
      } finally {
        c.kill();
      }
    }),
  );
});

test('--heap-snapshot-dir: a snapshot near the heap limit, then the heap error (exit 134)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-snap-'));
  try {
    // 1 GiB leaves room for a snapshot (12× the old space) beside a 65 MiB old space; arrays of small
    // integers make it small and quick.
    const r = await runCli([
      'run',
      '--memory',
      '1g',
      '--heap-snapshot-dir',
      dir,
      '--',
      node,
      '-e',
      'const k = []; for (;;) k.push(new Array(1 << 17).fill(1));',
    ]);
    assert.equal(r.code, 134, r.stderr);
    assert.match(r.stderr, /JavaScript heap out of memory/);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).length, 1, r.stderr);
    assert.match(r.stderr, /the old space is cut from \d+ to 65 MiB to leave room for it/);
    // 128 MiB has no room: no snapshot, and a warning that says why.
    const tight = await runCli(['flags', '--memory', '128m', '--heap-snapshot-dir', dir]);
    assert.equal(tight.stdout, '--max-old-space-size=60 --max-semi-space-size=2\n');
    assert.match(tight.stderr, /heap snapshot near the heap limit is off: no room/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const root = process.getuid?.() === 0;
const hasUnshare = ((): boolean => {
  try {
    execFileSync('unshare', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test(
  'as PID 1 (a PID namespace): signals forwarded, exit codes and 128 + signal, the reaping warning',
  { skip: !(root && hasUnshare) && 'needs root and unshare (util-linux)' },
  async () => {
    const ns = (script: string): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const args = ['--pid', '--fork', '--mount-proc', node, ...CLI, 'run', '--', node, '-e', script];
        const c = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b));
        c.stderr.on('data', (b: Buffer) => (out += b));
        c.on('close', (code) => resolve({ code, out }));
      });
    // The command signals its parent, PID 1: the runner forwards the signal back to it.
    const forwarded = await ns(
      "console.log('ppid', process.ppid); process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(5); }); setTimeout(() => process.kill(1, 'SIGTERM'), 50); setInterval(() => {}, 1000);",
    );
    assert.equal(forwarded.code, 5, forwarded.out);
    assert.match(forwarded.out, /ppid 1\n/);
    assert.match(forwarded.out, /got SIGTERM/);
    // Killed by a signal: PID 1 cannot end by its own signal, so 128 + 15.
    const killed = await ns("process.kill(process.pid, 'SIGTERM')");
    assert.equal(killed.code, 143, killed.out);
    // An orphaned grandchild is reparented to PID 1: without tini/dumb-init on PATH, say so.
    const orphan = await ns("require('child_process').spawn('sh', ['-c', 'sleep 0.2 &'], { stdio: 'ignore' }); setTimeout(() => {}, 600);");
    assert.equal(orphan.code, 0, orphan.out);
    assert.match(orphan.out, /running as PID 1 without tini or dumb-init on PATH: orphaned grandchildren cannot be reaped/);
  },
);

test('an empty command, and a --heap-snapshot-dir that is a file: exit 2 naming the problem', async () => {
  const empty = await runCli(['run', '--', '']);
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /^headroom: run needs a command, got an empty one/);
  const dir = mkdtempSync(join(tmpdir(), 'headroom-run-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const r = await runCli(['run', '--memory', '1g', '--heap-snapshot-dir', file, '--', node, '-e', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--heap-snapshot-dir .*a-file: is a file, not a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "a SIGKILL in a real cgroup: the OOM killer's when the cgroup's oom_kill count went up, and said not to be when it did not",
  { skip: cgroupUnavailable(), timeout: 60_000 },
  async () => {
    const inCgroup = async (limitMiB: number, script: string): Promise<string> => {
      const cg = createCgroup(limitMiB * 2 ** 20);
      try {
        const child = spawn('sh', inCgroupArgs(cg.dir, [node, ...CLI, 'run', '--', node, '-e', script]), {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
        const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (c, s) => r([c, s])));
        assert.equal(signal, 'SIGKILL', err);
        return err;
      } finally {
        await removeCgroup(cg);
      }
    };
    const self = await inCgroup(256, "process.kill(process.pid, 'SIGKILL')");
    assert.match(self, /killed \(SIGKILL\) under a 256 MiB memory limit .*not by the cgroup's OOM killer \(oom_kill in \S+ stayed 0\)/);
    // Buffers (outside the heap its flags bound) until the kernel kills it.
    const oom = await inCgroup(
      128,
      'const a = []; setInterval(() => { for (let i = 0; i < 4; i++) a.push(Buffer.alloc(1 << 20, 1)); }, 1)',
    );
    assert.match(oom, /killed \(SIGKILL\) by the kernel's OOM killer under a 128 MiB memory limit .*\(oom_kill in \S+: 0 → 1\)/);
  },
);
