// One episode per alert: it fires once when its condition starts to hold, and resolves once when
// the condition has stayed clear for `hold` ms (0: at the first clear reading). Between the two,
// readings only update the latest value, so a value hovering at a bound never sends a flood.
import type { AlertEvent, AlertName, AlertSeverity, AlertUnit } from './types.js';

/** One reading of an alert's condition. */
export interface Reading {
  active: boolean;
  severity: AlertSeverity;
  value: number | null;
  threshold: number;
  unit: AlertUnit;
  summary: string;
}

interface Episode {
  startsAt: number;
  /** Since when the condition has been clear (undefined while it holds). */
  clearSince: number | undefined;
  /** The reading that started the episode (its summary describes the problem on resolve too). */
  fired: Reading;
}

export class Episodes {
  private readonly open = new Map<AlertName, Episode>();

  /** Applies one reading; returns the notification it causes, if any. */
  step(name: AlertName, r: Reading, now: number, hold: number): AlertEvent | undefined {
    const episode = this.open.get(name);
    if (r.active) {
      if (episode) {
        episode.clearSince = undefined;
        return undefined;
      }
      this.open.set(name, { startsAt: now, clearSince: undefined, fired: r });
      return event(name, 'firing', r, now);
    }
    if (!episode) return undefined;
    episode.clearSince ??= now;
    if (now - episode.clearSince < hold) return undefined;
    this.open.delete(name);
    return resolved(name, episode, r, now);
  }

  /**
   * Resolves every open episode because the watching ends (the alerter closes at shutdown): nothing
   * would ever resolve them, and a receiver would show them firing for an instance that is gone.
   * The condition was not seen to clear, so the value is null and the summary says why it ends.
   */
  endAll(now: number): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const [name, e] of this.open) {
      out.push({
        ...resolved(name, e, e.fired, now),
        value: null,
        summary: `${e.fired.summary} (no longer watched: this instance is shutting down)`,
      });
    }
    this.open.clear();
    return out;
  }

  isFiring(name: AlertName): boolean {
    return this.open.has(name);
  }

  firing(): AlertName[] {
    return [...this.open.keys()];
  }
}

function event(name: AlertName, status: AlertEvent['status'], r: Reading, startsAt: number): AlertEvent {
  return {
    name,
    status,
    severity: r.severity,
    summary: r.summary,
    value: r.value,
    threshold: r.threshold,
    unit: r.unit,
    startsAt: new Date(startsAt).toISOString(),
  };
}

/** The notification ending an episode: its start, the severity it fired with, the reading `r`, and when it ended. */
function resolved(name: AlertName, episode: Episode, r: Reading, now: number): AlertEvent {
  return { ...event(name, 'resolved', r, episode.startsAt), severity: episode.fired.severity, endsAt: new Date(now).toISOString() };
}
