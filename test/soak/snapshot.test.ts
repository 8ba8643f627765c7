// The heap snapshot parser, diff and retainer paths against real snapshots of real child
// processes, taken through the inspector the way the soak takes them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { connectInspector, type InspectorProbe } from '../../src/soak/inspector.js';
import { analyzeSnapshots, type SnapshotAnalysis } from '../../src/soak/snapshot/analyze.js';
import { className, view } from '../../src/soak/snapshot/graph.js';
import { HeapSnapshotFormatError, NODE_FIELDS, parseHeapSnapshot } from '../../src/soak/snapshot/parse.js';
import { retainerPath, shortestRetainers } from '../../src/soak/snapshot/retainers.js';
import { noRoom } from '../../src/soak/snapshot/room.js';
import { snapshotDiff } from '../../src/soak/snapshot/take.js';
import { startLoad } from '../../src/soak/load.js';
import { request } from '../helpers/http.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'headroom-snap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A Node process running `code` with its inspector open; resolves once `code` has run (it prints
 * "ready"). A server it starts should listen on port 0, with `listens` set: `listeningPort()` then
 * tells the port it got (a port picked free beforehand may be taken by another test file first).
 */
async function inspected(
  code: string,
  listens = false,
): Promise<{ child: ChildProcess; probe: InspectorProbe; listeningPort: () => Promise<number>; stop: () => Promise<void> }> {
  const announce = pathToFileURL(join(import.meta.dirname, '../fixtures/soak/announce-listen.mjs')).href;
  const preload = listens ? [`--import=${announce}`] : [];
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', ...preload, '-e', `${code}; console.error('ready');`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      text += c.toString();
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(text);
      if (m && /^ready$/m.test(text)) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}): ${text}`)));
  });
  const probe = await connectInspector(url);
  return {
    child,
    probe,
    listeningPort: async () =>
      Number((await waitFor(() => /^headroom-test: listening on (\d+)$/m.exec(text), 'the child to listen', 10_000))[1]),
    stop: async () => {
      await probe.close();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
    },
  };
}

test('the streaming parser reads a real snapshot exactly as JSON.parse does, keeping only the fields it needs', async () => {
  await assertNoLeakedHandles(async () => {
    const t = await inspected(`
      class Marker { constructor(i) { this.i = i; } }
      globalThis.markers = Array.from({ length: 1234 }, (_, i) => new Marker(i));
      globalThis.odd = { 'quote " back \\\\ slash': 'line\\nbreak é ✓ \\u0001' };
      class Link { constructor(next) { this.next = next; } }
      class Tail {}
      globalThis.chain = (() => {
        const first = new Link(null);
        let last = first;
        for (let i = 0; i < 20000; i++) last = last.next = new Link(null);
        last.next = new Tail();
        return first;
      })();
      setInterval(() => {}, 1000);
    `);
    try {
      const file = join(dir, 'small.heapsnapshot');
      const bytes = await t.probe.takeHeapSnapshot(file);
      assert.equal(bytes, statSync(file).size);
      const g = await parseHeapSnapshot(file, { allStrings: true });
      const json = JSON.parse(readFileSync(file, 'utf8')) as {
        snapshot: { meta: { node_fields: string[]; edge_fields: string[] }; node_count: number; edge_count: number };
        nodes: number[];
        edges: number[];
        strings: string[];
      };
      const nf = json.snapshot.meta.node_fields.length;
      assert.equal(g.nodeCount, json.snapshot.node_count);
      assert.equal(g.edgeCount, json.snapshot.edge_count);
      assert.equal(g.stringCount, json.strings.length);
      assert.deepEqual([...g.strings.values()], json.strings);
      assert.deepEqual(g.nodeFields, [...NODE_FIELDS]);
      for (let i = 0; i < g.nodeCount; i++)
        NODE_FIELDS.forEach((f, k) => {
          const want = json.nodes[i * nf + json.snapshot.meta.node_fields.indexOf(f)];
          if (g.nodes[i * NODE_FIELDS.length + k] !== want)
            assert.fail(`node ${i} field ${f}: ${g.nodes[i * NODE_FIELDS.length + k]} ≠ ${want}`);
        });
      const toNode = json.snapshot.meta.edge_fields.indexOf('to_node');
      const ef = json.snapshot.meta.edge_fields.length;
      for (let e = 0; e < json.edges.length; e++) {
        const want = e % ef === toNode ? json.edges[e]! / nf : json.edges[e];
        if (g.edges[e] !== want) assert.fail(`edge number ${e}: ${g.edges[e]} ≠ ${want}`);
      }
      // The objects we made are there, and one of them is reachable through the array that holds it.
      const v = view(g);
      const markers: number[] = [];
      for (let i = 0; i < g.nodeCount; i++) if (className(v, i) === 'Marker') markers.push(i);
      assert.equal(markers.length, 1234);
      const path = retainerPath(v, shortestRetainers(v), markers[500]!);
      assert.match(path!, /markers \(Array\) → .*\[500\] \(Marker\)$/);
      // A 20 000-step chain keeps its root end (what names the leak) and says how much is cut.
      let tail = -1;
      for (let i = 0; i < g.nodeCount; i++) if (className(v, i) === 'Tail') tail = i;
      const long = retainerPath(v, shortestRetainers(v), tail)!;
      assert.match(long, /^global → chain \(Link\) → next \(Link\) → .* → … \(19979 steps\) → .*next \(Tail\)$/);
      // By default only names are kept: string values are dropped, names of objects and properties stay.
      const names = await parseHeapSnapshot(file);
      assert.equal(names.stringCount, g.stringCount);
      const kept = [...names.strings.values()];
      assert.ok(kept.includes('Marker') && kept.includes('markers') && kept.includes('quote " back \\ slash'));
      assert.ok(!kept.some((s) => s.includes('é ✓')), 'a string value was kept');
      assert.ok(names.strings.size < g.strings.size);
      for (const [k, s] of names.strings) assert.equal(s, g.strings.get(k), `string ${k}`);
      const counts = await parseHeapSnapshot(file, { edges: false });
      assert.equal(counts.edges.length, 0);
      assert.deepEqual(counts.nodes, g.nodes);
    } finally {
      await t.stop();
    }
  });
});

test('a truncated file or a non-snapshot is refused with a clear error', async () => {
  const file = join(dir, 'small.heapsnapshot');
  const text = readFileSync(file, 'utf8');
  writeFileSync(join(dir, 'cut.heapsnapshot'), text.slice(0, Math.floor(text.length * 0.6)));
  await assert.rejects(parseHeapSnapshot(join(dir, 'cut.heapsnapshot')), HeapSnapshotFormatError);
  writeFileSync(join(dir, 'not.heapsnapshot'), '{"hello": [1, 2, 3]}');
  await assert.rejects(parseHeapSnapshot(join(dir, 'not.heapsnapshot')), /not a V8 heap snapshot/);
});

test('the diff of three snapshots of a growing process names the class that grew, with a path; the analysis stays within 2× the snapshot', async () => {
  // About 45 MB snapshots: large enough that the parser's one-time costs (its code, one read
  // buffer) do not dominate the bound.
  const t = await inspected(`
    class Keep { constructor(i) { this.i = i; this.tag = 't' + (i % 97); } }
    globalThis.base = Array.from({ length: 250000 }, (_, i) => ({ i, s: 'b' + i }));
    const grow = [];
    // The newest Keep of each step is held elsewhere (as Node's Buffer pool holds its newest
    // Buffer): the path shown is the way most new ones are held, not the newest one's.
    const elsewhere = [];
    globalThis.step = () => { for (let i = 0; i < 3000; i++) grow.push(new Keep(i)); elsewhere.push(new Keep(-1)); };
    setInterval(() => {}, 1000);
  `);
  try {
    const files: string[] = [];
    for (let k = 0; k < 3; k++) {
      files.push(join(dir, `grow-${k}.heapsnapshot`));
      await t.probe.takeHeapSnapshot(files[k]!);
      await t.probe.evaluate('step()');
    }
    const a = await analyzeSnapshots(files);
    console.log(
      `snapshot analysis: ${a.snapshots.map((s) => `${(s.bytes / 1048576).toFixed(1)} MiB`).join(', ')} in ${a.analysisMs} ms, peak RSS +${(a.analysisPeakRssBytes / 1048576).toFixed(1)} MiB`,
    );
    const keep = a.grown.find((c) => c.name === 'Keep');
    assert.ok(keep, `Keep not among ${a.grown.map((c) => c.name).join(', ')}`);
    assert.deepEqual(keep.counts, [0, 3001, 6002]);
    assert.ok(keep.bytesDelta > 6000 * 16);
    assert.match(keep.retainerPath!, /grow \(Array\) → .*\(Keep\)$/);
    assert.ok(!a.grown.some((c) => c.name === 'Object' && c.countDelta > 1000), 'the stable base array is not reported');
    const largest = Math.max(...a.snapshots.map((s) => s.bytes));
    assert.ok(a.analysisPeakRssBytes <= 2 * largest, `analysis peak RSS ${a.analysisPeakRssBytes} > 2 × ${largest}`);
  } finally {
    await t.stop();
  }
});

test('a Map keyed by request id (100 000s of string values and index-named table edges): analysed in a fresh process within 1.6× the snapshot', async () => {
  // The shape of the corpus's leak-map. Each string of the table once cost garbage while parsing
  // (an array, a Buffer view, an array slot): a fresh process took 2.2–2.5× its ~50 MiB snapshot.
  // A fresh process, because a test runner's heap already has free room that hides such garbage.
  const t = await inspected(`
    globalThis.seen = new Map();
    let next = 0;
    globalThis.step = () => { for (let i = 0; i < 70000; i++) { const id = 'req-' + ++next; seen.set(id, { url: '/?q=' + next, at: Date.now() }); } };
    step();
    setInterval(() => {}, 1000);
  `);
  try {
    const files: string[] = [];
    for (let k = 0; k < 3; k++) {
      if (k > 0) await t.probe.evaluate('step()');
      files.push(join(dir, `map-${k}.heapsnapshot`));
      await t.probe.takeHeapSnapshot(files[k]!);
    }
    const analyze = pathToFileURL(join(import.meta.dirname, '../../src/soak/snapshot/analyze.ts')).href;
    const script = `const { analyzeSnapshots } = await import(${JSON.stringify(analyze)});
      const a = await analyzeSnapshots(${JSON.stringify(files)});
      console.log(JSON.stringify({ peak: a.analysisPeakRssBytes, bytes: a.snapshots.map((s) => s.bytes), top: a.grown[0] }));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0, out);
    const r = JSON.parse(out) as { peak: number; bytes: number[]; top?: SnapshotAnalysis['grown'][number] };
    const largest = Math.max(...r.bytes);
    console.log(
      `map-shaped snapshots: ${r.bytes.map((b) => (b / 1048576).toFixed(1)).join(', ')} MiB, peak RSS +${(r.peak / 1048576).toFixed(1)} MiB`,
    );
    assert.ok(largest > 30 * 1048576, `snapshots of ${largest} bytes: too small for the bound to mean much`);
    assert.ok(r.top && /seen \(Map\)/.test(r.top.retainerPath ?? ''), JSON.stringify(r.top));
    assert.ok(r.peak <= 1.6 * largest, `analysis peak RSS ${r.peak} > 1.6 × ${largest}`);
  } finally {
    await t.stop();
  }
});

