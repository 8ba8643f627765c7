// `headroom soak` end to end (exit codes, --json, the plain status line) and runSoak's start-up
// failures, which must leave nothing running.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { formatMs } from '../../src/options/spec.js';
import { runSoak, SoakStartError } from '../../src/soak/index.js';
import { minDurationMs } from '../../src/soak/options.js';
import { DEFAULT_THRESHOLDS } from '../../src/soak/verdict.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { CLI, exitWithin, runCli, spawnWatched, startCli } from '../cli/child.js';
import { alive } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

/** `headroom soak` on a service that writes its pid to `pidFile`, the pid once it serves. */
async function soakWithPid(pidFile: string, prelude = '') {
  const service = `${prelude}require('node:http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, () => require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)));`;
  const soak = spawnWatched(process.execPath, [...CLI, 'soak', '--duration', '60s', '--', process.execPath, '-e', service]);
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 'the service to start', 30_000);
  return { soak, pid: Number(readFileSync(pidFile, 'utf8')) };
}

const dir = mkdtempSync(join(tmpdir(), 'headroom-soak-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bad usage exits 2 and says what is wrong', async () => {
  const cases: [string[], RegExp][] = [
    [['soak'], /needs the command/],
    [['soak', '--duration', 'soon', '--', 'node', 'x.js'], /--duration=soon: must be a duration/],
    [['soak', '--connections=0', '--', 'node', 'x.js'], /--connections=0: must be an integer from 1/],
    [['soak', '--durtion', '1m', '--', 'node', 'x.js'], /unknown option --durtion \(did you mean --duration\?\)/],
    [['soak', '--dur', '1m', '--', 'node', 'x.js'], /unknown option --dur \(did you mean --duration\?\)/],
    // One dash is a flag missing a dash, not the command.
    [['soak', '-url', 'http://127.0.0.1:9/', '--', 'node', 'x.js'], /unknown option -url: flags take two dashes \(did you mean --url\?\)/],
    // A one-dash word that is no flag may be a secret split off its flag: not echoed.
    [
      ['soak', '-Qx9secretTOKEN', '--', 'node', 'x.js'],
      /^(?![\s\S]*secretTOKEN)(?:[\s\S]*\n)?headroom: unknown option '<hidden>' \(an argument starting with one dash\)/,
    ],
    // Nor one that merely begins with a flag's name, nor a stray argument.
    [
      ['soak', '-urlQx9secretTOKEN', '--', 'node', 'x.js'],
      /^(?![\s\S]*secretTOKEN)(?:[\s\S]*\n)?headroom: unknown option '<hidden>' \(an argument starting with one dash\)/,
    ],
    [
      ['soak', '--url=', 'http://u:secretTOKEN@127.0.0.1/', '--', 'node', 'x.js'],
      /^(?![\s\S]*secretTOKEN)(?:[\s\S]*\n)?headroom: unexpected argument '<hidden>' \(not a flag\): put the command after --/,
    ],
    [['soak', '--url', 'http://example.com/', '--', 'node', 'x.js'], /only goes to this machine/],
    [
      ['soak', '--scenario', join(dir, 'missing.json'), '--', 'node', 'x.js'],
      /--scenario .*missing\.json: cannot read the file \(no such file\)$/m,
    ],
    // Never read whole: an endless device, a FIFO or a huge file.
    [['soak', '--scenario', '/dev/zero', '--', 'node', 'x.js'], /--scenario \/dev\/zero: not a regular file \(a device, pipe or socket\)/],
    [
      ['soak', '--duration', '10s', '--warmup', '9s', '--', 'node', 'x.js'],
      /--duration: 10000 ms \(10s\) must be a whole number of ms from 20s to 168h: the warm-up \(9000 ms, 9s\) takes at most half of it$/m,
    ],
    // A warm-up no budget can hold is said alone, with its unit (not as a duration problem too).
    [
      ['soak', '--warmup', '100h', '--', 'node', 'x.js'],
      /^headroom: soak options:\n {2}--warmup: 360000000 ms \(100h\) must be .* \(at most 84h\)\n?$/,
    ],
    [['soak', '--attach', 'abc', '--url', 'http://127.0.0.1:1/'], /--attach=abc: must be an inspector port/],
    [['soak', '--attach', '9229'], /--attach needs --url/],
    [['soak', '--attach', 'port:9229', '--url', 'http://127.0.0.1:1/', '--', 'node', 'x.js'], /takes no command/],
    [['soak', '--attach', 'pid:4194000', '--url', 'http://127.0.0.1:1/'], /pid:4194000: no such process/],
    [['soak', '--snapshots', '1', '--', 'node', 'x.js'], /one snapshot cannot be diffed/],
    [['soak', '--start-timeout', 'later', '--', 'node', 'x.js'], /--start-timeout=later: must be a duration/],
    [['soak', '--start-timeout', '50ms', '--', 'node', 'x.js'], /--start-timeout: 50 .*between/],
    [['soak', '--snapshot-budget', 'fast', '--', 'node', 'x.js'], /--snapshot-budget=fast: must be a duration/],
    [['soak', '--snapshot-budget', '2h', '--', 'node', 'x.js'], /--snapshot-budget: .*between 0ms and 1h/],
    // The real minimum, stated once: the shortest budget in which a leak verdict is reachable.
    [
      ['soak', '--duration', '1s', '--', 'node', 'x.js'],
      /^ {2}--duration: 1000 ms \(1s\) must be a whole number of ms from 14s to 168h: a leak verdict needs 22 samples after the warm-up, and it leaves room for 1 \(one every 500 ms after 167 ms of warm-up, the defaults\)$/m,
    ],
    [
      ['soak', '--duration', '13s', '--', 'node', 'x.js'],
      /^ {2}--duration: 13000 ms \(13s\) must be a whole number of ms from 14s to 168h: .*room for 21 /m,
    ],
    [
      ['soak', '--duration', '10s', '--warmup', '4s', '--', 'node', 'x.js'],
      /^ {2}--duration: .* from 15s to 168h: .*after 4000 ms of warm-up\)$/m,
    ],
    // Report paths are checked before the soak, not after it.
    [
      ['soak', '--json', join(dir, 'missing-dir', 'r.json'), '--', 'node', 'x.js'],
      /--json .*r\.json: its directory .*missing-dir does not exist/,
    ],
    [['soak', '--html', dir, '--', 'node', 'x.js'], /--html .*: is a directory/],
    // Tried for real: access() says yes to root under /proc, where no file can be made.
    [
      ['soak', '--html', '/proc/headroom-soak.html', '--', 'node', 'x.js'],
      /--html \/proc\/headroom-soak\.html: cannot be created in \/proc \(/,
    ],
    // Checked (and made) before the soak: under /proc a recursive mkdir would spin for ever after it.
    [
      ['soak', '--snapshot-dir', '/proc/headroom-soak-snaps', '--', 'node', 'x.js'],
      /--snapshot-dir \/proc\/headroom-soak-snaps: cannot be created in \/proc \(a file system that holds no files of ours/,
    ],
    [
      ['soak', '--snapshot-dir', join(dir, 'missing-dir', 'snaps'), '--', 'node', 'x.js'],
      /--snapshot-dir .*snaps: its parent directory .*missing-dir does not exist/,
    ],
  ];
  await Promise.all(
    cases.map(async ([args, re]) => {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }),
  );
  writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ method: 'FETCH' }]));
  const bad = await runCli(['soak', '--scenario', join(dir, 'bad.json'), '--', 'node', 'x.js']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /method "FETCH"/);
});

