// createRouteHeapAttribution without a server: what it charges to which handler (the deepest one on
// the stack, a bound function's target, a shared handler to both routes at once), that garbage is
// not growth, its bounds, its errors, and that close() is idempotent and leaves nothing behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRouteHeapAttribution, type RouteHeapReport } from '../../src/log/route-heap.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const MIB = 1024 ** 2;
const kept: unknown[] = [];
const mebibyte = (seed: number): number[] => new Array<number>(MIB / 8).fill(seed + 0.5);

function keeper(): void {
  kept.push(mebibyte(kept.length));
}
function dropper(): number {
  return mebibyte(1).length;
}
/** Keeps through a helper it calls, then calls another route's handler: each keeps its own. */
function outer(): void {
  keeper();
  inner();
}
function inner(): void {
  kept.push(mebibyte(kept.length), mebibyte(kept.length));
}
function shared(): void {
  kept.push(mebibyte(kept.length));
}

/** Keeps 1 MiB in a .then() callback and 1 MiB in a timer: neither runs with the handler on the stack. */
function viaCallbacks(done: () => void): void {
  void Promise.resolve().then(() => kept.push(mebibyte(kept.length)));
  setImmediate(() => {
    kept.push(mebibyte(kept.length));
    done();
  });
}
// Handlers with a plain function right after them on the same line, where one ends and the next
// begins matters. Compiled by new Function so the layout stays as written (tsx reprints this file).
const [lineHandler, lineNeighbour, arrowHandler, arrowNeighbour] = new Function(
  'kept',
  'mebibyte',
  'const keep = () => kept.push(mebibyte(kept.length)); return [' +
    'function aLongNamedHandler() { return keep(); }, function n() { return keep(); }, ' +
    'async () => { return keep(); }, () => { return keep(); }];',
)(kept, mebibyte) as (() => void)[];

const row = (report: RouteHeapReport, route: string) => report.routes.find((r) => r.route === route);
const mib = (n = 0): number => Math.round(n / MIB);

test('charges live bytes to the nearest route handler on the stack; garbage to nobody', async () => {
  await assertNoLeakedHandles(async () => {
    const attribution = createRouteHeapAttribution({ samplingInterval: '16KiB' });
    try {
      const boundKeeper = keeper.bind(null);
      for (let i = 0; i < 8; i++) {
        boundKeeper();
        attribution.count('/keep', boundKeeper);
        dropper();
        attribution.count('/drop', dropper);
        outer();
        attribution.count('/outer', outer);
        attribution.count('/inner', [inner]);
        shared();
        attribution.count('/a', shared);
        attribution.count('/b', shared);
      }
      attribution.count('/nothing');
      const report = await attribution.report();
      const what = JSON.stringify(report.routes.map((r) => [r.route, mib(r.bytes), r.requests]));
      // 8 MiB by keeper called from /keep (bound) and 8 more from /outer through keeper: the
      // deepest handler on the stack is keeper itself, which only /keep registered — so /keep.
      assert.equal(mib(row(report, '/keep')?.bytes), 16, what);
      assert.equal(mib(row(report, '/inner')?.bytes), 16, what);
      assert.equal(mib(row(report, '/outer')?.bytes), 0, what);
      assert.equal(mib(row(report, '/drop')?.bytes), 0, what);
      assert.equal(mib(row(report, '/a | /b')?.bytes), 8, what);
      assert.equal(row(report, '/a | /b')?.requests, 16, what);
      assert.equal(row(report, '/nothing')?.requests, 1, what);
      assert.equal(row(report, '/nothing')?.bytes, 0, what);
      for (let i = 1; i < report.routes.length; i++)
        assert.ok(report.routes[i - 1]!.bytes >= report.routes[i]!.bytes, `heaviest first: ${what}`);
      const attributed = report.routes.reduce((s, r) => s + r.bytes, 0);
      assert.equal(attributed + report.unattributedBytes, report.totalBytes);
      assert.ok(Math.abs(report.routes.reduce((s, r) => s + r.share, 0) - attributed / report.totalBytes) < 1e-9);
      assert.equal(report.samplingInterval, 16 * 1024);
      assert.equal(row(report, '/keep')?.bytesPerRequest, row(report, '/keep')!.bytes / 8);
    } finally {
      kept.length = 0;
      await attribution.close();
    }
  });
});

