// Starts headroom (its memory monitor) once, when the Node.js server starts — in the headroom variant only.
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs' && process.env.BENCH_VARIANT === 'headroom') {
    const { registerHeadroom } = await import('headroom-memory/next');
    const { headroomConfig } = await import('./headroom.config');
    await registerHeadroom(headroomConfig);
  }
}
