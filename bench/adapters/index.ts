// bench/adapters: what headroom's adapter costs an app. For each framework, the same app with one
// JSON route runs bare and with the adapter (shared monitor sampling, shedding check, in-flight
// tracking, health and metrics routes mounted), each in its own child process.
// Each round starts a fresh process of both variants and measures them in pairs, both in the same
// seconds, so a burst of machine noise lands on both:
//  - throughput: wrk -t2, one thread and <connections> connections per variant, both loaded at once
//                on the same app CPU. The cost that decides an app's throughput on a saturated core
//                is its CPU time per request (user + system, all threads, from /proc): the
//                CPU-bound throughput ratio is bare CPU/request ÷ headroom CPU/request (target ≥ 0.97).
//                The raw req/s ratio is printed too, but it also carries how the scheduler happened
//                to share the core between the two (±5-10 % per round in an A/A run).
//  - latency:    one connection to each variant, one request to each in turn (alternate.ts); added
//                p99 = headroom's p99 − bare's over the same seconds (target ≤ 50 µs).
// Rounds, not pairs, are the independent samples (JIT and placement luck differ between fresh
// processes), so results are means over rounds with a 95 % confidence interval.
// At the end of each round every process's RSS is printed (where a native leak shows first) with
// V8's resident heap and young generation beside it (heapAtEnd), so that a gap in RSS can be read:
// V8 sizing its heap differently in the two processes, or memory outside it; then the live heap
// after a full GC (alloc-meter.mjs), where what headroom holds that the bare app does not shows.
// --same bare|headroom runs that variant on both sides (an A/A run): what the same code "costs"
// against itself is the noise floor the real comparison must be read against.
// --base / --target pick what each side runs, for measuring one part of headroom against headroom
// without it in the same seconds: `headroom-without:gate,monitor` is headroom registered with those
// parts switched off (the app's BENCH_WITHOUT; Fastify: gate and monitor, NestJS and Next.js: monitor).
// One-sided runs against the bare app scatter by a few per cent from run to run; this resolves a
// part's cost to about 1 %.
// Before measuring, both variants must answer GET /app/hello with the same status, type and body,
// and GET /health/ready must be 404 on the bare app and 200 with headroom. With two or more CPUs the
// apps run on one CPU and the load generators on another (taskset). The apps load headroom compiled
// by tsc, as users run it (dist.ts; the Next.js app its own compile, installed in its node_modules and
// loaded through serverExternalPackages as the Next.js docs page recommends: apps/next/prepare.mjs).
// Allocation: once per round, bytes allocated on V8's heap per request by each side (alloc-meter.mjs, over IPC).
// Usage: npm run bench -- adapters [--frameworks fastify,express,express-front,nest-express,nest-fastify,next]
//        [--rounds 5] [--duration 6] [--slice 2] [--connections 32] [--pin 0:1 | --pin none]
//        [--same bare|headroom] [--base CONFIG] [--target CONFIG] [--warmup SECONDS] [--dist DIR]
//        CONFIG: bare | headroom | headroom-without:gate,monitor (default --base bare --target headroom)
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cpus, loadavg, tmpdir } from 'node:os';
import { readProc } from '../../src/soak/proc.js';
import { median } from '../../src/soak/stats.js';
import { BENCH_PARTS } from './apps/parts.js';
import { headroomDist } from './dist.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    frameworks: { type: 'string', default: 'fastify,express,express-front,nest-express,nest-fastify,next' },
    rounds: { type: 'string', default: '5' },
    // Seconds measured per round, in pairs of measurements of --slice seconds each.
    duration: { type: 'string', default: '6' },
    slice: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    // Share of one core that other processes may use during a pair of slices before the pair is measured again.
    'max-noise': { type: 'string', default: '0.05' },
    // <app CPUs>:<wrk CPUs> for taskset, or none.
    pin: { type: 'string', default: cpus().length >= 2 ? '0:1' : 'none' },
    // Run this variant on both sides (A/A): the noise floor.
    same: { type: 'string' },
    // What the reference side ("bare" in the output) and the measured side ("headroom") run.
    base: { type: 'string' },
    target: { type: 'string' },
    // Seconds of load on each fresh app before it is measured (default: the framework's own).
    warmup: { type: 'string' },
    // Compiled headroom for the Fastify, Express and NestJS apps (default: src/ compiled for the bench).
    dist: { type: 'string' },
  },
});

