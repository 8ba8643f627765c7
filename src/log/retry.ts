// Retry helpers shared by the senders that deliver over HTTP in the background (the log shipper,
// the alert webhooks): which answers are worth a retry, the jittered delay, and a bounded wait.

/** 408, 429 and 5xx may succeed later; any other non-2xx answer will not. */
export const retryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * Delay before the retry that follows `failures` failed attempts: `base` doubled per failure up to
 * `max`, with "equal jitter" (half fixed, half random), so it is never near zero and senders that
 * failed together do not retry in step.
 */
export function backoffDelay(failures: number, base: number, max: number, random: () => number): number {
  const full = Math.min(max, base * 2 ** Math.min(failures - 1, 30));
  return full / 2 + (random() * full) / 2;
}

/** Resolves when `p` settles or after `ms`, whichever comes first; the timer is cleared. */
export async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/** The longest Retry-After obeyed: a sink asking for more is retried after this (lines still age out at maxAge). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** A Retry-After header (seconds or an HTTP date) as ms from `now`, at most MAX_RETRY_AFTER_MS; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  const ms = /^\s*\d+\s*$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : undefined;
}
