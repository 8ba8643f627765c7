// bench/proxy: the streaming proxy against its Node peers, each server in its own child process.
//  1. throughput  1 KB GET, keep-alive, 64 connections: direct upstream, headroom (every feature on:
//                 admission + memory breaker, response cache lookup, header rules, token injection,
//                 path checks), @fastify/http-proxy, http-proxy (keep-alive agent), and for reference
//                 a featureless node:http + undici Pool.stream proxy (bare-undici). Req/s (wrk when on
//                 PATH, else autocannon) and the proxy process's CPU time per request. Median of runs.
//  2. memory      N concurrent downloads of S MB each (default 64 × 32 MB; the issue's full run is
//                 --size-mb 256), half of them reading slowly: peak RSS growth of the proxy process
//                 over its idle RSS, for headroom and each peer.
//  3. overload    a flood (autocannon, 200 connections) whose requests each hold 16 MB of heap for
//                 500 ms, against servers with --max-old-space-size=512: headroom admission
//                 (createAdmission, defaults) vs plain Fastify vs @fastify/under-pressure (heap limit
//                 at 80 % of the heap limit). Crash or not, 2xx/503 counts, peak heap.
// Usage: npm run bench -- proxy [--scenario all|throughput|memory|overload] [--runs 3] [--duration 8]
//        [--connections 64] [--tool wrk|autocannon] [--downloads 64] [--size-mb 32] [--flood-seconds 10]
//        [--max-concurrent 64]   (headroom's MAX_CONCURRENT_CONNECTIONS in the throughput run; 20 is the default)
//        [--proxies headroom,fastify-http-proxy,http-proxy]   (memory: which proxies to run)
//        [--warmup MB]           (memory: the same downloads at MB each before the idle baseline; 0 = cold)
//        GC_ASSIST=BYTES in the environment sets headroom's gcAssistBytes (PROXY_GC_ASSIST; 0 = off)
//        [--cpu-prof DIR]        (throughput: write a V8 CPU profile of each proxy child into DIR)
//        [--loader plain|tsx]    (children as plain node on an esbuild bundle of this file, or under tsx)
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import autocannon from 'autocannon';
import { median } from '../src/soak/stats.js';
import { bundleForNode } from './_bundle.js';

const self = fileURLToPath(import.meta.url);
const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    upstream: { type: 'string' },
    scenario: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '64' },
    tool: { type: 'string' },
    downloads: { type: 'string', default: '64' },
    'size-mb': { type: 'string', default: '32' },
    'flood-seconds': { type: 'string', default: '10' },
    'max-concurrent': { type: 'string', default: '64' },
    'cpu-prof': { type: 'string' },
    proxies: { type: 'string', default: 'headroom,fastify-http-proxy,http-proxy' },
    warmup: { type: 'string', default: '0' },
    loader: { type: 'string', default: 'plain' },
  },
});

const MiB = 2 ** 20;
const ONE_KB = Buffer.alloc(1024, 97);

// ---------- child processes: each serves, then answers IPC ('stats' → rss peak, cpu; 'reset') ----------

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function upstreamServer(): http.Server {
  const chunk = Buffer.alloc(256 * 1024, 98);
  return http.createServer((req, res) => {
    const mb = /[?&]mb=(\d+)/.exec(req.url ?? '');
    if (!mb) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': ONE_KB.length });
      res.end(ONE_KB);
      return;
    }
    const size = Number(mb[1]) * MiB;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    res.on('close', () => (sent = size));
  });
}