test('help lists soak, and soak --help its options; a --help after -- belongs to the service', async () => {
  assert.match((await runCli(['--help'])).stdout, /soak +fail CI on a memory leak/);
  const help = await runCli(['soak', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--scenario FILE/);
  assert.match(help.stdout, /0 no leak · 1 leak · 3 inconclusive · 2 bad usage/);
  // The shortest budget, as the help and docs/soak.md state it, is the one the options enforce.
  const min = formatMs(minDurationMs(DEFAULT_THRESHOLDS));
  assert.match(help.stdout, new RegExp(`--duration D .*at least ${min} with the default warm-up`));
  assert.match(readFileSync('docs/soak.md', 'utf8'), new RegExp(`At least \\*\\*${min}\\*\\* with the default warm-up`));
});

test('a service that does not start: exit 2 with its last output', async () => {
  const r = await runCli(['soak', '--duration', '14s', '--', process.execPath, '-e', 'console.error("boom: no config"); process.exit(4)']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /exited during start-up \(code 4\)/);
  assert.match(r.stderr, /boom: no config/);
  // A command that cannot be started at all did not exit: it is named, and why.
  const missing = await runCli(['soak', '--duration', '14s', '--', '/no/such/binary']);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^headroom: the command could not be started: \/no\/such\/binary: not found$/m);
});

