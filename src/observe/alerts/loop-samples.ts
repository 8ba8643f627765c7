// The memory samples the event-loop alert takes its median over: every sample the monitor has
// taken since the previous check that the alerter can still see (the history's new entries and
// the monitor's latest sample), and never fewer than the last MIN_LOOP_SAMPLES it has seen. The
// history keeps one sample per MEMORY_HISTORY_INTERVAL (1 s by default), so a check interval
// shorter than that, or a history interval longer than the check interval, sees one new sample
// or none per check: without the floor, one stall (a long GC pause) would be "most samples".
import type { MemorySample } from '../../monitor/types.js';
import type { AlertMonitor } from './types.js';

/** A median over at least this many samples: one stall is never the majority. */
export const MIN_LOOP_SAMPLES = 3;

export class LoopSamples {
  /** The newest history entry already taken (identity: samples taken in one millisecond are distinct). */
  private lastHistory: MemorySample | undefined;
  /** The monitor's latest sample as of the previous check. */
  private lastCurrent: MemorySample | undefined;
  /** The last MIN_LOOP_SAMPLES samples taken, oldest first. */
  private recent: MemorySample[] = [];

  /** Marks what the monitor holds now as seen (at start: those samples are older than the first interval). */
  start(monitor: Pick<AlertMonitor, 'history' | 'current'>): void {
    this.lastHistory = monitor.history().at(-1);
    this.lastCurrent = monitor.current();
  }

  /** The samples since the previous check, topped up with earlier ones to MIN_LOOP_SAMPLES when there are fewer. */
  take(monitor: Pick<AlertMonitor, 'history' | 'current'>): MemorySample[] {
    const history = monitor.history();
    const current = monitor.current();
    const from = this.lastHistory ? history.lastIndexOf(this.lastHistory) + 1 : 0;
    const fresh = history.slice(from);
    // The latest sample is often not a history entry (the history keeps one per interval; one that
    // is, is the newest entry). A real monitor returns the same object until its next sample, so
    // identity tells a new one.
    if (current !== this.lastCurrent && current !== history.at(-1)) fresh.push(current);
    this.lastHistory = history.at(-1) ?? this.lastHistory;
    this.lastCurrent = current;
    const window = fresh.length >= MIN_LOOP_SAMPLES ? fresh : [...this.recent, ...fresh].slice(-MIN_LOOP_SAMPLES);
    this.recent = window.slice(-MIN_LOOP_SAMPLES);
    return window;
  }
}
