// The conformance suite of issue 13: the same scenarios, unchanged, against every fixture app in
// test/fixtures/apps/*/fixture.json. Each fixture has a test file of its own here (<name>.test.ts,
// calling runConformance), so fixtures run in parallel and a failing adapter is named by its file;
// fixtures.test.ts checks that no fixture lacks one.
// Each fixture runs as a child process (SIGTERM, small heaps); everything is asserted through HTTP.
//   node --import tsx --test test/adapters/conformance/*.test.ts      (HEADROOM_FIXTURES=express,… to pick)
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it as test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type TestResponse } from '../../helpers/http.js';
import { promtoolCheckMetrics, promtoolOrSkip } from '../../helpers/promtool.js';
import { waitFor } from '../../helpers/wait.js';
import { buildFixture, fixtures, startFixture, type Fixture, type RunningApp } from './harness.js';
import { startUpstream, type Upstream } from './upstreams.js';

const TOKEN = 'conformance-admin-token-0123456789';
const METRICS_TOKEN = 'conformance-metrics-token-0123456789';
const MiB = 1024 * 1024;
const SAMPLE_MS = 100;
/** Readiness stays 503 this long after SIGTERM before the server stops accepting (the contract's SHUTDOWN_DELAY). */
const SHUTDOWN_DELAY = 2000;

interface Health {
  status: 'healthy' | 'warning' | 'critical';
  v8: { heapSizeLimit: number; usedHeapSize: number; heapUsedPercent: number };
  process: { rss: number; heapUsed: number; heapTotal: number };
  thresholds: { warningPercent: number; criticalPercent: number; hysteresisPercent: number };
  timestamp: string;
}

/** Adds the app's output to a failing assertion, so the reason is visible without rerunning. */
async function explained<T>(app: RunningApp, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- fixture output (last 8 KiB) ---\n${app.output()}`;
    throw err;
  }
}

const health = async (app: RunningApp): Promise<Health> => (await request(`${app.url}/health`)).json<Health>();

/** The next /health built from a newer sample than `after` (the monitor samples every SAMPLE_MS). */
async function nextSample(app: RunningApp, after: string): Promise<Health> {
  return waitFor(
    async () => {
      const h = await health(app);
      return h.timestamp !== after ? h : undefined;
    },
    'a new memory sample',
    5000,
    SAMPLE_MS / 2,
  );
}

function gauge(metrics: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics);
  assert.ok(m, `${name} is in /metrics`);
  return Number(m[1]);
}

/** The exit of the app, or 'still running' after `ms` (the timer does not hold the test process). */
async function exitWithin(app: RunningApp, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | string> {
  const ac = new AbortController();
  try {
    return await Promise.race([app.exited, sleep(ms, `still running after ${ms} ms`, { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

const admin = (app: RunningApp, path: string, method = 'GET'): Promise<TestResponse> =>
  request(`${app.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });

/** Starts a request and gives back a function that abandons it (destroys the socket mid-way). */
function abandonable(url: string): () => void {
  const req = httpRequest(url, { agent: false });
  req.on('error', () => undefined);
  req.end();
  return () => req.destroy();
}

/** Runs the suite against the fixture named `name` (unless HEADROOM_FIXTURES leaves it out). */
export function runConformance(name: string): void {
  const fixture = fixtures().find((f) => f.name === name);
  if (fixture) conformance(fixture);
  else if (!process.env.HEADROOM_FIXTURES) throw new Error(`no fixture named ${name} in test/fixtures/apps (fixture.json "name")`);
}

/** A query string as what it means (URLSearchParams entries), for fixtures whose framework re-serialises it. */
function decodedTarget(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : `${target.slice(0, q)} ${JSON.stringify([...new URLSearchParams(target.slice(q + 1))])}`;
}