test('closures written inside a handler count as the handler; functions right after it do not', async () => {
  const attribution = createRouteHeapAttribution();
  try {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((done) => viaCallbacks(done));
      attribution.count('/callbacks', viaCallbacks);
      lineHandler!();
      lineNeighbour!();
      attribution.count('/line', lineHandler);
      await arrowHandler!();
      arrowNeighbour!();
      attribution.count('/arrow', arrowHandler);
    }
    const report = await attribution.report();
    const what = JSON.stringify(report.routes.map((r) => [r.route, mib(r.bytes)]));
    assert.equal(mib(row(report, '/callbacks')?.bytes), 6, what);
    assert.equal(mib(row(report, '/line')?.bytes), 3, what);
    assert.equal(mib(row(report, '/arrow')?.bytes), 3, what);
    assert.ok(
      report.unattributedBytes >= 5.5 * MIB,
      `the neighbours' 6 MiB are unattributed: ${mib(report.unattributedBytes)} MiB, ${what}`,
    );
  } finally {
    kept.length = 0;
    await attribution.close();
  }
});

test('after kept memory is freed, a second report no longer charges it', async () => {
  const attribution = createRouteHeapAttribution();
  try {
    for (let i = 0; i < 4; i++) {
      keeper();
      attribution.count('/keep', keeper);
    }
    assert.equal(mib((await attribution.report()).routes[0]?.bytes), 4);
    kept.length = 0;
    const after = await attribution.report();
    assert.equal(mib(row(after, '/keep')?.bytes), 0);
    assert.equal(row(after, '/keep')?.requests, 4);
  } finally {
    kept.length = 0;
    await attribution.close();
  }
});

test('routes past maxRoutes are only counted; a route keeps at most 16 handlers', async () => {
  const attribution = createRouteHeapAttribution({ maxRoutes: 2 });
  try {
    for (const route of ['/1', '/2', '/3', '/4', '/3']) attribution.count(route);
    // 40 distinct handlers (one closure each, so 40 source locations) each keeping 1 MiB.
    const many = Array.from(
      { length: 40 },
      (_, i) => new Function('keep', 'mebibyte', `return function h${i}() { keep.push(mebibyte(${i})); }`)(kept, mebibyte) as () => void,
    );
    attribution.count('/1', many);
    for (const h of many) h();
    const report = await attribution.report();
    assert.deepEqual(report.routes.map((r) => r.route).sort(), ['/1', '/2']);
    assert.equal(report.overflowRequests, 3);
    assert.equal(mib(row(report, '/1')?.bytes), 16);
    assert.ok(report.unattributedBytes >= 23 * MIB, `the other 24 MiB are unattributed: ${mib(report.unattributedBytes)} MiB`);
  } finally {
    kept.length = 0;
    await attribution.close();
  }
});

test('bad options are refused with what was wrong and what is accepted', () => {
  const refused = (options: object, pattern: RegExp) =>
    assert.throws(
      () => createRouteHeapAttribution(options as never),
      (e: Error & { code?: string }) => e.code === 'HEADROOM_CONFIG_INVALID' && pattern.test(e.message),
    );
  refused({ samplingInterval: 10 }, /createRouteHeapAttribution.*samplingInterval=10: must be a byte size between 1 KiB and 1 MiB/);
  refused({ samplingInterval: '2GiB' }, /samplingInterval="2GiB": must be a byte size/);
  refused({ maxRoutes: 0 }, /maxRoutes=0: must be an integer between 1 and 10000/);
  refused({ maxRoutes: 1.5 }, /maxRoutes=1.5/);
  refused({ collectGarbage: 'maybe' }, /collectGarbage="maybe": must be true or false/);
  refused({ interval: 1000 }, /interval/);
  assert.throws(() => createRouteHeapAttribution('fast' as never), /options must be an object/);
});

test('one attribution a process (V8 has one sampling heap profiler); close() frees the place', async () => {
  const first = createRouteHeapAttribution();
  assert.throws(
    () => createRouteHeapAttribution(),
    (e: Error & { code?: string }) =>
      e.code === 'HEADROOM_CONFIG_INVALID' && /already running in this process.*close\(\) it first/.test(e.message),
  );
  await first.close();
  const second = createRouteHeapAttribution();
  await second.close();
});

test('close() is idempotent, report() after it rejects, count() after it is ignored, nothing is left behind', async () => {
  await assertNoLeakedHandles(async () => {
    const attribution = createRouteHeapAttribution();
    assert.throws(() => attribution.count(42 as never), /count\(route\) takes a route template string, got number/);
    attribution.count('/x', keeper);
    const pending = attribution.report(); // close() waits for a report under way
    const closing = attribution.close();
    assert.equal(attribution.close(), closing);
    await closing;
    assert.equal((await pending).routes[0]?.route, '/x');
    await attribution[Symbol.asyncDispose]();
    attribution.count('/y');
    await assert.rejects(
      attribution.report(),
      (e: Error & { code?: string }) => e.code === 'HEADROOM_DRAINING' && /report\(\) called after close\(\)/.test(e.message),
    );
    kept.length = 0;
  });
});
