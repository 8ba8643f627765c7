// The gateway's own word on log shipping, which is otherwise only in /metrics: a warn line when
// lines were dropped in the last interval (the sink down, the cap full), and a last line after the
// shipper closed (to stdout only: the shipper is gone) when any line was not delivered.
import type { Logger } from 'pino';
import type { LogShipper } from '../log/index.js';
import type { DropReason } from '../log/types.js';

/** How often the drops are looked at; one line per interval at most. */
export const SHIP_REPORT_MS = 60_000;

const droppedTotal = (d: Record<DropReason, number>): number => Object.values(d).reduce((a, b) => a + b, 0);
const nonZero = (d: Record<DropReason, number>): Partial<Record<DropReason, number>> =>
  Object.fromEntries(Object.entries(d).filter(([, n]) => n > 0));
/** Why the sink last failed (a wrong key's `status 401`, a certificate error), for the message. */
const lastWhy = (s: { lastFailure: { reason: string } | null }): string => (s.lastFailure ? `; last failure: ${s.lastFailure.reason}` : '');

export function reportShipping(shipper: LogShipper, logger: Logger): { stop(): void; final(): void } {
  let last = shipper.stats().dropped;
  const timer = setInterval(() => {
    const s = shipper.stats();
    const since = Object.fromEntries(Object.entries(s.dropped).map(([r, n]) => [r, n - last[r as DropReason]])) as Record<
      DropReason,
      number
    >;
    last = s.dropped;
    const n = droppedTotal(since);
    if (n > 0)
      logger.warn(
        { dropped: nonZero(since), sinkState: s.sinkState, pendingBytes: s.pendingBytes, lastFailure: s.lastFailure },
        `log shipping: ${n} lines dropped in the last ${SHIP_REPORT_MS / 1000} s${lastWhy(s)}`,
      );
  }, SHIP_REPORT_MS);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    final() {
      const s = shipper.stats();
      const n = droppedTotal(s.dropped);
      if (n > 0)
        logger.warn(
          { dropped: nonZero(s.dropped), sent: s.sent, produced: s.produced, lastFailure: s.lastFailure },
          `log shipping: ${n} of ${s.produced} lines were not delivered${lastWhy(s)}`,
        );
    },
  };
}
