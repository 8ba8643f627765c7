// bench/footprint: what the gateway costs idle, next to a plain Fastify app, and how fast it is ready.
//
// Each round starts, one after the other (never side by side):
//   fastify  - bench/footprint/plain-fastify.mjs: Fastify with default options and one route
//   gateway  - `node dist/cli/main.js serve`, default options, UPSTREAM_URL set to a local dummy
//              upstream (plus IMAGE_ALLOWED_ORIGINS / IMAGE_ALLOW_PRIVATE_ORIGINS naming it, so the
//              image check below may fetch from it; CACHE_DIR in a temp dir)
//   demo     - the same without UPSTREAM_URL: the built-in demo origin starts in the process
// as plain `node` children (compiled JS, as in production; no TypeScript loader in their memory),
// each with the same preload (probe.mjs: answers heap figures over IPC) and --expose-gc.
// For each: time from spawn to the first 200 of its readiness endpoint (/health/ready, or / for
// Fastify, polled every 5 ms); idle for --idle seconds; then VmRSS from /proc/<pid>/status (as
// the process is, no GC forced), heapUsed as it is, then heapUsed and VmRSS after a full GC.
// Medians of --rounds starts. After the gateway's measurement, one image request (a 64 px WebP of a
// PNG on the dummy upstream) checks that the lazily loaded image pipeline answers correctly, and
// its RSS afterwards says what the pipeline costs once used.
// Usage: npm run build && npm run bench -- footprint [--rounds 5] [--idle 3] [--only fastify,gateway,demo]
//        [--main path/to/cli/main.js]  (another build of the gateway, e.g. of an older commit, for an A/B)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { median } from '../../src/soak/stats.js';
import { requireCurrentBuild } from './built.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    idle: { type: 'string', default: '3' },
    only: { type: 'string', default: 'fastify,gateway,demo' },
    main: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const IDLE_MS = Number(args.idle) * 1000;
const VARIANTS = args.only.split(',') as Variant[];
type Variant = 'fastify' | 'gateway' | 'demo';

const MiB = 1024 ** 2;

// ---------- the gateway must be the built one, and current ----------

const mainJs = args.main ?? join(root, 'dist', 'cli', 'main.js');
requireCurrentBuild(root, mainJs, 'bench/footprint measures the built gateway: run `npm run build` first', args.main !== undefined);

// ---------- the dummy upstream: JSON on every path, one PNG for the image check ----------

const png = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 80, b: 20 } } })
  .png()
  .toBuffer();
const upstream: Server = createServer((req, res) => {
  if (req.url === '/photo.png') {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
});
upstream.listen(0, '127.0.0.1');
await once(upstream, 'listening');
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

// ---------- one measured start ----------

interface Sample {
  readyMs: number;
  rss: number;
  heapUsed: number;
  heapUsedGc: number;
  rssGc: number;
  rssAfterImage?: number;
  imageOk?: boolean;
}

const readRss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

function ask(child: ChildProcess, kind: 'heap' | 'gc'): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve) => {
    const onMessage = (m: { kind: string } & NodeJS.MemoryUsage): void => {
      if (m.kind !== kind) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.send(kind);
  });
}

