// bench/adapters: what headroom's adapter costs an app. For each framework, the same app with one
// JSON route runs bare and with the adapter (shared monitor sampling, shedding check, in-flight
// tracking, health and metrics routes mounted), each in its own child process, in alternating
// rounds so machine noise hits both alike.
//  - throughput: wrk -t1 -c<connections>, requests/s of GET /app/hello; ratio of medians (target ≥ 0.97)
//  - latency:    wrk -t1 -c1 --latency, p99 of GET /app/hello; added p99 = median(adapter) − median(bare)
//                (target ≤ 50 µs)
// Usage: npm run bench -- adapters [--frameworks fastify,express,nest-express,nest-fastify,next]
//        [--rounds 5] [--duration 5] [--connections 32]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    frameworks: { type: 'string', default: 'fastify,express,nest-express,nest-fastify,next' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
  },
});

interface Framework {
  /** Starts the app; `variant` is "bare" or "headroom". Prints HEADROOM_FIXTURE_LISTENING <url>. */
  command(variant: Variant): { cmd: string; argv: string[]; env?: Record<string, string>; cwd?: string };
  /** Runs once before the rounds (e.g. next build). */
  prepare?(): void;
}
type Variant = 'bare' | 'headroom';

const tsApp = (file: string): Framework => ({
  command: (variant) => ({ cmd: process.execPath, argv: ['--import', 'tsx', join(here, 'apps', file)], env: { BENCH_VARIANT: variant } }),
});

const FRAMEWORKS: Record<string, Framework> = {
  fastify: tsApp('fastify.ts'),
  express: tsApp('express.ts'),
  'nest-express': tsApp('nest-express.ts'),
  'nest-fastify': tsApp('nest-fastify.ts'),
  next: {
    prepare: () => execFileSync(process.execPath, [join(here, 'apps', 'next', 'prepare.mjs')], { stdio: 'inherit' }),
    command: (variant) => ({
      cmd: process.execPath,
      argv: [join(here, 'apps', 'next', 'server.mjs')],
      env: { BENCH_VARIANT: variant },
      cwd: join(here, 'apps', 'next'),
    }),
  },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function start(fw: Framework, variant: Variant): Promise<{ url: string; child: ChildProcess }> {
  const c = fw.command(variant);
  const child = spawn(c.cmd, c.argv, {
    cwd: c.cwd,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', ...c.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    for await (const line of lines) {
      const m = /^HEADROOM_FIXTURE_LISTENING (\S+)/.exec(line);
      if (m) return { url: m[1]!, child };
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

const UNIT: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000 };

function wrk(url: string, connections: number, seconds: number, latency: boolean): { rps: number; p99us: number } {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, ...(latency ? ['--latency'] : []), url], {
    encoding: 'utf8',
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)$/m.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`${url}: ${non2xx[1]} non-2xx responses`);
  return { rps, p99us: p99 ? Number(p99[1]) * UNIT[p99[2]!]! : Number.NaN };
}

async function measure(fw: Framework, variant: Variant, o: { duration: number; connections: number }) {
  const { url, child } = await start(fw, variant);
  try {
    const target = `${url}/app/hello`;
    wrk(target, o.connections, 1, false); // warm-up: JIT and connection pools
    const { rps } = wrk(target, o.connections, o.duration, false);
    const { p99us } = wrk(target, 1, o.duration, true);
    return { rps, p99us };
  } finally {
    await stop(child);
  }
}

const rounds = Number(args.rounds);
const duration = Number(args.duration);
const connections = Number(args.connections);
const rows: string[] = [];
console.log(
  `bench/adapters: ${rounds} rounds, ${duration} s per run, ${connections} connections (latency: 1 connection); node ${process.version}`,
);
for (const name of args.frameworks.split(',')) {
  const fw = FRAMEWORKS[name];
  if (!fw) throw new Error(`unknown framework ${name}; known: ${Object.keys(FRAMEWORKS).join(', ')}`);
  fw.prepare?.();
  const r: Record<Variant, { rps: number[]; p99: number[] }> = { bare: { rps: [], p99: [] }, headroom: { rps: [], p99: [] } };
  for (let i = 0; i < rounds; i++) {
    // Alternate which variant goes first, so a drift in machine load does not favour one.
    const order: Variant[] = i % 2 ? ['headroom', 'bare'] : ['bare', 'headroom'];
    for (const v of order) {
      const m = await measure(fw, v, { duration, connections });
      r[v].rps.push(m.rps);
      r[v].p99.push(m.p99us);
      console.log(`  ${name} ${v.padEnd(8)} round ${i + 1}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99us.toFixed(0)} µs (1 connection)`);
    }
  }
  const ratio = median(r.headroom.rps) / median(r.bare.rps);
  const added = median(r.headroom.p99) - median(r.bare.p99);
  rows.push(
    `| ${name} | ${median(r.bare.rps).toFixed(0)} | ${median(r.headroom.rps).toFixed(0)} | ${ratio.toFixed(3)} | ${median(r.bare.p99).toFixed(0)} | ${median(r.headroom.p99).toFixed(0)} | ${added >= 0 ? '+' : ''}${added.toFixed(0)} |`,
  );
}
console.log(
  '\n| framework | bare req/s | with headroom req/s | ratio (≥ 0.97) | bare p99 µs | with headroom p99 µs | added p99 µs (≤ 50) |',
);
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
