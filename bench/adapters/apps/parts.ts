// The parts of headroom a bench app can switch off after registering (BENCH_WITHOUT), shared by the
// apps that take it and bench/adapters' --base/--target (headroom-without:<parts>). The Fastify app
// takes all of them, the NestJS apps (here) and the Next.js app (its instrumentation.js) the monitor.
export const BENCH_PARTS: readonly string[] = ['gate', 'monitor'];

/** The parts named in BENCH_WITHOUT; an error for one the app (which takes `able`) cannot switch off. */
export function benchWithout(able: readonly string[] = BENCH_PARTS): Set<string> {
  const without = new Set((process.env.BENCH_WITHOUT ?? '').split(',').filter(Boolean));
  for (const part of without)
    if (!able.includes(part)) throw new Error(`BENCH_WITHOUT: this app cannot switch off ${part}; it takes ${able.join(', ')}`);
  if (without.size > 0 && process.env.BENCH_VARIANT !== 'headroom') throw new Error('BENCH_WITHOUT needs BENCH_VARIANT=headroom');
  return without;
}