test('a service that dies during the soak: exit 2 at once, saying with which code, the report written', async () => {
  // Serves, then exits with code 9 a second into the load (as a crash under load would).
  const service = `require('node:http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, () => setTimeout(() => process.exit(9), 1500));`;
  const json = join(dir, 'died.json');
  const r = await runCli(['soak', '--duration', '20s', '--json', json, '--', process.execPath, '-e', service]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /the service exited during the soak \(code 9\)/);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { target: { exited?: { code: number } } };
  assert.equal(report.target.exited?.code, 9);
  // Under a shell that goes on after it (and then exits 0), the 0 is the shell's, and said to be.
  const wrapped = await runCli([
    'soak',
    '--duration',
    '20s',
    '--',
    'sh',
    '-c',
    `"${process.execPath}" -e "${service.replaceAll('"', '\\"')}"; echo after`,
  ]);
  assert.equal(wrapped.code, 2, wrapped.stdout + wrapped.stderr);
  assert.match(wrapped.stdout, /the service \(pid \d+\) exited during the soak; the command it ran under \(pid \d+\) ended with code 0/);
  // A wrapper that lives on after it (a supervisor, `sh -c '…; sleep 30'`): still a failed run (2).
  const aliveJson = join(dir, 'died-wrapped.json');
  const alive = await runCli([
    'soak',
    '--duration',
    '20s',
    '--json',
    aliveJson,
    '--',
    'sh',
    '-c',
    `"${process.execPath}" -e "${service.replaceAll('"', '\\"')}"; sleep 30`,
  ]);
  assert.equal(alive.code, 2, alive.stdout + alive.stderr);
  assert.match(alive.stdout, /the service \(pid \d+\) exited during the soak; the command it ran under \(pid \d+\) was still running/);
  const aliveReport = JSON.parse(readFileSync(aliveJson, 'utf8')) as { target: { exited?: unknown; serviceExited?: boolean } };
  assert.equal(aliveReport.target.serviceExited, true);
  assert.equal(aliveReport.target.exited, undefined, 'the command had not ended');
});

test('--start-timeout bounds the wait for a service that never listens; an earlier report in --json/--html is not left behind', async () => {
  const json = join(dir, 'stale.json');
  const html = join(dir, 'stale.html');
  writeFileSync(json, '{"verdict":"no-leak"}\n');
  writeFileSync(html, '<p>NO-LEAK</p>\n');
  const r = await runCli([
    'soak',
    '--start-timeout',
    '1500ms',
    '--json',
    json,
    '--html',
    html,
    '--',
    process.execPath,
    '-e',
    'setTimeout(() => {}, 30_000)',
  ]);
  assert.deepEqual([readFileSync(json, 'utf8'), readFileSync(html, 'utf8')], ['', ''], 'a failed run leaves no earlier verdict');
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /did not accept connections on 127\.0\.0\.1:\d+ within 1500 ms/);
});

test('a service that listens, but not on $PORT: exit 2 naming where it listens', async () => {
  const service = "require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1')";
  const r = await runCli(['soak', '--start-timeout', '1500ms', '--', process.execPath, '-e', service]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /did not accept connections on 127\.0\.0\.1:(\d+) within 1500 ms; it listens on 127\.0\.0\.1:\d+ instead: have it listen on \$PORT \(\d+\), or give --url/,
  );
});

test('a service that answers every request of the warm-up 404: exit 2 when the warm-up ends, naming the counts', async () => {
  const service = `require('node:http').createServer((q, s) => { s.statusCode = 404; s.end('no such route'); }).listen(process.env.PORT);`;
  const t0 = performance.now();
  const r = await runCli(['soak', '--duration', '60s', '--warmup', '3s', '--connections', '3', '--', process.execPath, '-e', service]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /none of the \d+ requests of the warm-up reached the service's routes \(\{"4xx":\d+\}, 0 errors\): check --url and --scenario/,
  );
  assert.ok(performance.now() - t0 < 30_000, 'not after the whole budget');
});