async function child(role: string): Promise<void> {
  const upstream = args.upstream ?? '';
  let port: number;
  if (role === 'upstream') {
    port = await listen(upstreamServer());
  } else if (role === 'headroom') {
    const { default: Fastify } = await import('fastify');
    const { createAdmission, createProxy } = await import('../src/proxy/index.js');
    const { createCache } = await import('../src/cache/index.js');
    const { proxyRoutes } = await import('../src/server/routes/proxy.js');
    const admission = createAdmission({
      maxConcurrent: Number(args['max-concurrent']),
      queueSize: 100,
      queueTimeout: 5_000,
      memoryThresholdPercent: 80,
    });
    const cache = createCache({});
    const proxy = createProxy({
      upstreamUrl: upstream,
      upstreamToken: 'bench-token',
      admission,
      cache,
      maxBufferSize: 10 * MiB,
      streamTimeout: 30_000,
      gcAssistBytes: process.env.GC_ASSIST === undefined ? undefined : Number(process.env.GC_ASSIST),
    });
    const app = Fastify();
    await app.register(proxyRoutes, { proxy });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  } else if (role === 'fastify-http-proxy') {
    const { default: Fastify } = await import('fastify');
    const { default: httpProxy } = await import('@fastify/http-proxy');
    const app = Fastify();
    await app.register(httpProxy, { upstream, prefix: '/api' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  } else if (role === 'bare-undici') {
    // Reference only (no features): node:http + undici Pool.stream, the issue's "bare" proxy.
    const { Pool } = await import('undici');
    const pool = new Pool(upstream, { connections: 64 });
    port = await listen(
      http.createServer((req, res) => {
        pool.stream(
          {
            path: (req.url ?? '/').replace(/^\/api/, '') || '/',
            method: 'GET',
            headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' },
          },
          ({ statusCode, headers }) => {
            res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
            return res;
          },
          (err) => {
            if (err) res.destroy();
          },
        );
      }),
    );
  } else if (role === 'http-proxy') {
    const { default: HttpProxy } = await import('http-proxy');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    const proxy = HttpProxy.createProxyServer({ target: upstream, agent });
    proxy.on('error', (_err, _req, res) => {
      if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    port = await listen(
      http.createServer((req, res) => {
        req.url = (req.url ?? '/').replace(/^\/api/, '') || '/';
        proxy.web(req, res);
      }),
    );
  } else {
    port = await overloadServer(role);
  }
  let peak = process.memoryUsage.rss();
  let cpu0 = process.cpuUsage();
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  sampler.unref();
  process.on('message', (m) => {
    if (m === 'reset') {
      globalThis.gc?.();
      peak = process.memoryUsage.rss();
      cpu0 = process.cpuUsage();
      process.send!({ rss: peak });
    } else if (m === 'exit') {
      process.exit(0); // a normal exit, so --cpu-prof writes its profile
    } else if (m === 'stats') {
      const c = process.cpuUsage(cpu0);
      process.send!({ peakRss: peak, rss: process.memoryUsage.rss(), cpuMs: (c.user + c.system) / 1000 });
    }
  });
  process.send!({ port });
}

// Overload children: GET /work holds 16 MB of heap for 500 ms.
async function overloadServer(role: string): Promise<number> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  let peakHeap = 0;
  const t = setInterval(() => (peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size)), 20);
  t.unref();
  const work = async (): Promise<{ ok: number }> => {
    const hold = new Array<number>(2 * 1024 * 1024).fill(1.5); // 16 MiB of doubles on the V8 heap
    await new Promise((r) => setTimeout(r, 500));
    return { ok: hold.length };
  };
  if (role === 'overload-headroom') {
    const { createAdmission } = await import('../src/proxy/index.js');
    const { HeadroomError } = await import('../src/errors.js');
    const admission = createAdmission({ maxConcurrent: 20, queueSize: 100, queueTimeout: 5_000, memoryThresholdPercent: 80 });
    app.get('/work', async (_req, reply) => {
      let release;
      try {
        release = await admission.acquire();
      } catch (err) {
        if (err instanceof HeadroomError) return reply.code(err.statusCode).headers(err.headers).send(err.toJSON());
        throw err;
      }
      try {
        return await work();
      } finally {
        release();
      }
    });
  } else if (role === 'overload-under-pressure') {
    const { default: underPressure } = await import('@fastify/under-pressure');
    await app.register(underPressure, {
      maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.8),
      sampleInterval: 100,
      retryAfter: 1,
    });
    app.get('/work', work);
  } else {
    app.get('/work', work);
  }
  app.get('/peak-heap', async () => ({ peakHeap, limit: getHeapStatistics().heap_size_limit }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

// ---------- orchestration ----------

interface Child {
  proc: ChildProcess;
  port: number;
  ask(msg: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * How the children run: `plain` (default) node on this file bundled once (_bundle.ts), as
 * production runs compiled JS; `tsx` through the loader.
 * Under tsx, the TypeScript loader's start-up allocations (a ~44 MiB malloc peak) were sometimes
 * returned to the OS before the idle baseline and sometimes kept, which moved every proxy's
 * "growth over idle" by up to ~25 MiB from one run to the next.
 */
let childScript: Promise<{ script: string; loader: string[] }> | undefined;
function childEntry(): Promise<{ script: string; loader: string[] }> {
  childScript ??= (async () => {
    if (args.loader === 'tsx') return { script: self, loader: ['--import', 'tsx'] };
    if (args.loader !== 'plain') throw new Error(`--loader must be plain or tsx, not ${args.loader}`);
    // One bundle per run: checkouts that share node_modules may run this bench at the same time.
    return { script: await bundleForNode(self, `proxy-bench-${process.pid}.mjs`), loader: [] };
  })();
  return childScript;
}

async function spawnChild(role: string, extra: string[] = [], nodeArgs: string[] = []): Promise<Child> {
  const { script, loader } = await childEntry();
  const proc = fork(script, ['--child', role, ...extra], {
    execArgv: [...loader, '--expose-gc', ...nodeArgs],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ port }] = (await once(proc, 'message')) as [{ port: number }];
  const ask = async (msg: string): Promise<Record<string, number>> => {
    const reply = once(proc, 'message') as Promise<[Record<string, number>]>;
    proc.send(msg);
    return (await reply)[0];
  };
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  };
  return { proc, port, ask, stop };
}

function haveWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1; // wrk --version exits 1 but exists
  }
}

async function load(
  url: string,
  seconds: number,
  connections: number,
  tool: string,
): Promise<{ rps: number; requests: number; errors: number }> {
  if (tool === 'wrk') {
    const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, url], { encoding: 'utf8' });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    return { rps, requests, errors: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) };
  }
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  return { rps: r.requests.average, requests: r.requests.total, errors: r.errors + r.non2xx };
}