/** Three snapshots of `t`, with `step()` run between them; their analysis. */
async function threeSnapshots(t: { probe: InspectorProbe }, name: string, step: () => Promise<unknown>): Promise<SnapshotAnalysis> {
  const files: string[] = [];
  for (let k = 0; k < 3; k++) {
    if (k > 0) await step();
    files.push(join(dir, `${name}-${k}.heapsnapshot`));
    await t.probe.takeHeapSnapshot(files[k]!);
  }
  return analyzeSnapshots(files);
}

test('leak-route (a Report per /report request, holding fresh strings): the top entry is Report, not (string)', async () => {
  const fixture = pathToFileURL(join(import.meta.dirname, '../fixtures/soak/leak-route.mjs')).href;
  const t = await inspected(`process.env.PORT = '0'; import('${fixture}')`, true);
  try {
    const port = await t.listeningPort();
    const get = (path: string): Promise<unknown> => request(`http://127.0.0.1:${port}${path}`);
    // bench/soak's mix: 1 request in 7 goes to /report, with a query and headers.
    const mix = async (): Promise<void> => {
      for (let i = 0; i < 150; i++)
        for (const path of ['/', '/', '/', '/health', '/items', '/items', `/report?q=recent&page=${i}`]) await get(path);
    };
    await mix();
    const a = await threeSnapshots(t, 'route', mix);
    const names = a.grown.map((c) => `${c.name} (+${c.bytesDelta} B, holds ${c.heldBytes} B)`).join(', ');
    assert.equal(a.grown[0]?.name, 'Report', `top entry: ${names}`);
    const report = a.grown[0]!;
    assert.deepEqual(report.counts, [150, 300, 450]);
    const strings = a.grown.find((c) => c.name === '(string)');
    // The reason (string) came first before: its own bytes outgrow the Reports'. They still do.
    assert.ok(strings && strings.bytesDelta > report.bytesDelta, names);
    assert.ok(report.heldBytes! > strings.heldBytes!, names);
    assert.match(report.retainerPath!, /reports \(Array\) → .*\(Report\)$/);
  } finally {
    await t.stop();
  }
});

