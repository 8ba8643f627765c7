// bench/log-ship: 5,000 lines/s of 1 KiB into a log sink that is healthy, then black-holed (accepts,
// never answers), then refused (port closed), then healthy again. The same schedule runs against
// headroom's shipper (`_bulk` and Loki push, default options) and, as baselines, pino.transport with
// pino-elasticsearch and with pino-loki. Each variant runs in its own child process (so one cannot
// disturb the other's event loop or heap); the sink runs in this process and counts what arrives.
// Printed per variant: pending bytes against the cap (headroom), main-thread heap and RSS,
// event-loop p99 per phase and its rise, the longest stall and how far the producer fell behind
// (blocking), the accounting (sent + dropped + pending = produced; lines lost at the sink for the
// baselines, which keep no counters) and the time from the sink's return until delivery is at full
// rate again (and, for headroom, until its backlog is drained).
// Usage: npm run bench -- log-ship [--seconds 60] [--rate 5000] [--only headroom-es,pino-loki,…]
//        (--seconds 600 is the 10-minute run; each variant takes that long.)
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { LogShipStats } from '../src/log/index.js';
import { startSink, type TestSink } from '../test/log/sinks.js';

const self = fileURLToPath(import.meta.url);
const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    url: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '5000' },
    only: { type: 'string' },
  },
});

const VARIANTS = {
  'headroom-es': { protocol: 'elasticsearch', label: 'headroom → _bulk' },
  'headroom-loki': { protocol: 'loki', label: 'headroom → Loki' },
  'pino-elasticsearch': { protocol: 'elasticsearch', label: 'pino.transport + pino-elasticsearch' },
  'pino-loki': { protocol: 'loki', label: 'pino.transport + pino-loki' },
} as const;
type Variant = keyof typeof VARIANTS;

const PHASES = ['healthy', 'blackhole', 'refused', 'recovered'] as const;
type Phase = (typeof PHASES)[number];
/** Share of the run each phase takes. */
const SHARE: Record<Phase, number> = { healthy: 0.2, blackhole: 0.3, refused: 0.3, recovered: 0.2 };
const SAMPLE_MS = 250;
/** Before the healthy phase: tsx compiles, V8 warms up, connections open; not measured. */
const WARMUP_MS = 5000;
const LINE_BYTES = 1024;

interface Sample {
  t: number;
  produced: number;
  /** Lines the producer is behind its schedule (a blocked event loop shows here). */
  behind: number;
  heapUsed: number;
  rss: number;
  external: number;
  /** baselines: 'error' events of the transport stream */
  transportErrors?: string;
  /** headroom only */
  sent?: number;
  dropped?: number;
  pendingBytes?: number;
  pendingEntries?: number;
  maxBytes?: number;
}
interface PhaseDelay {
  p50: number;
  p99: number;
  max: number;
}
type ChildMessage = { sample: Sample } | { done: Record<Phase, PhaseDelay>; final: Sample; closeNote: string };
type ParentMessage = { phase: Phase } | { stop: true };

// ---------- child: one logger, a steady producer, samples to the parent ----------