test('a service that accepts connections but never answers: exit 2 when the warm-up ends, within the budget, saying it never answered', async () => {
  const service = `require('node:http').createServer(() => {}).listen(process.env.PORT);`;
  const t0 = performance.now();
  const soak = startCli(['soak', '--duration', '14s', '--warmup', '3s', '--connections', '3', '--', process.execPath, '-e', service]);
  try {
    // Requests in flight are not waited for past a sample interval: the soak ends within its budget.
    const exit = await exitWithin(soak, 14_000, 'a soak of a service that never answers');
    assert.equal(exit.code, 2, soak.output());
    assert.match(
      soak.output(),
      /the service never answered: it accepts connections at http:\/\/127\.0\.0\.1:\d+, but none of the requests sent in the first \d+\.\d s \(the warm-up: 3\.0 s\) got an answer \(3 still waiting\)/,
    );
    console.log(`never-answering service: exit 2 after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    soak.kill();
  }
});

test('a service that answers most of the load 404 is not called leak-free: inconclusive, saying why; the counts add up', async () => {
  // Three requests in four are 404: the load reaches a route, but mostly not.
  const service = `let n = 0; require('node:http').createServer((q, s) => { if (n++ % 4) s.statusCode = 404; s.end('x'); }).listen(process.env.PORT);`;
  const json = join(dir, 'notfound.json');
  const r = await runCli(['soak', '--duration', '15s', '--connections', '3', '--json', json, '--', process.execPath, '-e', service]);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /7\d% of the requests failed or were answered 4xx\/5xx .*check --url and --scenario/);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { load: { requests: number; errors: number; statuses: Record<string, number> } };
  const { requests, errors, statuses } = report.load;
  assert.equal(requests, errors + Object.values(statuses).reduce((a, b) => a + b, 0), 'requests cut off at the end are not counted');
});

for (const [signal, code, why] of [
  ['SIGHUP', 129, 'the terminal went away'],
  ['SIGINT', 130, 'Ctrl-C'],
] as const) {
  test(`${signal} (${why}) stops the soak and the service with it: exit ${code}, not a verdict's code`, { timeout: 60_000 }, async () => {
    const { soak, pid } = await soakWithPid(join(dir, `${signal}.pid`));
    try {
      assert.ok(alive(pid));
      soak.child.kill(signal);
      // 128 + the signal's number, whether it came while measuring (the report is printed first) or
      // while the soak still connected to the service.
      const exit = await soak.exited;
      assert.equal(exit.code, code, `exit ${exit.code ?? exit.signal}: ${soak.output()}`);
      await waitFor(() => !alive(pid), 'the service to be stopped', 10_000);
    } finally {
      soak.kill();
    }
  });
}

test(
  'a second Ctrl-C while the soak stops a service that ignores SIGTERM: the service is still killed, exit 130',
  { timeout: 60_000 },
  async () => {
    const { soak, pid } = await soakWithPid(join(dir, 'twice.pid'), "process.on('SIGTERM', () => {}); ");
    try {
      soak.child.kill('SIGINT');
      await soak.waitForOutput(/soak: SIGINT: stopping the service/);
      // Node's default action for this one would end the soak at once and leave the service running.
      soak.child.kill('SIGINT');
      const exit = await soak.exited;
      assert.equal(exit.code, 130, `exit ${exit.code ?? exit.signal}: ${soak.output()}`);
      assert.match(soak.output(), /already stopping \(SIGINT\)/);
      await waitFor(() => !alive(pid), 'the service to be killed', 10_000);
    } finally {
      soak.kill();
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  },
);

test('output whose reader went away (… | head): the soak stops and so does the service', { timeout: 60_000 }, async () => {
  const { soak, pid } = await soakWithPid(join(dir, 'epipe.pid'));
  try {
    // Both ends closed: the status line due 10 s in meets EPIPE.
    soak.child.stdout!.destroy();
    soak.child.stderr!.destroy();
    await soak.exited;
    await waitFor(() => !alive(pid), 'the service to be stopped', 10_000);
  } finally {
    soak.kill();
  }
});

test('runSoak start-up failures reject with SoakStartError and leave no handle behind', async () => {
  await assertNoLeakedHandles(async () => {
    await assert.rejects(runSoak({ command: [process.execPath, '-e', 'process.exit(3)'], durationMs: 14_000 }), SoakStartError);
    // Never listens: the inspector is up, the port never accepts.
    await assert.rejects(
      runSoak({ command: [process.execPath, '-e', 'setTimeout(() => {}, 30_000)'], durationMs: 14_000, startTimeoutMs: 1500 }),
      (e: Error) => e instanceof SoakStartError && /did not accept connections/.test(e.message),
    );
    // Not a Node process: no inspector line.
    await assert.rejects(
      runSoak({ command: ['sleep', '20'], durationMs: 14_000, startTimeoutMs: 1000 }),
      (e: Error) => e instanceof SoakStartError && /Debugger listening/.test(e.message),
    );
  });
});

test('runSoak refuses bad options at once, naming each', async () => {
  await assert.rejects(
    runSoak({ command: [], durationMs: 100, connections: 0, url: 'https://10.0.0.1/' }),
    (e: Error) =>
      e instanceof RangeError &&
      /command/.test(e.message) &&
      /durationMs/.test(e.message) &&
      /connections/.test(e.message) &&
      /url/.test(e.message),
  );
});

test(
  'headroom soak on a leaking service: exit 1, a JSON and an HTML report, a plain status line every 10 s, the snapshot diff naming what leaks',
  { timeout: 90_000 },
  async () => {
    const json = join(dir, 'report.json');
    const html = join(dir, 'report.html');
    const scenario = join(dir, 'scenario.json');
    writeFileSync(
      scenario,
      JSON.stringify([
        { path: '/a', weight: 3 },
        { method: 'POST', path: '/b', body: { n: 1 } },
      ]),
    );
    const t0 = performance.now();
    const r = await runCli([
      'soak',
      '--duration=25s',
      '--warmup=5s',
      '--connections=4',
      '--rate=300',
      '--scenario',
      scenario,
      '--json',
      json,
      '--html',
      html,
      '--snapshot-dir',
      join(dir, 'snaps'),
      '--',
      process.execPath,
      'test/fixtures/soak/leak-cache.mjs',
    ]);
    console.log(`headroom soak leak-cache: exit ${r.code} after ${((performance.now() - t0) / 1000).toFixed(1)} s\n${r.stdout}`);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /headroom soak: LEAK — retained memory grows/);
    assert.match(r.stderr, /^soak 10s\/25s · \d+ req\/s · heap [\d.]+ MiB/m);
    // The diff names the leaking constructor first, with the Map that holds it on its path.
    assert.match(
      r.stdout,
      /grew in every interval[^\n]*\n {4}Session: \d+ → \d+ → \d+ objects, \+[\d.]+ KiB, holding [\d.]+ KiB new\n {6}retained by .*sessions \(Map\).*\(Session\)/,
    );
    assert.match(r.stderr, /soak: taking heap snapshot 3\/3/);
    // The measurement's cost, in all three reports: forced GCs per minute and their pauses.
    assert.match(r.stdout, /^ {2}cost: \d+ forced GCs \(\d+\/min, mean [\d.]+ ms, max [\d.]+ ms; load paused [\d.]+ s in all\)$/m);
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      verdict: string;
      samples: unknown[];
      slopes: unknown[];
      load: { statuses: Record<string, number> };
      snapshots: { files: string[]; analysis: { grown: { name: string; counts: number[] }[] } };
      cost: { forcedGcs: number; gcsPerMinute: number; gcPauseMs: { mean: number; max: number }; quietMs: number };
    };
    assert.equal(report.cost.forcedGcs, report.samples.length);
    assert.ok(report.cost.gcsPerMinute > 0 && report.cost.gcPauseMs.max >= report.cost.gcPauseMs.mean && report.cost.gcPauseMs.mean > 0);
    assert.ok(report.cost.quietMs > 0, JSON.stringify(report.cost));
    assert.equal(report.verdict, 'leak');
    assert.equal(report.snapshots.analysis.grown[0]!.name, 'Session');
    assert.equal(report.snapshots.files.length, 3);
    for (const f of report.snapshots.files) assert.ok(statSync(f).size > 1e6, f);
    assert.ok(report.slopes.length > 0);
    const page = readFileSync(html, 'utf8');
    assert.equal((page.match(/<svg /g) ?? []).length, 3, 'heap, RSS and slope charts');
    for (const want of [
      'Post-GC memory',
      'Resident set size',
      'Slope as judged',
      '<path d="M',
      'LEAK',
      '<code>Session</code>',
      'forced full GCs (',
    ])
      assert.ok(page.includes(want), `the HTML report lacks ${want}`);
    assert.ok(!/<script|https?:\/\/(?!127\.0\.0\.1)/.test(page), 'the report loads nothing and runs no script');
    assert.ok(report.samples.length > 10);
    assert.ok((report.load.statuses['2xx'] ?? 0) > 100);
  },
);