function conformance(fixture: Fixture): void {
  // A scenario the fixture declares not applicable (fixture.json "notApplicable") is skipped with its reason, never silently.
  const it = (name: string, fn: (t: TestContext) => Promise<void>): Promise<void> => {
    const why = fixture.notApplicable?.[/^(\d+)\./.exec(name)?.[1] ?? ''];
    return why ? test(name, { skip: `not applicable to ${fixture.name}: ${why}` }, fn) : test(name, fn);
  };
  describe(`conformance: ${fixture.name}`, { timeout: 120_000 }, () => {
    let upstream: Upstream;
    before(async () => {
      buildFixture(fixture);
      upstream = await startUpstream();
    });
    after(() => upstream?.close());

    // One app with the defaults (large heap, admin token, image route) for most scenarios; the
    // SIGTERM scenario (5) runs last on it.
    describe('default app', () => {
      let app: RunningApp;
      before(async () => {
        app = await startFixture(fixture, {
          nodeOptions: ['--max-old-space-size=1024', '--max-semi-space-size=1'],
          env: {
            UPSTREAM_URL: upstream.url,
            HEADROOM_ADMIN_TOKEN: TOKEN,
            IMAGE_ORIGIN: upstream.url,
            MEMORY_SAMPLE_INTERVAL: String(SAMPLE_MS),
            SHUTDOWN_DELAY: String(SHUTDOWN_DELAY),
          },
        });
      });
      after(() => app?.stop());

      it('1. healthy: app routes 200, ready 200', () =>
        explained(app, async () => {
          const hello = await request(`${app.url}/app/hello`);
          assert.equal(hello.status, 200, hello.text);
          assert.deepEqual(hello.json(), { hello: 'world' });
          const echo = await request(`${app.url}/app/echo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ a: [1, 'b'] }),
          });
          assert.equal(echo.status, 200, echo.text);
          assert.deepEqual(echo.json(), { received: { a: [1, 'b'] } });
          assert.equal((await request(`${app.url}/health/ready`)).status, 200);
          assert.equal((await request(`${app.url}/health/live`)).status, 200);
          const h = await request(`${app.url}/health`);
          assert.equal(h.status, 200);
          assert.equal(h.json<Health>().status, 'healthy');
        }));

      it('7. the proxy under its mount path keeps path, query and method exactly', () =>
        explained(app, async () => {
          const cases: [method: string, client: string, upstreamSees: string][] = [
            ['GET', '/api/echo?x=4&y=%2F', '/echo?x=4&y=%2F'],
            ['GET', '/api/echo/a%20b/c.json?q=1&q=2&e=&u=%C3%A9', '/echo/a%20b/c.json?q=1&q=2&e=&u=%C3%A9'],
            ['DELETE', '/api/echo/item/7', '/echo/item/7'],
            ['GET', '/api/echo', '/echo'],
          ];
          for (const [method, client, expected] of cases) {
            const before = upstream.seen.length;
            const r = await request(`${app.url}${client}`, { method });
            assert.equal(r.status, 200, `${method} ${client}: ${r.text}`);
            const seen = upstream.seen.slice(before);
            assert.equal(seen.length, 1, `${client} reached the upstream once`);
            assert.equal(seen[0]!.method, method);
            if (fixture.queryNormalised) assert.equal(decodedTarget(seen[0]!.url), decodedTarget(expected), `${method} ${client}`);
            else assert.equal(seen[0]!.url, expected, `${method} ${client}`);
          }
          const before = upstream.seen.length;
          const put = await request(`${app.url}/api/echo/put?v=1`, { method: 'PUT', body: 'x'.repeat(5000) });
          assert.equal(put.status, 200, put.text);
          assert.deepEqual(
            upstream.seen.slice(before).map((s) => [s.method, s.url, s.bodyLength]),
            [['PUT', '/echo/put?v=1', 5000]],
          );
        }));

      it('9. the proxy streams a 30 MB upload', () =>
        explained(app, async () => {
          const size = 30 * MiB;
          const chunk = Buffer.alloc(256 * 1024, 'u');
          const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = httpRequest(
              `${app.url}/api/upload`,
              { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } },
              (r) => {
                let body = '';
                r.setEncoding('utf8').on('data', (d: string) => (body += d));
                r.on('end', () => resolve({ status: r.statusCode!, body }));
              },
            );
            req.on('error', reject);
            let sent = 0;
            const write = (): void => {
              while (sent < size) {
                sent += chunk.length;
                if (!req.write(chunk)) return void req.once('drain', write);
              }
              req.end();
            };
            write();
          });
          assert.equal(res.status, 200, res.body);
          assert.deepEqual(JSON.parse(res.body), { bytes: size });
          assert.equal(upstream.seen.at(-1)!.bodyLength, size);
        }));

      it('8. the proxy streams a 200 MB download with bounded RSS', () =>
        explained(app, async () => {
          const baseline = (await health(app)).process.rss;
          let peak = baseline;
          let bytes = 0;
          let downloading = true;
          const watch = (async () => {
            let last = '';
            while (downloading) {
              const h = await health(app);
              if (h.timestamp !== last) peak = Math.max(peak, h.process.rss);
              last = h.timestamp;
              await sleep(SAMPLE_MS);
            }
          })();
          const status = await new Promise<number>((resolve, reject) => {
            const req = httpRequest(`${app.url}/api/download?mb=200`, { agent: false }, (r) => {
              r.on('data', (c: Buffer) => (bytes += c.length));
              r.on('end', () => resolve(r.statusCode!));
              r.on('error', reject);
            });
            req.on('error', reject);
            req.end();
          });
          downloading = false;
          await watch;
          peak = Math.max(peak, (await nextSample(app, '')).process.rss);
          assert.equal(status, 200);
          assert.equal(bytes, 200 * MiB);
          const growth = peak - baseline;
          assert.ok(growth < 64 * MiB, `RSS grew ${(growth / MiB).toFixed(1)} MiB while 200 MiB streamed (bound 64 MiB)`);
        }));

      it('10. a body a parser already read: clear 500, upstream never called', () =>
        explained(app, async () => {
          const calls = upstream.calls();
          const r = await request(`${app.url}/parsed-api/echo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ lost: 'never' }),
          });
          assert.equal(r.status, 500, r.text);
          assert.equal(r.json().error.code, 'HEADROOM_BODY_CONSUMED');
          assert.match(r.json().error.message, /before body parsers/);
          assert.equal(upstream.calls(), calls, 'the upstream was not called');
        }));

      it("11. the app's auth runs before the proxied and image routes (not before health and metrics)", () =>
        explained(app, async () => {
          const deny = { 'x-deny': '1' };
          const calls = upstream.calls();
          const image = `/image?url=${encodeURIComponent(`${upstream.url}/image.png`)}&w=32&format=png`;
          for (const path of ['/api/echo?x=1', '/app/hello', image]) {
            const r = await request(`${app.url}${path}`, { headers: deny });
            assert.equal(r.status, 401, `${path}: ${r.text}`);
            assert.deepEqual(r.json(), { error: 'denied by app' }, path);
          }
          assert.equal(upstream.calls(), calls, 'nothing denied reached the upstream or the image origin');
          for (const path of ['/health', '/health/ready', '/metrics']) {
            assert.equal((await request(`${app.url}${path}`, { headers: deny })).status, 200, path);
          }
          const allowed = await request(`${app.url}${image}`);
          assert.equal(allowed.status, 200, allowed.text);
          assert.equal(allowed.headers['content-type'], 'image/png');
        }));

      it('12. the admin API: 401 with a wrong token, 200 with the right one', () =>
        explained(app, async () => {
          const wrong = await request(`${app.url}/admin/memory-stats`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
          assert.equal(wrong.status, 401, wrong.text);
          assert.equal(wrong.json().error.code, 'HEADROOM_UNAUTHORIZED');
          const none = await request(`${app.url}/admin/memory-stats`);
          assert.equal(none.status, 401, none.text);
          const ok = await admin(app, '/memory-stats');
          assert.equal(ok.status, 200, ok.text);
          assert.equal(typeof ok.json().memory.heapLimit, 'number');
        }));

      it('6. aborted requests release their in-flight slot', () =>
        explained(app, async () => {
          const inFlight = async (): Promise<number> =>
            gauge((await request(`${app.url}/metrics`)).text, 'headroom_app_requests_in_flight');
          const proxyInFlight = async (): Promise<number> => (await admin(app, '/proxy-stats')).json().inFlight as number;
          assert.equal(await inFlight(), 0);
          // An app route abandoned long before it would answer (its handler keeps sleeping for 8 s;
          // short enough to be over before scenario 5 waits for the process to end).
          const abandonApp = abandonable(`${app.url}/app/slow?ms=8000`);
          await waitFor(async () => (await inFlight()) === 1, 'the slow app request in flight');
          abandonApp();
          await waitFor(async () => (await inFlight()) === 0, 'the in-flight gauge back to 0 after the abort', 3000);
          // A proxied request abandoned while the upstream holds its answer.
          const abandonProxy = abandonable(`${app.url}/api/slow?ms=20000`);
          await waitFor(async () => (await proxyInFlight()) === 1 && (await inFlight()) === 1, 'the proxied request in flight');
          abandonProxy();
          await waitFor(
            async () => (await proxyInFlight()) === 0 && (await inFlight()) === 0,
            'the proxy and the app in flight back to 0 after the abort',
            3000,
          );
        }));

      it('4. 97 % of heapUsed/heapTotal but under 50 % of the heap limit is never shed', () =>
        explained(app, async () => {
          // A full GC first leaves little free space in heapTotal; each retained MiB (one 1000 KiB
          // string, a large object) then adds to heapUsed and heapTotal alike, so the ratio climbs
          // towards 0.99 (the 8 KiB page header of each object) while staying far under the limit:
          // about 200-300 MiB retained, 20-30 % of the 1 GiB heap, on Node 20.
          assert.equal((await admin(app, '/gc', 'POST')).status, 200);
          let h = await nextSample(app, (await health(app)).timestamp);
          const ratio = (s: Health): number => s.process.heapUsed / s.process.heapTotal;
          let retained = 0;
          while (ratio(h) < 0.97) {
            assert.ok(
              h.v8.heapUsedPercent < 45,
              `heapUsed/heapTotal still ${ratio(h).toFixed(3)} with ${retained} MiB retained, ${h.v8.heapUsedPercent.toFixed(1)} % of the heap limit`,
            );
            // Big steps far from the target, smaller ones near it.
            const mb = ratio(h) < 0.95 ? 16 : 8;
            const r = await request(`${app.url}/__test/alloc?mb=${mb}`, { method: 'POST' });
            assert.equal(r.status, 200, r.text);
            retained = r.json().retainedMb as number;
            h = await nextSample(app, h.timestamp);
          }
          // The same sample: the wrong denominator says ≥ 97 %, the right one says < 50 %.
          assert.ok(h.v8.heapUsedPercent < 50, `${h.v8.heapUsedPercent.toFixed(1)} % of the heap limit`);
          assert.equal(h.status, 'healthy', `status ${h.status} at ${h.v8.heapUsedPercent.toFixed(1)} % of the heap limit`);
          const hello = await request(`${app.url}/app/hello`);
          assert.equal(hello.status, 200, hello.text);
          assert.equal((await request(`${app.url}/health/ready`)).status, 200);
          console.log(
            `# ${fixture.name}: heapUsed/heapTotal ${ratio(h).toFixed(3)} at ${h.v8.heapUsedPercent.toFixed(1)} % of the heap limit (${retained} MiB retained): not shed`,
          );
          assert.equal((await request(`${app.url}/__test/free`, { method: 'POST' })).json().retainedMb, 0);
        }));

      it('13. /metrics passes promtool check metrics for headroom_*', async (t) => {
        if (!promtoolOrSkip('conformance scenario 13')) return t.skip('promtool not installed');
        await explained(app, async () => {
          const r = await request(`${app.url}/metrics`);
          assert.equal(r.status, 200);
          assert.match(String(r.headers['content-type']), /^text\/plain/);
          assert.match(r.text, /^headroom_app_requests_in_flight \d+$/m);
          assert.match(r.text, /^headroom_proxy_/m);
          const findings = await promtoolCheckMetrics(r.text);
          // prom-client's own default metrics have known findings (nodejs_active_*_total are gauges).
          const ours = findings.filter((l) => !/^(nodejs|process)_\w+ /.test(l));
          assert.deepEqual(ours, [], `promtool check metrics:\n${findings.join('\n')}`);
        });
      });

      it('5. SIGTERM: ready 503 (requests still served for the delay), then new requests refused, in-flight requests finish, exit 0', () =>
        explained(app, async () => {
          const slow = request(`${app.url}/app/slow?ms=${SHUTDOWN_DELAY + 1500}`);
          await waitFor(
            async () => gauge((await request(`${app.url}/metrics`)).text, 'headroom_app_requests_in_flight') === 1,
            'the slow request in flight',
          );
          app.child.kill('SIGTERM');
          const ready = await waitFor(
            async () => {
              const r = await request(`${app.url}/health/ready`);
              return r.status === 503 ? r : undefined;
            },
            'readiness 503 after SIGTERM',
            SHUTDOWN_DELAY / 2,
          );
          assert.equal(ready.json().draining, true);
          // During the delay the load balancer may still send: those requests are served.
          const during = await request(`${app.url}/app/hello`);
          assert.equal(during.status, 200, during.text);
          // After it a new request is refused: 503 + Retry-After, or no connection once the server closed.
          const refused = await waitFor(
            async () => {
              const r = await request(`${app.url}/app/hello`).catch((err: NodeJS.ErrnoException) => err);
              return r instanceof Error || r.status === 503 ? r : undefined;
            },
            'a new request refused after the delay',
            SHUTDOWN_DELAY + 2000,
          );
          // (ECONNRESET: a connection accepted just as the server closed its idle ones.)
          if (refused instanceof Error) assert.ok(['ECONNREFUSED', 'ECONNRESET'].includes(refused.code ?? ''), refused.message);
          else assert.ok(refused.headers['retry-after'], 'Retry-After on a refused request');
          const finished = await slow;
          assert.equal(finished.status, 200, finished.text);
          assert.deepEqual(finished.json(), { slept: SHUTDOWN_DELAY + 1500 });
          const exit = await exitWithin(app, 15_000);
          assert.deepEqual(exit, { code: 0, signal: null });
        }));
    });

    // Another app without an admin token, its /metrics behind METRICS_TOKEN; it ends by itself after SIGTERM.
    describe('app without an admin token', () => {
      let app: RunningApp;
      before(async () => {
        app = await startFixture(fixture, {
          env: {
            UPSTREAM_URL: upstream.url,
            HEADROOM_ADMIN_TOKEN: undefined,
            METRICS_TOKEN,
            IMAGE_ORIGIN: undefined,
            SHUTDOWN_DELAY: '0',
          },
        });
      });
      const scrape = (authorization?: string): Promise<TestResponse> =>
        request(`${app.url}/metrics`, { headers: authorization === undefined ? {} : { authorization } });

      it('13. with a metrics token, /metrics answers only a scraper sending it (401 naming the scheme otherwise)', () =>
        explained(app, async () => {
          const none = await scrape();
          assert.equal(none.status, 401, none.text);
          assert.equal(none.headers['www-authenticate'], 'Bearer realm="headroom-metrics"');
          assert.equal(none.json().error.code, 'HEADROOM_UNAUTHORIZED');
          assert.equal((await scrape('Bearer not-the-metrics-token')).status, 401);
          const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
          assert.equal(ok.status, 200, ok.text);
          assert.match(ok.text, /^headroom_memory_status /m);
        }));
      after(() => app?.stop());

      it('12. the admin API is off without a token (403 saying how to turn it on)', () =>
        explained(app, async () => {
          for (const method of ['GET', 'POST']) {
            const r = await request(`${app.url}/admin/${method === 'GET' ? 'memory-stats' : 'gc'}`, {
              method,
              headers: { authorization: `Bearer ${TOKEN}` },
            });
            assert.equal(r.status, 403, r.text);
            assert.equal(r.json().error.code, 'HEADROOM_ADMIN_DISABLED');
          }
        }));

      it('14. after traffic, SIGTERM closes everything: the process exits by itself with code 0', () =>
        explained(app, async () => {
          assert.equal((await request(`${app.url}/api/echo?k=1`)).status, 200);
          assert.equal((await request(`${app.url}/app/hello`)).status, 200);
          assert.equal((await scrape(`Bearer ${METRICS_TOKEN}`)).status, 200);
          app.child.kill('SIGTERM');
          const exit = await exitWithin(app, 15_000);
          assert.deepEqual(exit, { code: 0, signal: null });
        }));
    });

    // A small heap with low thresholds: shedding while critical, recovery only below the band.
    describe('small heap', () => {
      let app: RunningApp;
      let critical: number;
      let band: number;
      before(async () => {
        app = await startFixture(fixture, {
          nodeOptions: ['--max-old-space-size=128', '--max-semi-space-size=1', '--expose-gc'],
          env: {
            UPSTREAM_URL: upstream.url,
            HEADROOM_ADMIN_TOKEN: TOKEN,
            MEMORY_WARNING_THRESHOLD: '0.45',
            MEMORY_CRITICAL_THRESHOLD: '0.6',
            MEMORY_HYSTERESIS: '0.15',
            MEMORY_SAMPLE_INTERVAL: String(SAMPLE_MS),
          },
        });
      });
      after(() => app?.stop());

      it('2. critical: app routes 503 + Retry-After, ready 503 within one sample; health and metrics still answer', () =>
        explained(app, async () => {
          const h = await health(app);
          assert.equal(h.status, 'healthy', `starts healthy (${h.v8.heapUsedPercent.toFixed(1)} % of the heap limit)`);
          ({ criticalPercent: critical, hysteresisPercent: band } = h.thresholds);
          assert.equal(critical, 60);
          assert.equal(band, 15);
          // Up to 8 points above critical.
          const target = ((critical + 8) / 100) * h.v8.heapSizeLimit;
          const mb = Math.ceil((target - h.v8.usedHeapSize) / MiB);
          assert.equal((await request(`${app.url}/__test/alloc?mb=${mb}`, { method: 'POST' })).status, 200);
          // The allocation ran inside that request, so every sample taken from now on sees it. The
          // first one must already say critical, and readiness must say 503 right then.
          const allocated = Date.now();
          const started = performance.now();
          const first = await waitFor(
            async () => {
              const s = await health(app);
              return Date.parse(s.timestamp) >= allocated ? s : undefined;
            },
            'the first sample after the allocation',
            SAMPLE_MS * 3 + 1000,
            10,
          );
          assert.equal(
            first.status,
            'critical',
            `the first sample after the allocation: ${first.v8.heapUsedPercent.toFixed(1)} % of the heap limit`,
          );
          const ready = await request(`${app.url}/health/ready`);
          assert.equal(ready.status, 503, `ready at the first critical sample: ${ready.text}`);
          const took = performance.now() - started;
          const shed = await request(`${app.url}/app/hello`);
          assert.equal(shed.status, 503, shed.text);
          assert.ok(Number(shed.headers['retry-after']) > 0, 'Retry-After in seconds');
          assert.equal(shed.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
          const proxied = await request(`${app.url}/api/echo`);
          assert.equal(proxied.status, 503, `the proxied route is shed too: ${proxied.text}`);
          const report = await request(`${app.url}/health`);
          assert.equal(report.status, 503);
          assert.equal(report.json<Health>().status, 'critical');
          assert.equal((await request(`${app.url}/health/live`)).status, 200);
          assert.equal((await request(`${app.url}/metrics`)).status, 200);
          assert.equal((await admin(app, '/memory-stats')).status, 200);
          console.log(
            `# ${fixture.name}: ready was 503 ${took.toFixed(0)} ms after the allocation, at its first sample (interval ${SAMPLE_MS} ms)`,
          );
        }));

      it('3. back to healthy only after usage fell below the hysteresis band', () =>
        explained(app, async () => {
          // Free step by step until usage is inside the band [critical − hysteresis, critical):
          // below the threshold, yet still critical and still shedding. The report rounds the
          // percentage to 0.01, so a reading of the band's lower edge itself may be just below it
          // (44.996 % reads 45.00): only readings from one step above it count as inside.
          let h = await health(app);
          let inBand = 0;
          // POST /admin/gc samples right after collecting: a usage below the band there ends critical
          // (as it should), even if the garbage made since brings the next periodic sample back into it.
          let leftCritical = false;
          for (let i = 0; i < 40 && h.v8.heapUsedPercent >= critical - band + 2; i++) {
            const left = (await request(`${app.url}/__test/free?mb=4`, { method: 'POST' })).json().retainedMb as number;
            assert.ok(left > 0, 'the fixture frees N MiB with /__test/free?mb=N (contract), not everything');
            const collected = await admin(app, '/gc', 'POST');
            assert.equal(collected.status, 200);
            if ((collected.json<{ after: number }>().after / h.v8.heapSizeLimit) * 100 < critical - band) leftCritical = true;
            h = await nextSample(app, h.timestamp);
            if (!leftCritical && h.v8.heapUsedPercent < critical && h.v8.heapUsedPercent >= critical - band + 0.01) {
              inBand++;
              assert.equal(h.status, 'critical', `${h.v8.heapUsedPercent.toFixed(1)} % is inside the band: still critical`);
              const shed = await request(`${app.url}/app/hello`);
              assert.equal(shed.status, 503, `still shedding at ${h.v8.heapUsedPercent.toFixed(1)} %`);
            }
          }
          assert.ok(inBand > 0, 'usage passed through the hysteresis band');
          // Now let everything go: healthy again only once usage is below warning − hysteresis.
          assert.equal((await request(`${app.url}/__test/free`, { method: 'POST' })).json().retainedMb, 0);
          assert.equal((await admin(app, '/gc', 'POST')).status, 200);
          const { warningPercent } = h.thresholds;
          h = await waitFor(
            async () => {
              const s = await nextSample(app, h.timestamp);
              // Below an edge, as rounded to 0.01 by the report: at most the edge.
              if (s.status !== 'critical') assert.ok(s.v8.heapUsedPercent <= critical - band, `left critical at ${s.v8.heapUsedPercent} %`);
              if (s.status === 'healthy') assert.ok(s.v8.heapUsedPercent <= warningPercent - band, `healthy at ${s.v8.heapUsedPercent} %`);
              h = s;
              return s.status === 'healthy' ? s : undefined;
            },
            'healthy again',
            10_000,
          );
          const hello = await request(`${app.url}/app/hello`);
          assert.equal(hello.status, 200, hello.text);
          assert.equal((await request(`${app.url}/health/ready`)).status, 200);
        }));
    });
  });
}
