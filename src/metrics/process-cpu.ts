// process_cpu_user_seconds_total, process_cpu_system_seconds_total and process_cpu_seconds_total,
// registered as prom-client's processCpuTotal does (same names, help and values), without its
// exemplars: for those that module requires @opentelemetry/api (44 modules, ~0.2 MiB of heap) in
// every process that loads it, and headroom never turns exemplars on.
import type { Registry } from 'prom-client';
import Counter from 'prom-client/lib/counter.js';

export function registerProcessCpu(registry: Registry, config: { prefix?: string } = {}): void {
  const prefix = config.prefix ?? '';
  const registers = [registry];
  let last = process.cpuUsage();
  const user: Counter = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    // One collect, at each scrape, sets all three from one reading.
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
}
