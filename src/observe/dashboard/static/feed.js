// The live feed over fetch(): the token goes in the Authorization header (EventSource cannot send
// one), and the body is newline-delimited JSON read as it streams. Reconnects with a growing delay;
// a refused token is handed back to the caller instead. The server ends every feed after
// DASHBOARD_VIEW_TIMEOUT: a feed that ends cleanly after showing frames is reopened at once.

export class FeedError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Throws FeedError for a non-2xx answer, with the server's error code and message. */
export async function check(res) {
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = await res.json();
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not a JSON error body
  }
  throw new FeedError(res.status, code, message, Number(res.headers.get('retry-after')) || 0);
}

/**
 * Reads frames until `signal` aborts. onFrame(frame) for each; onState('live' | 'reconnecting');
 * onFatal(error) for a 401/403 (the token) after which it stops.
 */
export async function follow(url, token, { signal, onFrame, onState, onFatal }) {
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const res = await check(await fetch(url, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store', signal }));
      onState('live');
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let pending = '';
      let frames = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        let nl;
        while ((nl = pending.indexOf('\n')) !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line) {
            onFrame(JSON.parse(line));
            frames++;
          }
        }
      }
      // Ended by the server on schedule (a feed that gave nothing waits, so a broken server is not hammered).
      if (frames > 0 && pending === '') continue;
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof FeedError && (err.status === 401 || err.status === 403)) return onFatal(err);
      if (err instanceof FeedError && err.retryAfter) delay = Math.max(delay, err.retryAfter * 1000);
      onState('reconnecting', err);
    }
    if (signal.aborted) return;
    onState('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30_000);
  }
}
