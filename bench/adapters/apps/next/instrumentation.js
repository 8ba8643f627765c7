// Starts headroom (its memory monitor) once, when the Node.js server starts — in the headroom variant
// only. BENCH_WITHOUT=monitor stops the monitor (bench/adapters --base headroom-without:monitor).
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs' && process.env.BENCH_VARIANT === 'headroom') {
    const { registerHeadroom } = await import('headroom-memory/next');
    const { headroomConfig } = await import('./headroom.config');
    const headroom = await registerHeadroom(headroomConfig);
    const without = (process.env.BENCH_WITHOUT ?? '').split(',').filter(Boolean);
    if (without.some((part) => part !== 'monitor'))
      throw new Error(`BENCH_WITHOUT: the Next.js app can switch off the monitor only, got ${without.join(',')}`);
    if (without.includes('monitor')) headroom?.monitor.stop();
  }
}