interface Framework {
  /** Starts the app; `variant` is "bare" or "headroom". Prints HEADROOM_FIXTURE_LISTENING <url>. */
  command(variant: Variant): { cmd: string; argv: string[]; env?: Record<string, string>; cwd?: string };
  /** The parts of headroom its app can switch off (BENCH_WITHOUT, headroom-without:<parts>). */
  partSwitches?: readonly string[];
  /** Runs once before the rounds (e.g. next build). */
  prepare?(): void;
  /**
   * Seconds of load on each fresh process before measuring (default 1): until its JIT has settled.
   * Next.js serves ~1 000 requests a second here and was still warming up after 1 s (its first
   * 2-s slice cost ~2.5× the CPU per request of its third), which counted against the variant with
   * more code to compile.
   */
  warmup?: number;
}
type Variant = 'bare' | 'headroom';

const tsApp = (file: string, env: Record<string, string> = {}): Framework => ({
  command: (variant) => ({
    cmd: process.execPath,
    argv: ['--import', 'tsx', join(here, 'apps', file)],
    env: { ...env, BENCH_VARIANT: variant },
  }),
});

const FRAMEWORKS: Record<string, Framework> = {
  fastify: { ...tsApp('fastify.ts'), partSwitches: BENCH_PARTS },
  express: tsApp('express.ts'),
  // The same Express app with headroom in front of it (http.createServer(hr.handler(app))) instead of its middleware.
  'express-front': tsApp('express.ts', { BENCH_EXPRESS_FRONT: '1' }),
  'nest-express': { ...tsApp('nest-express.ts'), partSwitches: ['monitor'] },
  'nest-fastify': { ...tsApp('nest-fastify.ts'), partSwitches: ['monitor'] },
  next: {
    prepare: () => execFileSync(process.execPath, [join(here, 'apps', 'next', 'prepare.mjs')], { stdio: 'inherit' }),
    partSwitches: ['monitor'],
    warmup: 10,
    command: (variant) => ({
      cmd: process.execPath,
      argv: [join(here, 'apps', 'next', 'server.mjs')],
      env: { BENCH_VARIANT: variant },
      cwd: join(here, 'apps', 'next'),
    }),
  },
};

const pin = args.pin === 'none' ? undefined : /^([\d,-]+):([\d,-]+)$/.exec(args.pin);
if (args.pin !== 'none' && !pin) throw new Error(`--pin: expected <app CPUs>:<wrk CPUs> (e.g. 0:1) or none, got ${args.pin}`);
/** The command, run on the given CPUs when pinning. */
const pinned = (cpuList: string | undefined, cmd: string, argv: string[]): [string, string[]] =>
  cpuList ? ['taskset', ['-c', cpuList, cmd, ...argv]] : [cmd, argv];

/** The compiled headroom the apps load: compiled (or checked) once, on first use. */
let compiled: string | undefined;
const dist = (): string => (compiled ??= headroomDist(args.dist));

// Apps still running, killed if the bench itself is interrupted (so none is left listening).
const live = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of live) child.kill('SIGKILL');
    process.exit(130);
  });
}

const ALLOC_METER = join(here, 'alloc-meter.mjs');

/** A running app: where it listens, its process, and where its diagnostic report goes (heapAtEnd). */
interface App {
  url: string;
  child: ChildProcess;
  report: string;
}