async function throughput(): Promise<void> {
  const runs = Number(args.runs);
  const seconds = Number(args.duration);
  const connections = Number(args.connections);
  const tool = args.tool ?? (haveWrk() ? 'wrk' : 'autocannon');
  const up = await spawnChild('upstream');
  const upstream = `http://127.0.0.1:${up.port}`;
  const peers = ['headroom', 'fastify-http-proxy', 'http-proxy', 'bare-undici'];
  const children = new Map<string, Child>();
  // One directory per child: the tsx loader thread writes a profile of its own.
  const prof = (p: string): string[] => (args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}/${p}`] : []);
  for (const p of peers) children.set(p, await spawnChild(p, ['--upstream', upstream], prof(p)));
  const rps = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const paired: number[] = []; // per run: headroom ÷ the faster peer of that run
  console.log(
    `throughput: 1 KB GET, ${connections} connections, ${seconds} s × ${runs} runs, tool ${tool}, headroom MAX_CONCURRENT_CONNECTIONS=${args['max-concurrent']}`,
  );
  try {
    for (let run = 0; run < runs; run++) {
      // Rotate the order each run so no target always goes first on a noisy machine.
      const order = ['direct', ...peers];
      for (let i = 0; i < run; i++) order.push(order.shift()!);
      for (const name of order) {
        const c = name === 'direct' ? up : children.get(name)!;
        const url = name === 'direct' ? `${upstream}/x` : `http://127.0.0.1:${c.port}/api/x`;
        await load(url, 2, connections, tool); // warm-up: JIT, keep-alive pools
        await c.ask('reset');
        const r = await load(url, seconds, connections, tool);
        const s = await c.ask('stats');
        (rps.get(name) ?? rps.set(name, []).get(name)!).push(r.rps);
        (cpu.get(name) ?? cpu.set(name, []).get(name)!).push((s.cpuMs! * 1000) / Math.max(1, r.requests));
        console.log(
          `  run ${run + 1} ${name.padEnd(20)} ${r.rps.toFixed(0).padStart(7)} req/s  ${((s.cpuMs! * 1000) / Math.max(1, r.requests)).toFixed(1).padStart(6)} µs CPU/req  errors ${r.errors}`,
        );
      }
      const last = (n: string): number => rps.get(n)!.at(-1)!;
      paired.push(last('headroom') / Math.max(last('fastify-http-proxy'), last('http-proxy')));
    }
  } finally {
    if (args['cpu-prof']) {
      for (const c of children.values()) {
        const exited = once(c.proc, 'exit');
        c.proc.send('exit');
        await exited;
      }
    }
    for (const c of [up, ...children.values()]) await c.stop();
  }
  const m = (n: string): number => median(rps.get(n)!);
  const mc = (n: string): number => median(cpu.get(n)!);
  const fastestPeer = Math.max(m('fastify-http-proxy'), m('http-proxy'));
  console.log('\n| target | req/s (median) | CPU µs/req (median) | headroom ÷ target |');
  console.log('|---|---:|---:|---:|');
  for (const n of ['direct', ...peers])
    console.log(`| ${n} | ${m(n).toFixed(0)} | ${mc(n).toFixed(1)} | ${(m('headroom') / m(n)).toFixed(2)} |`);
  const ratio = m('headroom') / fastestPeer;
  const pairedRatio = median(paired);
  const cpuRatio = Math.min(mc('fastify-http-proxy'), mc('http-proxy')) / mc('headroom');
  console.log(
    `\nheadroom vs fastest Node peer: ${ratio.toFixed(2)}× on medians, ${pairedRatio.toFixed(2)}× median of per-run ratios (${paired.map((x) => x.toFixed(2)).join(', ')}); target ≥ 1.25× (both): ${Math.min(ratio, pairedRatio) >= 1.25 ? 'met' : 'NOT met'}`,
  );
  console.log(`CPU per request: the cheapest peer uses ${cpuRatio.toFixed(2)}× headroom's CPU time per request`);
}

