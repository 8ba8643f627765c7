// A real in-process pressure source for tests: emit() changes the level and tells subscribers.
import type { MemoryStatus, PressureListener, PressureSource } from '../../src/monitor/types.js';

export class FakePressure implements PressureSource {
  /** Subscribers, visible so a test can check that a part unsubscribed. */
  readonly listeners = new Set<PressureListener>();
  constructor(public level: MemoryStatus = 'healthy') {}
  onPressure(l: PressureListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  status(): MemoryStatus {
    return this.level;
  }
  emit(level: MemoryStatus): void {
    this.level = level;
    for (const l of this.listeners) l(level);
  }
}
