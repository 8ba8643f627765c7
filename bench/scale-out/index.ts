// npm run bench -- scale-out [--topology single] [--seconds 20] [--drops 0,0.01,1] [--rate 150] [--invalidate-every 500]
//
// Three gateway processes share one Redis (the topology is a parameter: see topology.ts) in front of
// one origin whose items carry a version. Under a steady mixed load (cached items, uncached calls)
// the bench bumps the origin's version and invalidates the proxy's cache on one gateway (tag and
// clear in turn) every --invalidate-every ms, while each gateway loses a fraction of its incoming
// bus messages on purpose (--drops, one run per fraction, all in the same run: 0 is the bus alone
// with nothing lost). It reports, per fraction, the time from sending an invalidation until no
// gateway serves the old version (p50, p99, worst) against CACHE_L1_MAX_STALE, and requests that
// failed (any non-200 or network error: there should be none).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { topologies, type Topology } from './topology.js';

const { values } = parseArgs({
  options: {
    topology: { type: 'string', default: 'single' },
    seconds: { type: 'string', default: '20' },
    drops: { type: 'string', default: '0,0.01,1' },
    rate: { type: 'string', default: '150' },
    'invalidate-every': { type: 'string', default: '500' },
    'max-stale': { type: 'string', default: '10000' },
    'check-interval': { type: 'string', default: '500' },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const every = Number(values['invalidate-every']);
const maxStale = Number(values['max-stale']);
const checkInterval = Number(values['check-interval']);
const drops = values.drops.split(',').map(Number);
const makeTopology = topologies[values.topology];
if (!makeTopology) throw new Error(`--topology: unknown ${values.topology} (known: ${Object.keys(topologies).join(', ')})`);
for (const [name, v] of Object.entries({ seconds, rate, every, maxStale, checkInterval }))
  if (!(v > 0)) throw new Error(`--${name}: must be a positive number`);
for (const d of drops) if (!(d >= 0 && d <= 1)) throw new Error(`--drops: ${d} is not a fraction from 0 to 1`);

const TOKEN = 'scale-out-bench-token-0123456789abcdef';
const ITEMS = 20;
const GATEWAYS = 3;

// ---------- the origin: versioned items (cacheable) and live calls (not) ----------
let version = 1;
function startOrigin(): Promise<Server> {
  const server = createServer((req, res) => {
    const item = /^\/items\/(\d+)$/.exec(req.url ?? '');
    if (item) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' });
      res.end(JSON.stringify({ id: Number(item[1]), v: version }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ live: true, v: version }));
  });
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => server);
}

// ---------- gateways in processes of their own ----------
interface Gateway {
  url: string;
  child: ChildProcess;
}

async function startGateway(env: Record<string, string>, drop: number): Promise<Gateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./gateway.ts', import.meta.url).pathname, String(drop)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('a gateway did not start within 30 s')), 30_000);
    lines.on('line', (line) => {
      try {
        const m = JSON.parse(line) as { url?: string };
        if (m.url) {
          clearTimeout(timer);
          resolve(m.url);
        }
      } catch {
        // a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`a gateway exited with ${code} before listening`)));
  });
  return { url, child };
}

async function stopGateway(g: Gateway): Promise<void> {
  if (g.child.exitCode !== null) return;
  const exited = once(g.child, 'exit');
  g.child.kill('SIGTERM');
  await exited;
}

// ---------- one run ----------
interface Result {
  drop: number;
  invalidations: number;
  converged: number[];
  /** Invalidations an instance still served the old version for at the end of the probe window. */
  notConverged: number;
  requests: number;
  failures: number;
  latencies: number[];
  bus: { sent: number; received: number; dropped: number; gaps: number; lagMaxMs: number | null }[];
}

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function run(topology: Topology, originUrl: string, drop: number): Promise<Result> {
  const env = {
    ...topology.env,
    UPSTREAM_URL: originUrl,
    HEADROOM_ADMIN_TOKEN: TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'error',
    CACHE_REDIS_KEY_PREFIX: `scale-out-${drop}-${Date.now()}:`,
    CACHE_L1_MAX_STALE: String(maxStale),
    CACHE_L1_CHECK_INTERVAL: String(checkInterval),
  };
  const gateways = await Promise.all(Array.from({ length: GATEWAYS }, () => startGateway(env, drop)));
  const r: Result = { drop, invalidations: 0, converged: [], notConverged: 0, requests: 0, failures: 0, latencies: [], bus: [] };
  let running = true;

  const get = async (g: Gateway, path: string): Promise<number | undefined> => {
    const started = performance.now();
    r.requests++;
    try {
      const res = await fetch(`${g.url}${path}`);
      const body = (await res.json()) as { v?: number };
      r.latencies.push(performance.now() - started);
      if (res.status !== 200) r.failures++;
      return body.v;
    } catch {
      r.failures++;
      return undefined;
    }
  };

  // Steady mixed load: 80 % cached items, 20 % live calls, round robin over the gateways.
  const load = (async () => {
    const tick = 10;
    const perTick = (rate * tick) / 1000;
    let owed = 0;
    let i = 0;
    const inflight = new Set<Promise<unknown>>();
    while (running) {
      owed += perTick;
      for (; owed >= 1; owed--, i++) {
        const g = gateways[i % GATEWAYS]!;
        const p = get(g, i % 5 === 4 ? `/api/live/${i % ITEMS}` : `/api/items/${i % ITEMS}`);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      await sleep(tick);
    }
    await Promise.all(inflight);
  })();

  // Until each gateway serves version >= v for item 0: ms from `t0` to the first such response started.
  const probe = async (g: Gateway, v: number, t0: number): Promise<number | undefined> => {
    const deadline = t0 + maxStale + 2000;
    while (performance.now() < deadline) {
      const started = performance.now();
      const got = await get(g, '/api/items/0');
      if (got !== undefined && got >= v) return started - t0;
      await sleep(5);
    }
    return undefined;
  };

  const probes: Promise<void>[] = [];
  const end = performance.now() + seconds * 1000;
  await sleep(1000); // warm: every gateway holds the items in L1
  for (let k = 0; performance.now() < end; k++) {
    version++;
    const v = version;
    const g = gateways[k % GATEWAYS]!;
    const t0 = performance.now();
    const path = k % 2 === 0 ? '/admin/cache/invalidate?tag=proxy' : '/admin/cache/clear';
    const res = await fetch(`${g.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
    r.invalidations++;
    probes.push(
      Promise.all(gateways.map((x) => probe(x, v, t0))).then((times) => {
        if (times.some((t) => t === undefined)) r.notConverged++;
        else r.converged.push(Math.max(...(times as number[])));
      }),
    );
    await sleep(every);
  }
  await Promise.all(probes);
  running = false;
  await load;
  for (const g of gateways) {
    const s = (await (await fetch(`${g.url}/admin/cache-stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      bus: { sent: number; received: number; dropped: number; gaps: number; lag: { maxMs: number | null } };
    };
    r.bus.push({ sent: s.bus.sent, received: s.bus.received, dropped: s.bus.dropped, gaps: s.bus.gaps, lagMaxMs: s.bus.lag.maxMs });
  }
  await Promise.all(gateways.map(stopGateway));
  return r;
}

// ---------- main ----------
const origin = await startOrigin();
const { port } = origin.address() as { port: number };
const topology = await makeTopology();
const results: Result[] = [];
try {
  for (const drop of drops) {
    const r = await run(topology, `http://127.0.0.1:${port}`, drop);
    results.push(r);
    console.error(
      `drop ${drop}: ${r.invalidations} invalidations, p99 ${percentile(r.converged, 99).toFixed(1)} ms, worst ${Math.max(...r.converged).toFixed(1)} ms, ${r.failures} failures`,
    );
  }
} finally {
  await topology.stop();
  origin.close();
}

console.log(
  `\nNode ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; topology ${topology.name}; ${GATEWAYS} gateways (one process each);` +
    ` ${seconds} s per row, ~${rate} req/s mixed load (80 % cached items, 20 % uncached), an invalidation (tag, clear in turn) every ${every} ms;` +
    ` CACHE_L1_MAX_STALE ${maxStale} ms, CACHE_L1_CHECK_INTERVAL ${checkInterval} ms.\n`,
);
console.log('Time from sending an invalidation until no gateway serves the old version:\n');
console.log(
  '| bus messages lost | invalidations | p50 | p99 | worst | worst / max-stale | not converged | requests | failed | request p99 |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const worst = r.converged.length ? Math.max(...r.converged) : Number.NaN;
  console.log(
    `| ${(r.drop * 100).toFixed(0)} % | ${r.invalidations} | ${percentile(r.converged, 50).toFixed(1)} ms | ${percentile(r.converged, 99).toFixed(1)} ms | ${worst.toFixed(1)} ms | ${(worst / maxStale).toFixed(3)} | ${r.notConverged} | ${r.requests} | ${r.failures} | ${percentile(r.latencies, 99).toFixed(1)} ms |`,
  );
}
console.log('\nBus per gateway (sent / received / found lost / gaps / worst lag):');
for (const r of results)
  console.log(
    `- ${(r.drop * 100).toFixed(0)} % lost: ${r.bus.map((b) => `${b.sent}/${b.received}/${b.dropped}/${b.gaps}/${b.lagMaxMs ?? '-'} ms`).join(', ')}`,
  );