async function child(variant: Variant, url: string, rate: number): Promise<void> {
  const { default: pino } = await import('pino');
  let destination: { write(line: string): unknown };
  let stats: (() => LogShipStats) | undefined;
  let close: () => Promise<void>;
  let transportErrors = 0;
  let firstError: string | undefined;
  if (variant.startsWith('headroom')) {
    const { createLogShipper } = await import('../src/log/index.js');
    const shipper = createLogShipper({ url, format: VARIANTS[variant].protocol });
    destination = shipper;
    stats = shipper.stats;
    close = shipper.close;
  } else {
    const u = new URL(url);
    const transport =
      variant === 'pino-elasticsearch'
        ? // flushBytes/flushInterval like headroom's batch (100 lines) and flush interval (1 s); the rest default
          pino.transport({
            target: 'pino-elasticsearch',
            options: { node: u.origin, index: 'bench', flushBytes: 100 * 1024, flushInterval: 1000 },
          })
        : pino.transport({ target: 'pino-loki', options: { host: u.origin } });
    // A transport whose worker fails emits 'error' (unhandled, it ends the process): counted instead.
    transport.on('error', (err: Error) => {
      transportErrors++;
      firstError ??= err.message;
    });
    destination = transport;
    close = () => new Promise<void>((resolve) => (transport.once('close', () => resolve()), transport.end()));
  }
  const log = pino({ base: null, level: 'info' }, destination as NodeJS.WritableStream);

  // One line: {"level":30,"time":…,"i":…,"pad":"…","msg":"request handled"} padded to 1 KiB.
  const probe = JSON.stringify({ level: 30, time: Date.now(), i: 1_000_000, pad: '', msg: 'request handled' }).length + 1;
  const pad = 'x'.repeat(LINE_BYTES - probe);

  const histograms = Object.fromEntries(PHASES.map((p) => [p, monitorEventLoopDelay({ resolution: 5 })])) as Record<
    Phase,
    IntervalHistogram
  >;
  let phase: Phase = 'healthy';

  const start = performance.now();
  let produced = 0;
  const due = (): number => Math.floor(((performance.now() - start) / 1000) * rate);
  // Catches up to the schedule each turn: a loop that stalled produces late, never less.
  const producer = setInterval(() => {
    const target = due();
    while (produced < target) {
      produced++;
      if (produced % 20 === 0) log.warn({ i: produced, pad }, 'request handled');
      else log.info({ i: produced, pad }, 'request handled');
    }
  }, 10);

  const sample = (): Sample => {
    const m = process.memoryUsage();
    const s: Sample = { t: Date.now(), produced, behind: due() - produced, heapUsed: m.heapUsed, rss: m.rss, external: m.external };
    if (transportErrors > 0) s.transportErrors = `${transportErrors} (first: ${firstError})`;
    if (stats) {
      const st = stats();
      s.sent = st.sent;
      s.dropped = Object.values(st.dropped).reduce((a, b) => a + b, 0);
      s.pendingBytes = st.pendingBytes;
      s.pendingEntries = st.pendingEntries;
      s.maxBytes = st.maxBytes;
      if (st.produced !== produced) throw new Error(`shipper counted ${st.produced} lines, ${produced} were written`);
    }
    return s;
  };
  const sampler = setInterval(() => process.send!({ sample: sample() } satisfies ChildMessage), SAMPLE_MS);

  process.on('message', (msg: ParentMessage) => {
    if ('phase' in msg) {
      histograms[phase].disable(); // (first message: healthy after the warm-up)
      phase = msg.phase;
      histograms[phase].enable();
      return;
    }
    clearInterval(producer);
    clearInterval(sampler);
    histograms[phase].disable();
    const final = sample();
    const delays = Object.fromEntries(
      PHASES.map((p) => {
        const h = histograms[p];
        return [p, { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 }];
      }),
    ) as Record<Phase, PhaseDelay>;
    const t0 = performance.now();
    // thread-stream's end() throws from a timer when the worker does not finish in 10 s: noted, not fatal.
    const outcome = new Promise<string>((resolve) => {
      process.once('uncaughtException', (err) => resolve(`failed: ${err.message}`));
      setTimeout(() => resolve('did not finish within 15 s'), 15_000).unref();
      close().then(
        () => resolve(`${Math.round(performance.now() - t0)} ms`),
        (err: Error) => resolve(`failed: ${err.message}`),
      );
    });
    void outcome.then((closeNote) => process.send!({ done: delays, final, closeNote } satisfies ChildMessage, () => process.exit(0)));
  });
}

// ---------- parent: the sink, the schedule, the report ----------

interface Result {
  variant: Variant;
  samples: { s: Sample; accepted: number; phase: Phase }[];
  delays: Record<Phase, PhaseDelay>;
  final: Sample;
  accepted: number;
  returnedAt: number;
  closeNote: string;
}

async function runVariant(variant: Variant, seconds: number, rate: number): Promise<Result> {
  const sink: TestSink = await startSink(VARIANTS[variant].protocol, { kind: 'ok' }, { keep: false });
  const c: ChildProcess = fork(self, ['--child', variant, '--url', sink.url, '--rate', String(rate)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const samples: Result['samples'] = [];
  let phase: Phase = 'healthy';
  let returnedAt = 0;
  let done: { done: Record<Phase, PhaseDelay>; final: Sample; closeNote: string } | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    c.on('message', (m: ChildMessage) => {
      if ('sample' in m) samples.push({ s: m.sample, accepted: sink.accepted, phase });
      else {
        done = m;
        resolve();
      }
    });
    c.on('exit', (code) => (done ? resolve() : reject(new Error(`${variant} child exited with ${code} before reporting`))));
  });
  await new Promise<void>((resolve) => c.once('message', () => resolve())); // first sample: producing
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  samples.length = 0;
  for (const next of PHASES) {
    if (next === 'blackhole') sink.mode = { kind: 'blackhole' };
    if (next === 'refused') await sink.stop();
    if (next === 'recovered') {
      sink.mode = { kind: 'ok' };
      await sink.start();
      returnedAt = Date.now();
    }
    phase = next;
    c.send({ phase: next } satisfies ParentMessage);
    await new Promise((r) => setTimeout(r, seconds * 1000 * SHARE[next]));
  }
  c.send({ stop: true } satisfies ParentMessage);
  await finished;
  await sink.close();
  return { variant, samples, delays: done!.done, closeNote: done!.closeNote, final: done!.final, accepted: sink.accepted, returnedAt };
}