test('a leak of bare strings (pushed into an array, held by no object of the program) still names (string) first', async () => {
  const t = await inspected(`
    class Entry { constructor(i) { this.i = i; } }
    const lines = [], entries = [];
    globalThis.step = () => {
      for (let i = 0; i < 2000; i++) lines.push('GET /path?id=' + Math.random() + ' ' + 'x'.repeat(100 + (i % 7)));
      for (let i = 0; i < 200; i++) entries.push(new Entry(i));
    };
    setInterval(() => {}, 1000);
  `);
  try {
    const a = await threeSnapshots(t, 'strings', () => t.probe.evaluate('step()'));
    const names = a.grown.map((c) => `${c.name} (+${c.bytesDelta} B, holds ${c.heldBytes} B)`).join(', ');
    assert.equal(a.grown[0]?.name, '(string)', names);
    assert.ok(a.grown[0]!.countDelta >= 4000, names);
    assert.ok(
      a.grown.some((c) => c.name === 'Entry'),
      names,
    );
    assert.match(a.grown[0]!.retainerPath!, /lines \(Array\) → .*\(string\)$/);
  } finally {
    await t.stop();
  }
});

test('snapshotDiff under real load: a first snapshot over the budget leaves two, closer together; the last is read while V8 writes it', async () => {
  await assertNoLeakedHandles(async () => {
    const t = await inspected(
      `
      // Each Held keeps its request's headers, as a leaked request context would: on a loaded machine
      // ~90 requests fall between the two snapshots, and one ServerResponse still in flight holds
      // ~5.6 KiB, more than 90 bare Helds (~5 KiB) — a leak that small would be outranked by noise.
      class Held { constructor(req) { this.url = req.url; this.headers = { ...req.headers }; this.at = Date.now(); } }
      const held = [];
      require('node:http').createServer((req, res) => { held.push(new Held(req)); res.end('ok'); }).listen(0, '127.0.0.1');
    `,
      true,
    );
    const port = await t.listeningPort();
    const load = startLoad({
      url: `http://127.0.0.1:${port}`,
      connections: 2,
      rate: 200,
      requests: [{ method: 'GET', path: '/', weight: 1 }],
    });
    const notices: string[] = [];
    try {
      await waitFor(() => load.completed > 100, 'the load to reach the service', 10_000);
      const r = await snapshotDiff({
        probe: t.probe,
        load,
        count: 3,
        intervalMs: 500,
        budgetMs: 1, // any first snapshot overruns it
        heapBytes: 16 * 1048576,
        onNotice: (m) => notices.push(m),
      });
      assert.equal(r.error, undefined);
      assert.deepEqual([r.takeMs.length, r.intervalMs], [2, 500], JSON.stringify(r));
      assert.match(
        r.planned!,
        /^the first snapshot took \d+\.\d s: 2 snapshots 0\.5 s apart instead of 3 0\.5 s apart, to name the leak within the 0\.0 s budget/,
      );
      assert.deepEqual(
        notices.filter((m) => m.startsWith('taking')),
        ['taking heap snapshot 1/3', 'taking heap snapshot 2/2'],
      );
      const a = r.analysis!;
      assert.equal(a.snapshots.length, 2);
      const names = a.grown.map((c) => `${c.name} (+${c.countDelta}, +${c.bytesDelta} B, holds ${c.heldBytes} B)`).join(', ');
      assert.equal(a.grown[0]?.name, 'Held', names);
      assert.match(a.grown[0]!.retainerPath!, /held \(Array\) → \[\d+\] \(Held\)$/);
      // Read while it was written: what follows the last snapshot is the rest of a parse, far less than a read of the file.
      assert.ok(a.lastMs! < 2_000, `${a.lastMs} ms after the last snapshot`);
    } finally {
      await load.close();
      await t.stop();
    }
  });
});

test('no room: the snapshots are skipped, saying what was needed and what was free', () => {
  const MiB = 1048576;
  assert.equal(noRoom({ heapBytes: 100 * MiB, snapshots: 3, freeMemory: 4096 * MiB, freeDisk: 4096 * MiB }), undefined);
  assert.match(
    noRoom({ heapBytes: 100 * MiB, snapshots: 3, freeMemory: 1000 * MiB, freeDisk: 4096 * MiB })!,
    /not enough free memory for a heap snapshot: 1000 MiB free, about 1200 MiB needed \(12× the target's 100 MiB heap: V8 builds/,
  );
  assert.match(
    noRoom({ heapBytes: 100 * MiB, snapshots: 3, freeMemory: 4096 * MiB, freeDisk: 500 * MiB })!,
    /disk space .* 600 MiB needed/,
  );
});
