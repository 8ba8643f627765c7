// The gateway with LOG_SHIP_URL: its log lines go to stdout (here a captured stream) AND to the
// shipper; /metrics shows headroom_log_ship_*; shutdown closes the shipper after the last line,
// so "shutdown complete" is shipped too, and nothing is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.js';
import { createGateway } from '../../src/server/gateway.js';
import { createGatewayLogger } from '../../src/server/logger.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { promtoolCheckMetrics, promtoolOrSkip } from '../helpers/promtool.js';
import { waitFor } from '../helpers/wait.js';
import { startSink } from './sinks.js';

test('LOG_SHIP_URL: stdout and the sink get the same lines; metrics; closed after the last line', async () => {
  await assertNoLeakedHandles(async () => {
    const sink = await startSink('loki');
    const dir = mkdtempSync(join(tmpdir(), 'headroom-logship-'));
    try {
      const { config } = loadConfig({
        env: gatewayEnv(dir, sink.url, { LOG_SHIP_FORMAT: 'loki', LOG_SHIP_MAX_BYTES: '1MiB' }),
      });
      const { stdout, capture } = captured();
      const { logger, shipper } = await createGatewayLogger(config, capture);
      assert.ok(shipper, 'a shipper when LOG_SHIP_URL is set');
      const gw = await createGateway(config, { logger, logShipper: shipper });
      const url = await gw.listen();
      gw.logger.warn({ probe: true }, 'hello sink');
      await waitFor(() => sink.docs.some((d) => d.msg === 'hello sink'), 'the line reached the sink');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^headroom_log_ship_produced_total \d+/m);
      assert.match(metrics, /^headroom_log_ship_sink_state\{state="up"\} 1/m);
      assert.match(metrics, /^headroom_log_ship_dropped_total\{reason="cap"\} 0/m);
      assert.match(metrics, /^headroom_log_ship_pending_bytes \d+/m);
      assert.doesNotMatch(metrics, /^headroom_log_ship_spill/m, 'no spill series without LOG_SHIP_SPILL_DIR');
      await gw.shutdown();
      const s = shipper.stats();
      assert.equal(s.sinkState, 'closed');
      assert.equal(s.produced, s.sent, JSON.stringify(s));
      const shipped = sink.docs.map((d) => d.msg);
      assert.ok(shipped.includes('shutdown complete'), 'the last line was shipped before the shipper closed');
      assert.deepEqual(
        shipped,
        stdout.map((l) => (JSON.parse(l) as { msg: string }).msg),
        'stdout and the sink got the same lines',
      );
      assert.ok(sink.streams.some((st) => st.level === 'warn' && st.service_name === 'headroom'));
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a sink that is down: after shutdown the gateway says on stdout how many lines were not delivered', async () => {
  await assertNoLeakedHandles(async () => {
    const sink = await startSink('jsonl');
    await sink.stop(); // refused
    const dir = mkdtempSync(join(tmpdir(), 'headroom-logship-down-'));
    try {
      const { config } = loadConfig({
        env: gatewayEnv(dir, sink.url, { LOG_SHIP_TIMEOUT: '200ms' }),
      });
      const { stdout, capture } = captured();
      const { logger, shipper } = await createGatewayLogger(config, capture);
      const gw = await createGateway(config, { logger, logShipper: shipper });
      await gw.listen();
      gw.logger.warn('not delivered');
      await gw.shutdown();
      const last = JSON.parse(stdout.at(-1)!) as { level: number; msg: string; dropped: Record<string, number> };
      assert.equal(last.level, 40);
      // The sink refused the connection: the reason is the connection error, when a send was tried before the end.
      assert.match(last.msg, /^log shipping: \d+ of \d+ lines were not delivered(; last failure: .*ECONNREFUSED.*)?$/);
      assert.ok((last.dropped.close ?? 0) > 0, JSON.stringify(last));
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a sink that refuses every line (a wrong key): the last word on stdout names why', async () => {
  await assertNoLeakedHandles(async () => {
    const sink = await startSink('jsonl', { kind: 'status', status: 401 });
    const dir = mkdtempSync(join(tmpdir(), 'headroom-logship-401-'));
    try {
      const { config } = loadConfig({ env: gatewayEnv(dir, sink.url, {}) });
      const { stdout, capture } = captured();
      const { logger, shipper } = await createGatewayLogger(config, capture);
      const gw = await createGateway(config, { logger, logShipper: shipper });
      await gw.listen();
      gw.logger.warn('refused');
      await waitFor(() => shipper!.stats().dropped.rejected > 0, 'a batch refused');
      await gw.shutdown();
      const last = JSON.parse(stdout.at(-1)!) as { msg: string; lastFailure: { reason: string } };
      assert.match(last.msg, /^log shipping: \d+ of \d+ lines were not delivered; last failure: status 401$/);
      assert.equal(last.lastFailure.reason, 'status 401');
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A gateway on a free port shipping to `sinkUrl`, its directories in `dir`. */
function gatewayEnv(dir: string, sinkUrl: string, extra: Record<string, string>): Record<string, string> {
  return {
    PORT: '0',
    LOG_LEVEL: 'info',
    UPSTREAM_URL: 'http://127.0.0.1:9/',
    CACHE_DIR: join(dir, 'cache'),
    HEAP_SNAPSHOT_DIR: join(dir, 'snapshots'),
    LOG_SHIP_URL: sinkUrl,
    LOG_SHIP_FLUSH_INTERVAL: '20ms',
    ...extra,
  };
}

/** A destination that keeps the lines written to it. */
function captured(): { stdout: string[]; capture: Writable } {
  const stdout: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _enc, cb) {
      stdout.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { stdout, capture };
}

/** The value of an unlabelled sample in a scrape. */
function sample(scrape: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(scrape);
  assert.ok(m, `${name} in the scrape`);
  return Number(m[1]);
}

test('LOG_SHIP_SPILL_DIR: the spill gauges and counters on /metrics follow the file while the sink is down and after it returns', async () => {
  await assertNoLeakedHandles(async () => {
    const sink = await startSink('jsonl');
    await sink.stop();
    const dir = mkdtempSync(join(tmpdir(), 'headroom-logspill-'));
    try {
      const { config } = loadConfig({
        env: {
          PORT: '0',
          UPSTREAM_URL: 'http://127.0.0.1:9/',
          CACHE_DIR: join(dir, 'cache'),
          HEAP_SNAPSHOT_DIR: join(dir, 'snapshots'),
          LOG_SHIP_URL: sink.url,
          LOG_SHIP_FLUSH_INTERVAL: '20ms',
          LOG_SHIP_BREAK_DURATION: '100ms',
          LOG_SHIP_MAX_BYTES: '16KiB',
          LOG_SHIP_SPILL_DIR: join(dir, 'spill'),
          LOG_SHIP_SPILL_MAX_BYTES: '64KiB',
        },
      });
      const { logger, shipper } = await createGatewayLogger(config, new Writable({ write: (_c, _e, cb) => cb() }));
      const gw = await createGateway(config, { logger, logShipper: shipper });
      const url = await gw.listen();
      const pad = 'p'.repeat(400);
      for (let i = 0; i < 300; i++) gw.logger.info({ pad }, `line ${i}`);
      const down = shipper!.stats().spill!;
      assert.ok(down.refused > 0 && down.entries > 50, `memory and spill both filled: ${JSON.stringify(down)}`);
      let scrape = await (await fetch(`${url}/metrics`)).text();
      // Nothing is read back while the sink is down, so the scrape sees the same file as the stats.
      assert.equal(sample(scrape, 'headroom_log_ship_spill_lines'), down.entries);
      assert.equal(sample(scrape, 'headroom_log_ship_spill_bytes'), down.bytes);
      assert.ok(down.bytes > 50 * pad.length && down.bytes <= 64 * 1024);
      assert.equal(sample(scrape, 'headroom_log_ship_spill_max_bytes'), 64 * 1024);
      assert.equal(sample(scrape, 'headroom_log_ship_spilled_total'), down.spilled);
      assert.equal(sample(scrape, 'headroom_log_ship_spill_read_total'), 0);
      assert.equal(sample(scrape, 'headroom_log_ship_spill_refused_total'), down.refused);
      assert.equal(down.spilled, down.entries);
      if (promtoolOrSkip('spill metrics')) {
        const findings = (await promtoolCheckMetrics(scrape)).filter((l) => /headroom_log_ship_spill|headroom_log_ship_spilled/.test(l));
        assert.deepEqual(findings, [], 'promtool check metrics on the spill families');
      }

      await sink.start();
      await waitFor(() => shipper!.stats().spill!.entries === 0, 'the spill read back', 15_000);
      scrape = await (await fetch(`${url}/metrics`)).text();
      assert.equal(sample(scrape, 'headroom_log_ship_spill_lines'), 0);
      assert.equal(sample(scrape, 'headroom_log_ship_spill_bytes'), 0);
      const spilled = sample(scrape, 'headroom_log_ship_spilled_total');
      assert.ok(spilled >= down.spilled);
      assert.equal(sample(scrape, 'headroom_log_ship_spill_read_total'), spilled, 'every spilled line was read back');
      await gw.shutdown();
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('without LOG_SHIP_URL there is no shipper and no headroom_log_ship_* metric', async () => {
  const { config } = loadConfig({ env: { UPSTREAM_URL: 'http://127.0.0.1:9/' } });
  const { shipper } = await createGatewayLogger(config, new Writable({ write: (_c, _e, cb) => cb() }));
  assert.equal(shipper, undefined);
});
