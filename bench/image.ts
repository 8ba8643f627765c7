// Image benchmark: headroom's image service against ipx v3, each server in its own child process,
// both fetching from the same local origin over HTTP.
//   A. uncached transforms: a 2000 px JPEG resized to 400 px WebP, every request a new source URL
//   B. cached variant: the same URL over and over (ipx has no result cache)
//   C. peak RSS of the server process while 16 clients fetch transforms of distinct 24 MP sources
// Usage: npm run bench -- image [--runs 3] [--duration 4] [--connections 8] [--phases ABC]
//        [--kinds headroom,headroom-cores,ipx] [--loader plain|tsx] [--l1 MiB]
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import autocannon from 'autocannon';
import { request } from 'undici';
import { median } from '../src/soak/stats.js';
import { bundleForNode } from './_bundle.js';

// headroom runs twice: with the gateway default IMAGE_CONCURRENCY (half the cores) and with one
// transform per core, to show what the bound costs in throughput.
type Kind = 'headroom' | 'headroom-cores' | 'ipx';
const KINDS: Kind[] = ['headroom', 'headroom-cores', 'ipx'];
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '4' },
    connections: { type: 'string', default: '8' },
    // Which phases to run (A, B, C); skipped phases print 0.
    phases: { type: 'string', default: 'ABC' },
    // Which servers to run (comma-separated); skipped ones print 0.
    kinds: { type: 'string', default: KINDS.join(',') },
    // How the server children run: `plain` node (headroom's server bundled to JS first, as
    // production runs compiled JS; ipx is JS already) or both under `tsx`.
    loader: { type: 'string', default: 'plain' },
    // headroom's L1 budget in MiB; default: the gateway's (CACHE_MAX_BYTES, 64 MiB).
    l1: { type: 'string' },
  },
});

// ---------------------------------------------------------------- parent
interface Child {
  kind: Kind;
  proc: ChildProcess;
  base: string;
  path(src: string, w?: number): string;
}

/**
 * The children's command line. Each runs bench/_image-server.ts, which loads only its own server
 * (not this harness's sharp, undici or autocannon). `plain`: that file bundled once
 * (_bundle.ts), so neither server pays the ~35 MiB of a TypeScript loader that a production
 * process does not have.
 */
let childArgs: Promise<string[]> | undefined;
function childEntry(): Promise<string[]> {
  const server = join(dirname(fileURLToPath(import.meta.url)), '_image-server.ts');
  if (args.loader === 'tsx') return Promise.resolve(['--import', 'tsx', server]);
  childArgs ??= bundleForNode(server, 'image-server.mjs').then((outfile) => [outfile]);
  return childArgs;
}

async function startChild(kind: Kind, origin: string): Promise<Child> {
  const proc = spawn(process.execPath, [...(await childEntry()), kind, origin, ...(args.l1 ? [args.l1] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) resolve(JSON.parse(line!).port);
    });
    proc.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const path =
    kind !== 'ipx'
      ? (src: string, w = 400) => `/image?url=${encodeURIComponent(origin + src)}&w=${w}&format=webp`
      : (src: string, w = 400) => `/w_${w},f_webp/${origin}${src}`;
  return { kind, proc, base, path };
}

const stop = (c: Child) =>
  new Promise<void>((r) => {
    c.proc.once('exit', () => r());
    c.proc.kill('SIGTERM');
  });

function rssOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** CPU time (user + system, ms) the process has used so far. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in USER_HZ (100 on Linux)
}

async function cannon(
  c: Child,
  path: (i: number) => string,
  connections: number,
  duration: number,
): Promise<{ rps: number; errors: number; cpuPerReq: number }> {
  let i = 0;
  const cpu0 = cpuMs(c.proc.pid!);
  const r = await autocannon({
    url: c.base,
    connections,
    duration,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: path(i++) }) }],
  });
  return {
    rps: r.requests.average,
    errors: r.non2xx + r.errors + r.timeouts,
    cpuPerReq: (cpuMs(c.proc.pid!) - cpu0) / Math.max(1, r['2xx']),
  };
}

async function peakRss(c: Child, clients: number, run: number): Promise<{ baseline: number; peak: number; ms: number; ok: number }> {
  const pid = c.proc.pid!;
  // Warm up the process (code paths, thread pools) with one small transform, then settle.
  await request(c.base + c.path(`/src/warm-${run}.jpg`)).then((r) => r.body.dump());
  await new Promise((r) => setTimeout(r, 500));
  const baseline = rssOf(pid).rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid).rss)), 10);
  const t0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: clients }, (_, k) =>
      request(c.base + c.path(`/big/${run}-${k}.jpg`), { headersTimeout: 300_000, bodyTimeout: 300_000 }).then(async (r) => {
        await r.body.dump({ limit: Infinity });
        return r.statusCode;
      }),
    ),
  );
  clearInterval(sampler);
  peak = Math.max(peak, rssOf(pid).hwm);
  return { baseline, peak, ms: Date.now() - t0, ok: results.filter((s) => s === 200).length };
}

const mib = (n: number) => (n / 1024 ** 2).toFixed(1);