async function start(fw: Framework, config: Config): Promise<App> {
  const c = fw.command(config.variant);
  const without = config.without.length > 0 ? { BENCH_WITHOUT: config.without.join(',') } : {};
  const report = reportFlags();
  const child = spawn(...pinned(pin?.[1], c.cmd, [...report.flags, '--import', ALLOC_METER, ...c.argv]), {
    cwd: c.cwd,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', BENCH_HEADROOM_DIST: dist(), ...c.env, ...without },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // The app's stderr, but for the two lines Node writes around each diagnostic report.
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!/^(Writing Node\.js report to file: |Node\.js report completed$)/.test(line)) process.stderr.write(`${line}\n`);
  });
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    for await (const line of lines) {
      const m = /^HEADROOM_FIXTURE_LISTENING (\S+)/.exec(line);
      if (m) return { url: m[1]!, child, report: report.file };
    }
    throw new Error(`${c.argv.join(' ')} exited before listening`);
  } finally {
    clearTimeout(timer);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

const UNIT: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000, m: 60_000_000 };

// CPU time of the server process (user + system) from /proc, in µs: on a shared machine, the CPU a
// request costs is steadier than the requests per second it allows.
const TICK_US = 1_000_000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const cpuUs = (pid: number): number => procTicks(pid) * TICK_US;