async function memory(): Promise<void> {
  const downloads = Number(args.downloads);
  const sizeMb = Number(args['size-mb']);
  const warmupMb = Number(args.warmup);
  const up = await spawnChild('upstream');
  const upstream = `http://127.0.0.1:${up.port}`;
  console.log(
    `\nmemory: ${downloads} concurrent downloads × ${sizeMb} MB, half reading slowly; proxy RSS growth over idle (${warmupMb > 0 ? `warm: after ${downloads} × ${warmupMb} MB` : 'cold: after one small request'})`,
  );
  const rows: string[] = [];
  try {
    for (const name of ['headroom', 'fastify-http-proxy', 'http-proxy'].filter((n) => args.proxies!.split(',').includes(n))) {
      const c = await spawnChild(name, ['--upstream', upstream]);
      try {
        // Idle baseline after one small request has loaded every code path; with --warmup MB,
        // after the same downloads at that size first, so the baseline is a server that has
        // served traffic (its hot paths JIT-compiled: TurboFan's compile memory is malloc'ed,
        // freed, and kept by glibc, a one-off ~25 MiB step that does not grow with the bodies).
        await getBody(`http://127.0.0.1:${c.port}/api/x`);
        if (warmupMb > 0) {
          await Promise.all(
            Array.from({ length: downloads }, (_, i) => drain(`http://127.0.0.1:${c.port}/api/big?mb=${warmupMb}&i=w${i}`, i % 2 === 1)),
          );
        }
        await new Promise((r) => setTimeout(r, 200));
        const idle = (await c.ask('reset')).rss!;
        const t0 = performance.now();
        const results = await Promise.all(
          Array.from({ length: downloads }, (_, i) => drain(`http://127.0.0.1:${c.port}/api/big?mb=${sizeMb}&i=${i}`, i % 2 === 1)),
        );
        const secs = (performance.now() - t0) / 1000;
        const s = await c.ask('stats');
        const ok = results.filter((b) => b === sizeMb * MiB).length;
        const growth = (s.peakRss! - idle) / MiB;
        rows.push(`| ${name} | ${(idle / MiB).toFixed(0)} | ${growth.toFixed(1)} | ${ok}/${downloads} | ${secs.toFixed(1)} |`);
        console.log(
          `  ${name.padEnd(20)} idle ${(idle / MiB).toFixed(0)} MiB, peak growth ${growth.toFixed(1)} MiB, complete ${ok}/${downloads}, ${secs.toFixed(1)} s`,
        );
      } finally {
        await c.stop();
      }
    }
  } finally {
    await up.stop();
  }
  console.log('\n| proxy | idle RSS MiB | peak RSS growth MiB | complete | seconds |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

function getBody(url: string): Promise<void> {
  return new Promise((resolve, reject) => http.get(url, { agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject));
}

/** Downloads a URL; a slow reader pauses 20 ms after every MiB. Resolves with the byte count. */
function drain(url: string, slow: boolean): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          const before = bytes;
          bytes += c.length;
          if (slow && Math.floor(before / MiB) !== Math.floor(bytes / MiB)) {
            res.pause();
            setTimeout(() => res.resume(), 20);
          }
        });
        res.on('close', () => resolve(bytes));
      })
      .on('error', () => resolve(-1));
  });
}

