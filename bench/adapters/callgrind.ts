// bench/adapters/callgrind.ts: instructions per request of the bench apps, bare and with headroom,
// counted by valgrind's callgrind: far steadier than wall-clock throughput on a shared VM.
//
//   npm run bench -- adapters/callgrind [--frameworks fastify,nest-fastify,express,nest-express,next] [--requests 2000]
//        [--warmup 3000] [--jitless] [--keep DIR] [--only bare|headroom] [--whole] [--dist DIR]
//
// Each app runs under callgrind collecting only inside node::LibuvStreamWrap::OnUvRead on the main
// thread: a request's whole path (parsing, hooks, handler, the response write, the microtasks and
// nextTicks that finish it, the scavenges it triggers) runs inside that callback. Timers (the
// monitor's sampling) and idle-time GC tasks are not in it: they cost per second, not per request.
// After a warm-up over one keep-alive connection the counters are dumped and discarded
// (callgrind_control), then `--requests` sequential requests are sent and dumped again. With the
// JIT, runs of the same build still differ by about ±1 % (tiering, deoptimisations): compare
// several. `--keep DIR` keeps the dump and V8's code map (to name JIT code) for callgrind_annotate.
// `--whole` counts everything the main thread does between the dumps instead (timers, write
// completions, idle-time GC tasks: work a request causes outside its read callback, and the
// per-second work, stretched by valgrind's slowness). The environment reaches the apps: `BENCH_WITHOUT=monitor … --only headroom` measures headroom with
// its monitor stopped (the apps refuse BENCH_WITHOUT on the bare variant, the Next.js app ignores it).
// The apps load headroom compiled by tsc (dist.ts; `--dist DIR` another compile, e.g. an older commit's dist/).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { headroomDist } from './dist.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Each app's node arguments (after the flags below) and working directory; `prepare` runs once first. */
const APPS: Record<string, { argv: string[]; cwd?: string; prepare?: () => void }> = {
  fastify: { argv: ['--import', 'tsx', join(here, 'apps', 'fastify.ts')] },
  'nest-fastify': { argv: ['--import', 'tsx', join(here, 'apps', 'nest-fastify.ts')] },
  express: { argv: ['--import', 'tsx', join(here, 'apps', 'express.ts')] },
  'nest-express': { argv: ['--import', 'tsx', join(here, 'apps', 'nest-express.ts')] },
  // The built Next.js app on Next's programmatic server (a request is ~50 times slower under valgrind:
  // fewer requests do, e.g. --warmup 1000 --requests 300).
  next: {
    argv: [join(here, 'apps', 'next', 'server.mjs')],
    cwd: join(here, 'apps', 'next'),
    prepare: () => execFileSync(process.execPath, [join(here, 'apps', 'next', 'prepare.mjs')], { stdio: 'inherit' }),
  },
};
const { values: args } = parseArgs({
  options: {
    frameworks: { type: 'string', default: 'fastify,nest-fastify,express,nest-express' },
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3000' },
    jitless: { type: 'boolean', default: false },
    keep: { type: 'string' },
    only: { type: 'string' },
    whole: { type: 'boolean', default: false },
    dist: { type: 'string' },
  },
});
const frameworks = args.frameworks.split(',');
for (const f of frameworks) if (!APPS[f]) throw new Error(`--frameworks: unknown ${f}; known: ${Object.keys(APPS).join(', ')}`);
const count = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`--${name}=${v}: must be an integer from 1 to 1000000`);
  return n;
};
const requests = count('requests', args.requests);
const warmup = count('warmup', args.warmup);

/** `n` sequential GET /app/hello on the agent's one keep-alive connection; every answer must be 200. */
async function send(url: string, agent: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      request(`${url}/app/hello`, { agent }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`GET /app/hello answered ${res.statusCode}`));
        res.resume().once('end', resolve);
      })
        .once('error', reject)
        .end();
    });
  }
}

