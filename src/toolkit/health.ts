// /health (full report, 503 when critical), /health/live and /health/ready as plain responses,
// shared by the gateway and every adapter.
import type { HealthReport, MemoryMonitor } from '../monitor/types.js';
import { jsonResponse, type PlainResponse } from './response.js';

export interface HealthResponder {
  health(): PlainResponse;
  /** The event loop answers; restarting on memory pressure is the shedding's job, not the kubelet's. */
  live(): PlainResponse;
  /** 503 while critical or draining. */
  ready(): PlainResponse;
}

const LIVE = jsonResponse(200, { status: 'ok' });

export function createHealthResponder(monitor: MemoryMonitor, isDraining: () => boolean): HealthResponder {
  // report() returns the same object until the next sample, so serialise it once per sample:
  // probes and scrapers may ask far more often than the monitor samples.
  let lastReport: HealthReport | undefined;
  let last: PlainResponse = LIVE;
  return {
    health() {
      const report = monitor.report();
      if (report !== lastReport) {
        lastReport = report;
        last = jsonResponse(report.status === 'critical' ? 503 : 200, report);
      }
      return last;
    },
    live: () => LIVE,
    ready() {
      const memory = monitor.status();
      const draining = isDraining();
      const ready = !draining && memory !== 'critical';
      return jsonResponse(ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', memory, draining });
    },
  };
}