const MiB = 1024 ** 2;
const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
const ms = (n: number): string => `${n.toFixed(1)} ms`;

function report(r: Result, rate: number): string[] {
  const fail = r.samples.filter((x) => x.phase === 'blackhole' || x.phase === 'refused');
  const maxOf = (xs: number[]): number => xs.reduce((a, b) => Math.max(a, b), 0);
  const base = r.delays.healthy.p99;
  const failP99 = Math.max(r.delays.blackhole.p99, r.delays.refused.p99);
  const lines: string[] = [];
  const row = (k: string, v: string): number => lines.push(`| ${k} | ${v} |`);
  row(
    'main-thread heap: healthy → peak in failures',
    `${mib(maxOf(r.samples.filter((x) => x.phase === 'healthy').map((x) => x.s.heapUsed)))} → ${mib(maxOf(fail.map((x) => x.s.heapUsed)))}`,
  );
  row(
    'process RSS: healthy → peak in failures (worker included)',
    `${mib(maxOf(r.samples.filter((x) => x.phase === 'healthy').map((x) => x.s.rss)))} → ${mib(maxOf(fail.map((x) => x.s.rss)))}`,
  );
  row('event-loop p99: healthy / black-holed / refused / recovered', PHASES.map((p) => ms(r.delays[p].p99)).join(' / '));
  row('event-loop p99 rise in failures', ms(failP99 - base));
  row('longest stall (max delay, any phase)', ms(maxOf(PHASES.map((p) => r.delays[p].max))));
  row('producer behind schedule (max)', `${maxOf(r.samples.map((x) => x.s.behind))} lines`);
  if (r.final.maxBytes !== undefined) {
    const peak = maxOf(r.samples.map((x) => x.s.pendingBytes!));
    row('pending bytes: peak / cap', `${mib(peak)} / ${mib(r.final.maxBytes)} (${((peak / r.final.maxBytes) * 100).toFixed(1)} %)`);
    const f = r.final;
    const ok = r.samples.every((x) => x.s.sent! + x.s.dropped! + x.s.pendingEntries! === x.s.produced);
    row(
      'sent + dropped + pending = produced (every sample)',
      `${ok ? 'yes' : 'NO'}; at the end ${f.sent} + ${f.dropped} + ${f.pendingEntries} = ${f.produced}`,
    );
    const drained = r.samples.find((x) => x.s.t >= r.returnedAt && x.s.pendingEntries! <= 200);
    row(
      'backlog drained after the sink returned',
      drained ? `${((drained.s.t - r.returnedAt) / 1000).toFixed(1)} s` : 'not within the run',
    );
  } else {
    row(
      'lines produced / arrived at the sink (no counters kept)',
      `${r.final.produced} / ${r.accepted} (${r.final.produced - r.accepted} unaccounted)`,
    );
  }
  // Full delivery: in the 1 s before a sample, the sink took at least 95 % of what was produced.
  const after = r.samples.filter((x) => x.s.t >= r.returnedAt);
  const full = after.find((x) => {
    const prev = r.samples.find((y) => y.s.t >= x.s.t - 1000);
    return prev && prev !== x && (x.accepted - prev.accepted) / ((x.s.t - prev.s.t) / 1000) >= 0.95 * rate;
  });
  row('transport errors (the worker failed)', r.final.transportErrors ?? 'none');
  row('close() at the end (sink healthy)', r.closeNote);
  row(
    'delivery back to full rate after the sink returned',
    full ? `${((full.s.t - r.returnedAt) / 1000).toFixed(1)} s` : 'not within the run',
  );
  return lines;
}

async function main(): Promise<void> {
  if (args.child) return child(args.child as Variant, args.url!, Number(args.rate));
  const seconds = Number(args.seconds);
  const rate = Number(args.rate);
  if (!(seconds >= 10) || !(rate >= 1)) throw new Error('--seconds must be ≥ 10 and --rate ≥ 1');
  const only = args.only?.split(',') ?? Object.keys(VARIANTS);
  for (const v of only) if (!(v in VARIANTS)) throw new Error(`--only: unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);
  console.log(
    `log-ship: ${rate} lines/s of ${LINE_BYTES} B, ${seconds} s per variant: healthy ${seconds * SHARE.healthy} s, black-holed ${seconds * SHARE.blackhole} s, refused ${seconds * SHARE.refused} s, healthy again ${seconds * SHARE.recovered} s`,
  );
  console.log(`node ${process.version}, ${cpus().length} cores`);
  for (const v of only as Variant[]) {
    const r = await runVariant(v, seconds, rate);
    console.log(`\n### ${VARIANTS[v].label}\n\n| measure | value |\n|---|---|`);
    for (const l of report(r, rate)) console.log(l);
  }
}

await main();
