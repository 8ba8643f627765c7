// npm run bench -- scale-out [--topology single,cluster,sentinel] [--seconds 180] [--failover-every 60]
//   [--drops 0.01] [--rate 150] [--invalidate-every 500] [--max-stale 10000] [--check-interval 500]
//   [--command-timeout 1000] [--max-pending 1000]
//
// The issue's proof, per topology (one local Redis, a Redis Cluster of 3 masters and 3 replicas, a
// Sentinel trio with a master and a replica; see topology.ts): three gateway processes share it in
// front of one origin whose items carry a version. Under a steady mixed load (cached items, uncached
// calls) the bench bumps the origin's version and invalidates the proxy's cache on one gateway (tag
// and clear in turn) every --invalidate-every ms, fails the master the gateways talk to over every
// --failover-every s (cluster, sentinel), while each gateway loses a fraction of its incoming bus
// messages on purpose (--drops, one row per fraction). It reports the time from sending an
// invalidation until no gateway serves the old version (p50, p99, worst) against CACHE_L1_MAX_STALE,
// the longest any cache call waited on Redis against CACHE_REDIS_COMMAND_TIMEOUT, the most Redis
// calls in flight against CACHE_REDIS_MAX_PENDING (both from /admin/cache-stats), and requests that
// failed (any non-200 or network error; the origin never fails, so each would be the cache's).
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
    topology: { type: 'string', default: 'single,cluster,sentinel' },
    seconds: { type: 'string', default: '180' },
    'failover-every': { type: 'string', default: '60' },
    drops: { type: 'string', default: '0.01' },
    rate: { type: 'string', default: '150' },
    'invalidate-every': { type: 'string', default: '500' },
    'max-stale': { type: 'string', default: '10000' },
    'check-interval': { type: 'string', default: '500' },
    'command-timeout': { type: 'string', default: '1000' },
    'max-pending': { type: 'string', default: '1000' },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const every = Number(values['invalidate-every']);
const maxStale = Number(values['max-stale']);
const checkInterval = Number(values['check-interval']);
const failoverEvery = Number(values['failover-every']);
const commandTimeout = Number(values['command-timeout']);
const maxPending = Number(values['max-pending']);
const drops = values.drops.split(',').map(Number);
const topologyNames = values.topology.split(',');
for (const name of topologyNames)
  if (!topologies[name]) throw new Error(`--topology: unknown ${name} (known: ${Object.keys(topologies).join(', ')})`);
for (const [name, v] of Object.entries({
  seconds,
  rate,
  'invalidate-every': every,
  'max-stale': maxStale,
  'check-interval': checkInterval,
  'failover-every': failoverEvery,
  'command-timeout': commandTimeout,
  'max-pending': maxPending,
}))
  if (!(v > 0)) throw new Error(`--${name}: must be a positive number, got ${v}`);
if (!Number.isInteger(maxPending)) throw new Error(`--max-pending: must be an integer, got ${maxPending}`);
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
interface RedisFigures {
  topology: string;
  nodes: string[];
  pendingPeak: number;
  maxPending: number;
  refused: number;
  timedOut: number;
  waitPeakMs: number;
}

interface Result {
  topology: string;
  drop: number;
  /** Failovers done, and how long each took until the topology named the new master (ms). */
  failovers: number[];
  /** Failovers that did not complete (the error), counted apart. */
  failoverErrors: string[];
  invalidations: number;
  converged: number[];
  /** Invalidations an instance still served the old version for at the end of the probe window. */
  notConverged: number;
  requests: number;
  failures: number;
  latencies: number[];
  bus: { sent: number; received: number; dropped: number; gaps: number; lagMaxMs: number | null }[];
  redis: RedisFigures[];
}

interface Stats {
  bus: { sent: number; received: number; dropped: number; gaps: number; lag: { maxMs: number | null } };
  l2: { connected: boolean; redis?: RedisFigures } | null;
}

const cacheStats = async (g: { url: string }): Promise<Stats> => {
  const res = await fetch(`${g.url}/admin/cache-stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`/admin/cache-stats answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Stats;
};

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
    ADMIN_RATE_LIMIT: '100000', // the bench's own invalidations and stats reads
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'error',
    CACHE_REDIS_KEY_PREFIX: `scale-out-${drop}-${Date.now()}:`,
    CACHE_L1_MAX_STALE: String(maxStale),
    CACHE_L1_CHECK_INTERVAL: String(checkInterval),
    CACHE_REDIS_COMMAND_TIMEOUT: String(commandTimeout),
    CACHE_REDIS_MAX_PENDING: String(maxPending),
  };
  const gateways = await Promise.all(Array.from({ length: GATEWAYS }, () => startGateway(env, drop)));
  const r: Result = {
    topology: topology.name,
    drop,
    failovers: [],
    failoverErrors: [],
    invalidations: 0,
    converged: [],
    notConverged: 0,
    requests: 0,
    failures: 0,
    latencies: [],
    bus: [],
    redis: [],
  };
  try {
    return await drive(topology, gateways, r);
  } finally {
    await Promise.all(gateways.map(stopGateway));
  }
}