// V8's heap at the end of a round, from the app's diagnostic report (Node's --report-on-signal, the
// same flags on both sides; nothing runs in the app until the signal). It tells an RSS gap that is
// V8 sizing its heap (a young generation grown to its 2 × 16 MiB sooner, pages pooled after a full
// GC) from memory that is in use or native. Heap spaces: physical (resident) size.
const reportDir = mkdtempSync(join(tmpdir(), 'headroom-bench-report-'));
process.once('exit', () => rmSync(reportDir, { recursive: true, force: true }));
let reports = 0;
function reportFlags(): { flags: string[]; file: string } {
  const name = `report-${++reports}.json`;
  const flags = ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`, `--report-filename=${name}`];
  return { flags: [...flags, '--report-compact', '--report-exclude-network'], file: join(reportDir, name) };
}

/** MiB resident: V8's heap, and of it the young generation. */
interface HeapAtEnd {
  heap: number;
  young: number;
}

async function heapAtEnd(app: App): Promise<HeapAtEnd> {
  app.child.kill('SIGUSR2');
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      // Written in one piece by the signal's handler; until then missing or cut short.
      const { javascriptHeap: h } = JSON.parse(readFileSync(app.report, 'utf8')) as {
        javascriptHeap: { totalCommittedMemory: number; heapSpaces: { new_space: { committedMemory: number } } };
      };
      rmSync(app.report);
      const mib = (bytes: number): number => bytes / 2 ** 20;
      return { heap: mib(h.totalCommittedMemory), young: mib(h.heapSpaces.new_space.committedMemory) };
    } catch (err) {
      if (performance.now() > deadline)
        throw new Error(`no diagnostic report from pid ${app.child.pid} in 10 s: ${(err as Error).message}`);
    }
    await sleep(20);
  }
}

/** MiB still in use on V8's heap after a full GC, at the end of a round (alloc-meter.mjs). */
async function liveHeapMiB(app: App): Promise<number> {
  const { live } = await ask(app, 'live', (r): r is { live: number } => typeof (r as { live?: unknown })?.live === 'number');
  return live / 2 ** 20;
}

/** Resident set size of a process, MiB (the soak's /proc reader). */
async function rssMiB(pid: number): Promise<number> {
  const { rss } = await readProc(pid);
  if (rss === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return rss / 2 ** 20;
}

// CPU used on the whole machine, by the processes this bench waited for (wrk), and by one process, in ticks.
function machineBusyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!; // user nice system irq softirq steal
}
function procTicks(pid: number | 'self', children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return children ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12]);
}
/** How much CPU (in cores) processes other than the two apps, wrk and this bench used while `fn` ran. */
function noiseOf<T>(pids: number[], fn: () => T): { value: T; noise: number } {
  const started = performance.now();
  const own = (): number => procTicks('self') + procTicks('self', true) + pids.reduce((a, p) => a + procTicks(p), 0);
  const m0 = machineBusyTicks();
  const o0 = own();
  const value = fn();
  const others = machineBusyTicks() - m0 - (own() - o0);
  return { value, noise: (others * TICK_US) / 1000 / (performance.now() - started) };
}

/**
 * Both variants under load at once on the same app CPU: wrk -t2, one thread and `connections`
 * connections per variant (bench/adapters/paired.lua). The one that costs more CPU per request
 * serves fewer of them in the same seconds, and noise in those seconds hits both.
 */
function pairedThroughput(
  urls: [string, string],
  pids: [number, number],
  connections: number,
  seconds: number,
): { rps: [number, number]; cpuPerRequestUs: [number, number] } {
  const cpuBefore = pids.map(cpuUs);
  const out = execFileSync(
    ...pinned(pin?.[2], 'wrk', [
      '-t2',
      `-c${connections * 2}`,
      `-d${seconds}s`,
      '--timeout',
      '10s',
      '-s',
      join(here, 'paired.lua'),
      `${urls[0]}/app/hello`,
    ]),
    { encoding: 'utf8', env: { ...process.env, PAIRED_FIRST: new URL(urls[0]).host, PAIRED_SECOND: new URL(urls[1]).host } },
  );
  // wrk prints this line only when a connection failed or a request timed out (10 s: a Next.js app
  // sharing a core with 64 connections can take over wrk's default 2 s on a slow slice).
  const socketErrors = /Socket errors:.*/.exec(out);
  if (socketErrors) throw new Error(`wrk: ${socketErrors[0]}`);
  const counts = (['PAIRED_FIRST', 'PAIRED_SECOND'] as const).map((side) => {
    const m = new RegExp(`^${side} (\\d+) (\\d+)$`, 'm').exec(out);
    if (!m) throw new Error(`wrk printed no count for ${side}:\n${out}`);
    if (m[2] !== '0') throw new Error(`${side}: ${m[2]} responses other than 200`);
    return Number(m[1]);
  }) as [number, number];
  // wrk's own measured duration ("… requests in 5.00s"), not the time around the command.
  const d = /requests in ([\d.]+)(ms|s|m),/.exec(out);
  if (!d) throw new Error(`wrk printed no duration:\n${out}`);
  const duration = (Number(d[1]) * UNIT[d[2]!]!) / 1_000_000;
  return {
    rps: [counts[0] / duration, counts[1] / duration],
    cpuPerRequestUs: [(cpuUs(pids[0]) - cpuBefore[0]!) / counts[0], (cpuUs(pids[1]) - cpuBefore[1]!) / counts[1]],
  };
}

/** Requests to two apps in turn for `seconds` (bench/adapters/alternate.ts): what it measured of each, in the order of the URLs. */
function alternate(urls: [string, string], seconds: number): { count: number; p99: number }[] {
  const out = execFileSync(
    ...pinned(pin?.[2], process.execPath, [
      '--import',
      'tsx',
      join(here, 'alternate.ts'),
      `${urls[0]}/app/hello`,
      `${urls[1]}/app/hello`,
      String(seconds),
    ]),
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as { count: number; p99: number }[];
}

/** Latency of both variants, one request to each in turn on one connection each. */
function alternatingLatency(urls: [string, string], seconds: number): [number, number] {
  const [a, b] = alternate(urls, seconds);
  return [a!.p99, b!.p99];
}

/** The app's answer to an IPC message of alloc-meter.mjs. */
function ask<T>(app: App, message: string, answered: (reply: unknown) => reply is T): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`pid ${app.child.pid}: no answer to ${message} in 10 s`)), 10_000);
    const onMessage = (reply: unknown): void => {
      if (answered(reply)) done(undefined, reply);
    };
    const done = (err?: Error, reply?: T): void => {
      clearTimeout(timer);
      app.child.off('message', onMessage);
      if (err) reject(err);
      else resolve(reply!);
    };
    app.child.on('message', onMessage);
    // A child that died: its channel is closed, and send() says so here rather than crashing the bench.
    app.child.send(message, (err) => err && done(new Error(`pid ${app.child.pid}: ${message}: ${err.message}`)));
  });
}

/**
 * Bytes each variant allocates on V8's heap per request, over `seconds` of requests to each in turn
 * (alternate.ts): alloc-meter.mjs counts from each GC's heap before and after.
 */
async function allocationPerRequest(apps: Record<Variant, App>, seconds: number): Promise<Record<Variant, number>> {
  for (const v of VARIANTS) await ask(apps[v], 'alloc-start', (r): r is string => r === 'alloc-started');
  const counts = alternate([apps.bare.url, apps.headroom.url], seconds).map((c) => c.count);
  const result = {} as Record<Variant, number>;
  for (const [j, v] of VARIANTS.entries()) {
    const { allocated } = await ask(
      apps[v],
      'alloc-stop',
      (r): r is { allocated: number } => typeof (r as { allocated?: unknown })?.allocated === 'number',
    );
    result[v] = allocated / counts[j]!;
  }
  return result;
}

/** Warm-up: JIT and connection pools. */
function warm(url: string, connections: number, seconds: number): void {
  execFileSync(...pinned(pin?.[2], 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `${url}/app/hello`]), { encoding: 'utf8' });
}

/** What a variant answers: the route's status, type and body, and whether headroom's readiness probe is there. */
async function answers(url: string): Promise<{ app: string; ready: number }> {
  const r = await fetch(`${url}/app/hello`);
  const app = `${r.status} ${r.headers.get('content-type')} ${await r.text()}`;
  const ready = (await fetch(`${url}/health/ready`)).status;
  return { app, ready };
}

const expected: Record<Variant, { ready: number }> = { bare: { ready: 404 }, headroom: { ready: 200 } };
const seen = new Map<string, string>();

/** Starts a side's configuration and checks what it answers before anything is measured. */
async function startChecked(name: string, fw: Framework, config: Config): Promise<App> {
  const variant = describeConfig(config);
  const started = await start(fw, config);
  try {
    // Both variants must serve the same answer, and only the headroom variant may have headroom in it:
    // a bench that measures a 404 or a bare app twice proves nothing.
    const a = await answers(started.url);
    if (!a.app.startsWith('200 application/json')) throw new Error(`${name} ${variant}: GET /app/hello answered ${a.app}`);
    if (a.ready !== expected[config.variant].ready) {
      throw new Error(`${name} ${variant}: GET /health/ready answered ${a.ready}, expected ${expected[config.variant].ready}`);
    }
    const first = seen.get(name);
    if (first === undefined) seen.set(name, a.app);
    else if (first !== a.app) throw new Error(`${name}: the variants answer differently: ${first} vs ${a.app}`);
    return started;
  } catch (err) {
    await stop(started.child);
    throw err;
  }
}

interface Samples {
  rps: Record<Variant, number[]>;
  /** Server CPU µs per request during the throughput slices. */
  cpu: Record<Variant, number[]>;
  p99: Record<Variant, number[]>;
  /** headroom p99 − bare p99 of slices measured back to back. */
  p99Added: number[];
  /** Bytes allocated on V8's heap per request, one measurement per round (allocationPerRequest). */
  allocated: Record<Variant, number[]>;
  /** Each process's RSS (MiB) after its round's load: a native leak grows here, not in the CPU. */
  rss: Record<Variant, number[]>;
  /** V8's heap in that RSS at the same moment. */
  heap: Record<Variant, HeapAtEnd[]>;
  /** Then, after a full GC: what is still in use on V8's heap (MiB). */
  live: Record<Variant, number[]>;
  /** Pairs measured again because another process used the CPU meanwhile. */
  redone: number;
  /** Pairs kept although noisy (after the last attempt). */
  noisy: number;
}

/**
 * One round: a fresh process of each variant (so start-up and JIT luck is sampled too), both
 * running, then `slices` pairs of measurements: both variants under load at once, then both in turn
 * for latency. Which variant wrk and the latency client take first alternates.
 */
async function round(
  name: string,
  fw: Framework,
  i: number,
  o: { slices: number; slice: number; connections: number; maxNoise: number; warmup: number },
  s: Samples,
) {
  const apps = {} as Record<Variant, App>;
  try {
    for (const v of i % 2 ? (['headroom', 'bare'] as const) : (['bare', 'headroom'] as const)) {
      apps[v] = await startChecked(name, fw, sides[v]);
    }
    for (const v of VARIANTS) warm(apps[v].url, o.connections, o.warmup);
    const pids = VARIANTS.map((v) => apps[v].child.pid!);
    for (let k = 0; k < o.slices; k++) {
      const order = ((i + k) % 2 ? ['headroom', 'bare'] : ['bare', 'headroom']) as [Variant, Variant];
      const urls = order.map((v) => apps[v].url) as [string, string];
      const pair = (): { rps: Record<Variant, number>; cpu: Record<Variant, number>; p99: Record<Variant, number> } => {
        const t = pairedThroughput(urls, order.map((v) => apps[v].child.pid!) as [number, number], o.connections, o.slice);
        const l = alternatingLatency(urls, o.slice);
        const r = { rps: {}, cpu: {}, p99: {} } as ReturnType<typeof pair>;
        order.forEach((v, j) => {
          r.rps[v] = t.rps[j]!;
          r.cpu[v] = t.cpuPerRequestUs[j]!;
          r.p99[v] = l[j]!;
        });
        return r;
      };
      // A pair during which other processes used the CPU is measured again (a few times at most).
      let m = noiseOf(pids, pair);
      for (let attempt = 1; m.noise > o.maxNoise && attempt < 4; attempt++) {
        s.redone++;
        m = noiseOf(pids, pair);
      }
      if (m.noise > o.maxNoise) s.noisy++;
      for (const v of VARIANTS) {
        s.rps[v].push(m.value.rps[v]);
        s.cpu[v].push(m.value.cpu[v]);
        s.p99[v].push(m.value.p99[v]);
      }
      s.p99Added.push(m.value.p99.headroom - m.value.p99.bare);
    }
    const allocated = await allocationPerRequest(apps, o.slice);
    for (const v of VARIANTS) s.allocated[v].push(allocated[v]);
    for (const v of VARIANTS) {
      s.rss[v].push(await rssMiB(apps[v].child.pid!));
      s.heap[v].push(await heapAtEnd(apps[v]));
      s.live[v].push(await liveHeapMiB(apps[v]));
    }
  } finally {
    for (const v of VARIANTS) if (apps[v]) await stop(apps[v].child);
  }
}

const VARIANTS: readonly Variant[] = ['bare', 'headroom'];
/** What one side runs: the app bare or with headroom, and which of headroom's parts are switched off. */
interface Config {
  variant: Variant;
  without: string[];
}
function parseConfig(option: string, text: string): Config {
  if (text === 'bare' || text === 'headroom') return { variant: text, without: [] };
  const m = /^headroom-without:([a-z,]+)$/.exec(text);
  const without = m ? m[1]!.split(',').filter(Boolean) : [];
  if (!m || without.length === 0 || without.some((p) => !BENCH_PARTS.includes(p))) {
    throw new Error(`--${option}: expected bare, headroom or headroom-without:<parts> (parts: ${BENCH_PARTS.join(', ')}), got ${text}`);
  }
  return { variant: 'headroom', without };
}
const describeConfig = (c: Config): string => (c.without.length > 0 ? `${c.variant} without ${c.without.join(', ')}` : c.variant);
if (args.same !== undefined && (args.base !== undefined || args.target !== undefined))
  throw new Error('--same: not with --base or --target');
if (args.same !== undefined && !VARIANTS.includes(args.same as Variant))
  throw new Error(`--same: expected bare or headroom, got ${args.same}`);
const sides: Record<Variant, Config> = {
  bare: parseConfig(args.same ? 'same' : 'base', args.same ?? args.base ?? 'bare'),
  headroom: parseConfig(args.same ? 'same' : 'target', args.same ?? args.target ?? 'headroom'),
};
const rounds = Number(args.rounds);
const duration = Number(args.duration);
const connections = Number(args.connections);
const maxNoise = Number(args['max-noise']);
const slice = Number(args.slice);
const slices = Math.max(1, Math.round(duration / slice));
if (args.warmup !== undefined && !(Number(args.warmup) >= 1)) throw new Error(`--warmup: expected seconds >= 1, got ${args.warmup}`);
const warmupOf = (fw: Framework): number => (args.warmup !== undefined ? Math.round(Number(args.warmup)) : (fw.warmup ?? 1));
const rows: string[] = [];
console.log(
  `bench/adapters: ${rounds} rounds × ${slices} pairs of ${slice}-s measurements: both variants loaded at once (${connections} connections each), then in turn on one connection each for latency; node ${process.version}`,
);
console.log(pin ? `pinned: apps on CPU ${pin[1]}, wrk on CPU ${pin[2]}` : 'not pinned');
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model.trim()}; load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
if (args.same) console.log(`A/A: both sides run the ${args.same} variant; every difference below is noise`);
else if (args.base !== undefined || args.target !== undefined) {
  console.log(`comparing: "bare" below runs ${describeConfig(sides.bare)}, "headroom" below runs ${describeConfig(sides.headroom)}`);
}
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');

// Two-sided 95 % quantiles of Student's t for 1…30 degrees of freedom (then ~1.96).
const T95 = [
  12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
/** Mean and 95 % confidence interval of independent samples (t interval; NaN bounds for one sample). */
function meanCi(xs: number[]): { mean: number; low: number; high: number } {
  const n = xs.length;
  const mean = xs.reduce((a, x) => a + x, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (T95[n - 2] ?? 1.96) * (sd / Math.sqrt(n));
  return { mean, low: mean - half, high: mean + half };
}
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;
const fmt1 = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(' ');
/** A round's RSS, with V8's heap and its young generation in brackets, MiB. */
const memoryAt = (s: Samples, v: Variant, i: number): string => {
  const h = s.heap[v].at(i)!;
  return `${s.rss[v].at(i)!.toFixed(0)} (${h.heap.toFixed(0)}, ${h.young.toFixed(0)})`;
};
for (const name of args.frameworks.split(',')) {
  const fw = FRAMEWORKS[name];
  if (!fw) throw new Error(`unknown framework ${name}; known: ${Object.keys(FRAMEWORKS).join(', ')}`);
  const unable = [...sides.bare.without, ...sides.headroom.without].filter((p) => !fw.partSwitches?.includes(p));
  if (unable.length > 0) {
    const able = Object.entries(FRAMEWORKS)
      .filter(([, f]) => f.partSwitches)
      .map(([k, f]) => `${k} (${f.partSwitches!.join(', ')})`);
    throw new Error(
      `${name}: its bench app cannot switch off ${unable.join(', ')} (headroom-without:…); apps that can: ${able.join('; ')}`,
    );
  }
  fw.prepare?.();
  console.log(`${name}: ${warmupOf(fw)} s of load on each fresh process before measuring`);
  const s: Samples = {
    rps: { bare: [], headroom: [] },
    cpu: { bare: [], headroom: [] },
    p99: { bare: [], headroom: [] },
    p99Added: [],
    allocated: { bare: [], headroom: [] },
    rss: { bare: [], headroom: [] },
    heap: { bare: [], headroom: [] },
    live: { bare: [], headroom: [] },
    redone: 0,
    noisy: 0,
  };
  const perRound = { ratio: [] as number[], cpuRatio: [] as number[], added: [] as number[], allocated: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const from = s.p99Added.length;
    await round(name, fw, i, { slices, slice, connections, maxNoise, warmup: warmupOf(fw) }, s);
    const at = (xs: number[]): number[] => xs.slice(from);
    perRound.ratio.push(median(at(s.rps.headroom)) / median(at(s.rps.bare)));
    perRound.cpuRatio.push(median(at(s.cpu.bare)) / median(at(s.cpu.headroom)));
    perRound.added.push(median(at(s.p99Added)));
    perRound.allocated.push(s.allocated.headroom.at(-1)! - s.allocated.bare.at(-1)!);
    console.log(
      `  ${name} round ${i + 1}: req/s bare ${fmt(at(s.rps.bare))} | headroom ${fmt(at(s.rps.headroom))}; ` +
        `p99 µs bare ${fmt(at(s.p99.bare))} | headroom ${fmt(at(s.p99.headroom))}; ` +
        `CPU µs/req bare ${fmt1(at(s.cpu.bare))} | headroom ${fmt1(at(s.cpu.headroom))}; ` +
        `allocated B/req bare ${fmt(s.allocated.bare.slice(-1))} | headroom ${fmt(s.allocated.headroom.slice(-1))}; ` +
        `RSS MiB at the end (V8 heap, young generation) bare ${memoryAt(s, 'bare', -1)} | headroom ${memoryAt(s, 'headroom', -1)}; ` +
        `live heap MiB after a full GC bare ${fmt1(s.live.bare.slice(-1))} | headroom ${fmt1(s.live.headroom.slice(-1))}`,
    );
  }
  // Ratios are averaged on the log scale (a 0.9 and a 1.1 round are not "1.0 on average" in rate terms).
  const logRatio = meanCi(perRound.ratio.map(Math.log));
  const logCpuRatio = meanCi(perRound.cpuRatio.map(Math.log));
  const ratioCi = (c: { mean: number; low: number; high: number }): string =>
    `${Math.exp(c.mean).toFixed(3)} (${Math.exp(c.low).toFixed(3)} … ${Math.exp(c.high).toFixed(3)})`;
  const addedCi = meanCi(perRound.added);
  const allocatedCi = meanCi(perRound.allocated);
  console.log(
    `  ${name}: per round: req/s ratio ${perRound.ratio.map((r) => r.toFixed(3)).join(' ')}; CPU ratio ${perRound.cpuRatio.map((r) => r.toFixed(3)).join(' ')}; added p99 µs ${perRound.added.map(signed).join(' ')}`,
  );
  const med = (xs: number[], digits = 0): string => median(xs).toFixed(digits);
  const memory = (v: Variant): string => `${med(s.rss[v])} (${med(s.heap[v].map((h) => h.heap))}, ${med(s.heap[v].map((h) => h.young))})`;
  console.log(
    `  ${name}: RSS at the end of a round (V8 heap, young generation), median MiB: bare ${memory('bare')}, headroom ${memory('headroom')}; ` +
      `then live heap after a full GC: bare ${med(s.live.bare, 1)}, headroom ${med(s.live.headroom, 1)}`,
  );
  console.log(`  ${name}: ${s.redone} pairs measured again for noise from other processes, ${s.noisy} kept noisy after 4 attempts`);
  rows.push(
    `| ${name} | ${rounds} | ${med(s.rps.bare)} / ${med(s.rps.headroom)} | ${ratioCi(logRatio)} | ` +
      `${med(s.cpu.bare, 1)} / ${med(s.cpu.headroom, 1)} | ${ratioCi(logCpuRatio)} | ` +
      `${med(s.p99.bare)} / ${med(s.p99.headroom)} | ${signed(addedCi.mean)} (${signed(addedCi.low)} … ${signed(addedCi.high)}) | ` +
      `${med(s.allocated.bare)} / ${med(s.allocated.headroom)} | ${signed(allocatedCi.mean)} (${signed(allocatedCi.low)} … ${signed(allocatedCi.high)}) |`,
  );
}
console.log(
  `load average at end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(
  '\nMeans over rounds (each a fresh pair of processes), 95 % confidence intervals in brackets; other columns are medians over all pairs.',
);
console.log(
  '\n| framework | rounds | req/s bare / headroom | req/s ratio | server CPU µs/request bare / headroom | CPU-bound throughput ratio (≥ 0.97) | p99 µs bare / headroom | added p99 µs (≤ 50) | V8 heap bytes allocated/request bare / headroom | added bytes/request |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