async function overload(): Promise<void> {
  const seconds = Number(args['flood-seconds']);
  console.log(
    `\noverload: ${seconds} s flood, 200 connections, each request holds 16 MB of heap for 500 ms; servers run with --max-old-space-size=512`,
  );
  const rows: string[] = [];
  for (const [name, role] of [
    ['headroom admission', 'overload-headroom'],
    ['plain Fastify', 'overload-plain'],
    ['@fastify/under-pressure', 'overload-under-pressure'],
  ] as const) {
    const c = await spawnChild(role, [], ['--max-old-space-size=512']);
    let exitCode: number | null = null;
    c.proc.on('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : 0)));
    try {
      const r = await autocannon({ url: `http://127.0.0.1:${c.port}/work`, connections: 200, duration: seconds, timeout: 10 });
      const crashed = exitCode !== null || c.proc.exitCode !== null;
      let peak = 'n/a (crashed)';
      if (!crashed) {
        const p = JSON.parse(await getText(`http://127.0.0.1:${c.port}/peak-heap`)) as { peakHeap: number; limit: number };
        peak = `${(p.peakHeap / MiB).toFixed(0)} MiB of ${(p.limit / MiB).toFixed(0)}`;
      }
      const s503 = (r as unknown as Record<string, number>)['5xx'] ?? 0;
      rows.push(`| ${name} | ${crashed ? '**crashed**' : 'no'} | ${r['2xx']} | ${s503} | ${r.errors + r.timeouts} | ${peak} |`);
      console.log(
        `  ${name.padEnd(24)} crashed=${crashed} 2xx=${r['2xx']} 5xx=${s503} errors=${r.errors} timeouts=${r.timeouts} peak heap ${peak}`,
      );
    } finally {
      await c.stop();
    }
  }
  console.log('\n| server | crashed | 2xx | 503 | socket errors/timeouts | peak heap used |');
  console.log('|---|---|---:|---:|---:|---|');
  for (const r of rows) console.log(r);
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) =>
    http
      .get(url, (res) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c));
        res.on('end', () => resolve(s));
      })
      .on('error', reject),
  );
}

if (args.child) {
  await child(args.child);
} else {
  const sc = args.scenario;
  try {
    if (sc === 'all' || sc === 'throughput') await throughput();
    if (sc === 'all' || sc === 'memory') await memory();
    if (sc === 'all' || sc === 'overload') await overload();
  } finally {
    if (childScript && args.loader === 'plain') rmSync((await childScript).script, { force: true });
  }
}