async function main(): Promise<void> {
  if (args.l1 !== undefined && !(Number(args.l1) > 0))
    throw new Error(`--l1 must be a positive number of MiB, got ${JSON.stringify(args.l1)}`);
  const runs = Number(args.runs);
  const duration = Number(args.duration);
  const connections = Number(args.connections);
  const noise = (w: number, h: number) => sharp(randomBytes(w * h * 3), { raw: { width: w, height: h, channels: 3 } });
  // Photo-like sources: upscaled noise compresses like a photograph, not like a flat colour.
  const src2000 = await noise(500, 333).resize(2000, 1333).jpeg({ quality: 85 }).toBuffer();
  const src24 = await noise(2000, 1333).resize(6000, 4000).jpeg({ quality: 90 }).toBuffer();
  const origin: Server = createServer((req, res) => {
    const body = req.url!.startsWith('/big/') ? src24 : src2000;
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length, 'cache-control': 'public, max-age=3600' });
    res.end(body);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  console.log(
    `sources: 2000×1333 JPEG ${mib(src2000.length)} MiB, 6000×4000 JPEG ${mib(src24.length)} MiB; node ${process.version}; sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}); servers run under ${args.loader === 'tsx' ? 'tsx' : 'plain node'}; headroom L1 ${args.l1 ? `${args.l1} MiB` : 'the gateway default (64 MiB)'}; ${runs} runs`,
  );

  const rows: Record<Kind, { a: number[]; acpu: number[]; b: number[]; peak: number[]; base: number[]; ms: number[]; errors: number }> = {
    headroom: { a: [], acpu: [], b: [], peak: [], base: [], ms: [], errors: 0 },
    'headroom-cores': { a: [], acpu: [], b: [], peak: [], base: [], ms: [], errors: 0 },
    ipx: { a: [], acpu: [], b: [], peak: [], base: [], ms: [], errors: 0 },
  };
  for (let run = 0; run < runs; run++) {
    for (const kind of KINDS.filter((k) => args.kinds!.split(',').includes(k))) {
      // A and B share a process; C gets a fresh one so its peak is not an earlier phase's.
      const phases = args.phases!.toUpperCase();
      let a = { rps: 0, errors: 0, cpuPerReq: 0 };
      let b = { rps: 0, errors: 0, cpuPerReq: 0 };
      let p = { baseline: 0, peak: 0, ms: 0, ok: 16 };
      if (phases.includes('A') || phases.includes('B')) {
        const c = await startChild(kind, originUrl);
        if (phases.includes('A')) a = await cannon(c, (i) => c.path(`/src/${run}-${i}.jpg`), connections, duration);
        await request(c.base + c.path('/src/hot.jpg')).then((r) => r.body.dump());
        if (phases.includes('B')) b = await cannon(c, () => c.path('/src/hot.jpg'), connections, duration);
        await stop(c);
      }
      if (phases.includes('C')) {
        const c = await startChild(kind, originUrl);
        p = await peakRss(c, 16, run);
        await stop(c);
      }
      const row = rows[kind];
      row.a.push(a.rps);
      row.acpu.push(a.cpuPerReq);
      row.b.push(b.rps);
      row.peak.push(p.peak);
      row.base.push(p.baseline);
      row.ms.push(p.ms);
      row.errors += a.errors + b.errors + (16 - p.ok);
      console.log(
        `run ${run + 1} ${kind.padEnd(14)} uncached ${a.rps.toFixed(1)} req/s (${a.cpuPerReq.toFixed(1)} CPU ms/req), cached ${b.rps.toFixed(0)} req/s, 16×24MP peak RSS ${mib(p.peak)} MiB (idle ${mib(p.baseline)}) in ${p.ms} ms, errors ${a.errors + b.errors + (16 - p.ok)}`,
      );
    }
  }
  origin.close();

  // Ratios are medians of the per-run ratios (both servers measured in the same run), so a
  // busy spell that slows one run for everyone does not skew them.
  const line = (name: string, series: (r: (typeof rows)[Kind]) => number[], unit: string, target: string) => {
    const scale = unit === 'MiB' ? 1024 ** 2 : 1;
    const v = (k: Kind) => median(series(rows[k])) / scale;
    const ratio = (k: Kind) =>
      median(series(rows[k]).map((x, i) => x / series(rows.ipx)[i]!))
        .toFixed(2)
        .padStart(6);
    const f = (n: number) => n.toFixed(unit === 'req/s' ? 1 : 0).padStart(9);
    console.log(
      `${name.padEnd(38)} ${f(v('headroom'))} ${ratio('headroom')}× ${f(v('headroom-cores'))} ${ratio('headroom-cores')}× ${f(v('ipx'))}   ${target}`,
    );
  };
  console.log(
    `\nmedians of ${runs} runs (ratio: median of per-run ratios)   headroom  ratio  hr@${availableParallelism()}cores  ratio       ipx   target`,
  );
  line('A uncached 2000px→400px WebP (req/s)', (r) => r.a, 'req/s', '≥ 1.0×');
  line('A CPU per uncached request (ms)', (r) => r.acpu, 'ms', '(cost only)');
  line('B cached variant (req/s)', (r) => r.b, 'req/s', '≥ 10×');
  line('C peak RSS, 16 × 24 MP at once (MiB)', (r) => r.peak, 'MiB', '≤ 0.5×');
  line('C peak RSS above idle (MiB)', (r) => r.peak.map((p, i) => p - r.base[i]!), 'MiB', '(growth only)');
  for (const k of KINDS)
    console.log(
      `   ${k}: idle RSS before C ${mib(median(rows[k].base))} MiB, C wall time ${median(rows[k].ms)} ms, failed requests ${rows[k].errors}`,
    );
}

await main();
