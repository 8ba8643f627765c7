// Next.js calls register() once when the server starts: headroom's memory monitor starts here,
// before the first request (on the Node.js runtime only; registerHeadroom does nothing on Edge).
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { registerHeadroom } = await import('headroom-memory/next');
    const { headroomConfig } = await import('./headroom.config.js');
    await registerHeadroom(headroomConfig);
  }
}
