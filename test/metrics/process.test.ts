// Node.js process metrics: prom-client's default set without the two modules that leave a timer or
// an observer running after close.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { PROCESS_METRIC_MODULES, registerProcessMetrics } from '../../src/metrics/process.js';

const names = async (registry: Registry): Promise<string[]> => (await registry.getMetricsAsJSON()).map((m) => m.name).sort();

test("the modules are prom-client's default metrics except eventLoopLag and gc (an upgrade that adds one fails here)", () => {
  const list = (collectDefaultMetrics as unknown as { metricsList: string[] }).metricsList;
  assert.deepEqual(Object.keys(PROCESS_METRIC_MODULES).sort(), list.filter((n) => n !== 'eventLoopLag' && n !== 'gc').sort());
});

test("registers prom-client's default metric names but nodejs_eventloop_lag_* and nodejs_gc_duration_seconds", async () => {
  const ours = new Registry();
  assert.equal(registerProcessMetrics(ours), true);
  const full = new Registry();
  collectDefaultMetrics({ register: full });
  const expected = (await names(full)).filter((n) => !n.startsWith('nodejs_eventloop_lag_') && n !== 'nodejs_gc_duration_seconds');
  assert.deepEqual(await names(ours), expected);
  assert.match(await ours.metrics(), /^process_resident_memory_bytes \d+/m);
});

test("a registry that already has default metrics (the app's own) is left as it is", async () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const before = await names(registry);
  assert.equal(registerProcessMetrics(registry), false);
  assert.deepEqual(await names(registry), before);
});

test(
  'closed headroom instances leave nothing that wakes the process',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/metrics/fixtures/closed-headrooms.ts'], {
      timeout: 60_000,
    });
    const { wakeups } = JSON.parse(stdout) as { wakeups: number };
    // Idle, the main thread wakes a few times a second at most; a 10 ms timer alone makes ~100.
    assert.ok(wakeups < 40, `the idle main thread woke ${wakeups} times in 1 s after close`);
  },
);

test("process_cpu_* are prom-client's (names, help, type) and count this process's CPU: total = user + system", async () => {
  const ours = new Registry();
  registerProcessMetrics(ours);
  const full = new Registry();
  collectDefaultMetrics({ register: full });
  const cpu = async (r: Registry) =>
    (await r.getMetricsAsJSON()).filter((m) => m.name.startsWith('process_cpu_')).map(({ name, help, type }) => ({ name, help, type }));
  assert.deepEqual(await cpu(ours), await cpu(full));

  const read = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await ours.getMetricsAsJSON()).filter((m) => m.name.startsWith('process_cpu_')).map((m) => [m.name, m.values[0]!.value]),
    );
  const first = await read();
  const started = process.cpuUsage();
  while (process.cpuUsage(started).user < 50_000); // 50 ms of CPU
  const second = await read();
  const user = second.process_cpu_user_seconds_total! - first.process_cpu_user_seconds_total!;
  const system = second.process_cpu_system_seconds_total! - first.process_cpu_system_seconds_total!;
  const total = second.process_cpu_seconds_total! - first.process_cpu_seconds_total!;
  assert.ok(user >= 0.05, `user CPU grew by ${user} s over 50 ms of work`);
  assert.ok(system >= 0);
  assert.ok(Math.abs(total - (user + system)) < 1e-9, `total ${total} = user ${user} + system ${system}`);
});