/** The base URL from the child's first stdout line that carries one (both print {"url":…}). */
function urlFrom(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      for (const line of buf.split('\n')) {
        const m = /"url":"(http:\/\/[^"]+)"/.exec(line);
        if (m) return resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before listening`)));
  });
}

async function measure(variant: Variant): Promise<Sample> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'headroom-footprint-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: process.env.NODE_ENV };
  let argv: string[];
  if (variant === 'fastify') {
    argv = [join(here, 'plain-fastify.mjs')];
  } else {
    argv = [mainJs, 'serve'];
    Object.assign(env, { PORT: '0', CACHE_DIR: cacheDir });
    if (variant === 'gateway') {
      Object.assign(env, { UPSTREAM_URL: upstreamUrl, IMAGE_ALLOWED_ORIGINS: upstreamUrl, IMAGE_ALLOW_PRIVATE_ORIGINS: upstreamUrl });
    }
  }
  const started = performance.now();
  const child = spawn(process.execPath, ['--expose-gc', '--import', join(here, 'probe.mjs'), ...argv], {
    cwd: cacheDir,
    env,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  try {
    const url = await urlFrom(child);
    const readyPath = variant === 'fastify' ? '/' : '/health/ready';
    for (;;) {
      const ok = await fetch(url + readyPath).then(
        async (r) => (await r.arrayBuffer(), r.status === 200),
        () => false,
      );
      if (ok) break;
      await sleep(5);
    }
    const readyMs = performance.now() - started;
    await sleep(IDLE_MS);
    const rss = readRss(child.pid!);
    const heap = await ask(child, 'heap');
    const afterGc = await ask(child, 'gc');
    const sample: Sample = { readyMs, rss, heapUsed: heap.heapUsed, heapUsedGc: afterGc.heapUsed, rssGc: readRss(child.pid!) };
    if (variant === 'gateway') {
      const r = await fetch(`${url}/image?url=${encodeURIComponent(`${upstreamUrl}/photo.png`)}&w=64&format=webp`);
      const body = Buffer.from(await r.arrayBuffer());
      const meta = r.status === 200 ? await sharp(body).metadata() : undefined;
      sample.imageOk = r.headers.get('content-type') === 'image/webp' && meta?.format === 'webp' && meta.width === 64 && meta.height === 48;
      if (!sample.imageOk)
        console.error(`image check failed: ${r.status} ${r.headers.get('content-type')} ${body.subarray(0, 200).toString()}`);
      await sleep(500);
      sample.rssAfterImage = readRss(child.pid!);
    }
    return sample;
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

// ---------- rounds, interleaved ----------

const samples = new Map<Variant, Sample[]>(VARIANTS.map((v) => [v, []]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const v of VARIANTS) {
    const s = await measure(v);
    samples.get(v)!.push(s);
    console.log(
      `round ${round} ${v.padEnd(8)} ready ${s.readyMs.toFixed(0).padStart(4)} ms  rss ${(s.rss / MiB).toFixed(1)} MiB  heapUsed ${(s.heapUsed / MiB).toFixed(1)} MiB` +
        `  after gc: heapUsed ${(s.heapUsedGc / MiB).toFixed(1)} rss ${(s.rssGc / MiB).toFixed(1)}` +
        (s.rssAfterImage !== undefined
          ? `  after 1st image: rss ${(s.rssAfterImage / MiB).toFixed(1)} (${s.imageOk ? 'ok' : 'WRONG'})`
          : ''),
    );
  }
}
upstream.close();

const med = (v: Variant, f: (s: Sample) => number | undefined): number => median(samples.get(v)!.map((s) => f(s) ?? NaN));
const base = samples.has('fastify') ? med('fastify', (s) => s.rss) : NaN;
const mib = (n: number): string => (n / MiB).toFixed(1);
console.log(`\nmedians of ${ROUNDS} starts, ${IDLE_MS / 1000} s idle, Node ${process.version}`);
console.log(
  '| process | start-up to ready | idle RSS | vs Fastify | heapUsed idle | heapUsed after GC | RSS after GC | RSS after 1st image |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const v of VARIANTS) {
  const rss = med(v, (s) => s.rss);
  const img = med(v, (s) => s.rssAfterImage);
  console.log(
    `| ${v} | ${med(v, (s) => s.readyMs).toFixed(0)} ms | ${mib(rss)} MiB | ${(rss / base).toFixed(2)}× | ${mib(med(v, (s) => s.heapUsed))} MiB | ` +
      `${mib(med(v, (s) => s.heapUsedGc))} MiB | ${mib(med(v, (s) => s.rssGc))} MiB | ${Number.isNaN(img) ? '—' : `${mib(img)} MiB`} |`,
  );
}
const gw = samples.get('gateway');
if (gw) {
  const ratio = med('gateway', (s) => s.rss) / base;
  const ready = med('gateway', (s) => s.readyMs);
  const images = gw.every((s) => s.imageOk);
  console.log(
    `\ngateway idle RSS ${ratio.toFixed(2)}× Fastify (target ≤ 1.25×: ${ratio <= 1.25 ? 'met' : 'NOT met'}); ` +
      `ready in ${ready.toFixed(0)} ms (target ≤ 1000 ms: ${ready <= 1000 ? 'met' : 'NOT met'}); ` +
      `first image request ${images ? 'answered correctly' : 'WRONG'} in every round`,
  );
  if (!images) process.exitCode = 1;
}