async function drive(topology: Topology, gateways: Gateway[], r: Result): Promise<Result> {
  // Every gateway on Redis, its bus subscribed, before the clock starts.
  const ready = performance.now() + 30_000;
  for (;;) {
    const all = await Promise.all(gateways.map(cacheStats));
    if (all.every((s) => s.l2?.connected && s.l2.redis)) break;
    if (performance.now() > ready) throw new Error(`the gateways did not reach Redis within 30 s: ${JSON.stringify(all.map((s) => s.l2))}`);
    await sleep(100);
  }
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

  // A failover of the master the first gateway talks to, every --failover-every s, one at a time.
  const failovers = (async () => {
    const failover = topology.failover;
    if (!failover) return;
    for (let next = performance.now() + failoverEvery * 1000; next < end; next += failoverEvery * 1000) {
      await sleep(next - performance.now());
      if (!running) return;
      const master = (await cacheStats(gateways[0]!)).l2?.redis?.nodes[0];
      const started = performance.now();
      try {
        if (!master) throw new Error('the first gateway names no Redis node');
        await failover(master);
        r.failovers.push(performance.now() - started);
        console.error(`${topology.name}: failover of ${master} done in ${(performance.now() - started).toFixed(0)} ms`);
      } catch (err) {
        r.failoverErrors.push((err as Error).message);
        console.error(`${topology.name}: failover of ${master} failed: ${(err as Error).message}`);
      }
    }
  })();
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
  await Promise.all([load, failovers]);
  for (const g of gateways) {
    const s = await cacheStats(g);
    r.bus.push({ sent: s.bus.sent, received: s.bus.received, dropped: s.bus.dropped, gaps: s.bus.gaps, lagMaxMs: s.bus.lag.maxMs });
    if (!s.l2?.redis) throw new Error(`a gateway reports no Redis at the end: ${JSON.stringify(s.l2)}`);
    r.redis.push(s.l2.redis);
  }
  return r;
}

// ---------- main ----------
const ms = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '-');
const origin = await startOrigin();
const { port } = origin.address() as { port: number };
const results: Result[] = [];
try {
  for (const name of topologyNames) {
    const topology = await topologies[name]!();
    try {
      for (const drop of drops) {
        const r = await run(topology, `http://127.0.0.1:${port}`, drop);
        results.push(r);
        console.error(
          `${r.topology}, drop ${drop}: ${r.invalidations} invalidations, ${r.failovers.length} failovers, p99 ${ms(percentile(r.converged, 99))}, worst ${ms(Math.max(...r.converged))}, ${r.failures} failures`,
        );
      }
    } finally {
      await topology.stop();
    }
  }
} finally {
  origin.close();
}

console.log(
  `\nNode ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${GATEWAYS} gateways (one process each);` +
    ` ${seconds} s per row, ~${rate} req/s mixed load (80 % cached items, 20 % uncached), an invalidation (tag, clear in turn) every ${every} ms,` +
    ` a failover of the master in use every ${failoverEvery} s (cluster, sentinel);` +
    ` CACHE_L1_MAX_STALE ${maxStale} ms, CACHE_L1_CHECK_INTERVAL ${checkInterval} ms, CACHE_REDIS_COMMAND_TIMEOUT ${commandTimeout} ms, CACHE_REDIS_MAX_PENDING ${maxPending}.\n`,
);
console.log('Time from sending an invalidation until no gateway serves the old version, and the bounds on Redis calls:\n');
console.log(
  '| topology | bus messages lost | failovers | invalidations | p50 | p99 | worst | worst / max-stale | not converged | longest Redis wait / command timeout | pending peak / cap | refused / timed out | requests | failed | request p99 |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const worst = r.converged.length ? Math.max(...r.converged) : Number.NaN;
  const wait = Math.max(...r.redis.map((x) => x.waitPeakMs));
  const peak = Math.max(...r.redis.map((x) => x.pendingPeak));
  const refused = r.redis.reduce((n, x) => n + x.refused, 0);
  const timedOut = r.redis.reduce((n, x) => n + x.timedOut, 0);
  const failovers = `${r.failovers.length}${r.failoverErrors.length ? ` (+${r.failoverErrors.length} failed)` : ''}`;
  console.log(
    `| ${r.topology} | ${(r.drop * 100).toFixed(0)} % | ${failovers} | ${r.invalidations} | ${ms(percentile(r.converged, 50))} | ${ms(percentile(r.converged, 99))} | ${ms(worst)} | ${(worst / maxStale).toFixed(3)} | ${r.notConverged} | ${ms(wait)} / ${commandTimeout} ms | ${peak} / ${maxPending} | ${refused} / ${timedOut} | ${r.requests} | ${r.failures} | ${ms(percentile(r.latencies, 99))} |`,
  );
}
console.log('\nPer gateway: Redis node at the end; bus sent / received / found lost / gaps / worst lag:');
for (const r of results)
  console.log(
    `- ${r.topology}, ${(r.drop * 100).toFixed(0)} % lost: ${r.redis
      .map((x, i) => {
        const b = r.bus[i]!;
        return `${x.nodes.join('+')} ${b.sent}/${b.received}/${b.dropped}/${b.gaps}/${b.lagMaxMs ?? '-'} ms`;
      })
      .join(', ')}` + (r.failovers.length ? `; failovers took ${r.failovers.map(ms).join(', ')}` : ''),
  );