/** Instructions (Ir) in a callgrind output file: the `totals:` or `summary:` line. */
function totalIr(file: string): number {
  const m = /^(?:totals|summary): (\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${file}: no totals line`);
  return Number(m[1]);
}

async function measure(framework: string, variant: 'bare' | 'headroom', dir: string): Promise<number> {
  const out = join(dir, `${framework}-${variant}.out`);
  const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', BENCH_VARIANT: variant, BENCH_HEADROOM_DIST: dist };
  const child: ChildProcess = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      ...(args.whole ? [] : ['--collect-atstart=no', '--toggle-collect=node::LibuvStreamWrap::OnUvRead*']),
      '--separate-threads=yes', // one file per thread: only the main thread's (-01) is counted
      `--callgrind-out-file=${out}`,
      process.execPath,
      ...(args.jitless ? ['--jitless'] : []),
      // A small fixed young generation: a scavenge every few hundred requests in both variants, so
      // the window holds many (with V8's default sizing, one scavenge more or less in the window
      // moved the result by over 1 %).
      '--min-semi-space-size=1',
      '--max-semi-space-size=1',
      // With --keep, V8 lists its generated code in /tmp/perf-<pid>.map (copied beside the dump) to name callgrind's ??? addresses.
      ...(args.keep ? ['--perf-basic-prof', `--logfile=${join(dir, 'v8.log')}`, '--no-logfile-per-isolate'] : []),
      ...APPS[framework]!.argv,
    ],
    {
      env,
      cwd: APPS[framework]!.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stderr: string[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(String(b)));
  try {
    let url: string | undefined;
    for await (const line of createInterface({ input: child.stdout! })) {
      url = /^HEADROOM_FIXTURE_LISTENING (\S+)/.exec(line)?.[1];
      if (url) break;
    }
    if (!url) throw new Error(`${framework} ${variant} exited before listening:\n${stderr.join('')}`);
    // Warm-up and measurement on the same connection: a new one deoptimises some of Node's stream
    // code (new objects' maps), and its reoptimisation, slow under valgrind, would land in the window.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    await send(url, agent, warmup);
    // Each dump zeroes the counters and is written to `<out>.<n>` once the main thread next runs.
    let dumps = 0;
    const dump = async (): Promise<string> => {
      // Same environment as the app: valgrind names its vgdb pipes after $HOST, which the app's env sets.
      execFileSync('callgrind_control', ['--dump', String(child.pid)], { env, stdio: 'ignore' });
      const file = `${out}.${++dumps}-01`;
      for (let i = 0; i < 600 && !(existsSync(file) && /^totals: /m.test(readFileSync(file, 'utf8'))); i++) await delay(100);
      if (!existsSync(file)) throw new Error(`callgrind wrote no ${file} within 60 s`);
      return file;
    };
    await dump(); // the warm-up, discarded
    await send(url, agent, requests);
    agent.destroy();
    const file = await dump();
    if (args.keep) {
      const name = join(args.keep, `${framework}-${variant}${args.jitless ? '-jitless' : ''}`);
      copyFileSync(file, `${name}.callgrind`);
      copyFileSync(`/tmp/perf-${child.pid}.map`, `${name}.map`);
    }
    return totalIr(file) / requests;
  } finally {
    if (args.keep) rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
    // SIGTERM lets valgrind remove its vgdb pipes from /tmp; SIGKILL if it does not exit.
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await once(child, 'exit');
      clearTimeout(killer);
    }
  }
}

const dist = headroomDist(args.dist);
for (const framework of frameworks) APPS[framework]!.prepare?.();
const dir = mkdtempSync(join(tmpdir(), 'headroom-callgrind-'));
if (args.keep) mkdirSync(args.keep, { recursive: true }); // before minutes of valgrind, not after
try {
  console.log(
    `instructions per request (callgrind, ${warmup} warm-up + ${requests} requests${args.jitless ? ', --jitless' : ''}${args.whole ? ', the whole main thread' : ''})`,
  );
  console.log('| framework | bare | with headroom | added | added % |');
  console.log('|---|---|---|---|---|');
  for (const framework of frameworks) {
    if (args.only === 'bare' || args.only === 'headroom') {
      console.log(`${framework} ${args.only}: ${Math.round(await measure(framework, args.only, dir))}`);
      continue;
    }
    const bare = await measure(framework, 'bare', dir);
    const withHeadroom = await measure(framework, 'headroom', dir);
    const added = withHeadroom - bare;
    const k = (n: number): string => `${Math.round(n).toLocaleString('en-US')}`;
    console.log(
      `| ${framework} | ${k(bare)} | ${k(withHeadroom)} | ${added >= 0 ? '+' : ''}${k(added)} | ${((added / bare) * 100).toFixed(2)} % |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
