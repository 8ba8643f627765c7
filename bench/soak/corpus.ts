// The labelled corpus of bench/soak: 10 services that leak and 10 that do not (test/fixtures/soak
// and the headroom gateway itself), with the requests each is soaked with.
import type { ScenarioRequest } from '../../src/soak/index.js';

export interface CorpusEntry {
  name: string;
  leaks: boolean;
  command: string[];
  requests?: Partial<ScenarioRequest>[];
  env?: Record<string, string>;
}

const fixture = (name: string, leaks: boolean, requests?: Partial<ScenarioRequest>[]): CorpusEntry => ({
  name,
  leaks,
  command: [process.execPath, `test/fixtures/soak/${name}.mjs`],
  ...(requests ? { requests } : {}),
});

/**
 * The gateway's memory history is a ring of MEMORY_HISTORY_SIZE samples: 900 at 1 s, 1.8 KB each
 * (measured), so it fills for 15 minutes — bounded, but longer than any soak budget, and per
 * request that is 6 B at 300 req/s and 18 B at 100 req/s (a loaded machine): over the 16 B/request
 * threshold. A soak cannot tell a 15-minute fill from a leak, so it is shrunk to its minimum (10
 * samples: full within warm-up).
 */
export const GATEWAY_SOAK_ENV: Record<string, string> = { MEMORY_HISTORY_SIZE: '10', LOG_LEVEL: 'warn' };

export const CORPUS: CorpusEntry[] = [
  fixture('leak-closures', true),
  fixture('leak-map', true),
  fixture('leak-listeners', true),
  fixture('leak-timers', true),
  fixture('leak-als', true),
  fixture('leak-cache', true),
  fixture('leak-buffers', true),
  fixture('leak-interval', true),
  fixture('leak-promises', true),
  fixture('leak-route', true, [
    { path: '/', weight: 3 },
    { path: '/health', weight: 1 },
    { path: '/items', weight: 2 },
    { path: '/report?q=recent', weight: 1 },
  ]),
  fixture('ok-lru', false),
  fixture('ok-lazy', false),
  fixture('ok-alloc', false),
  fixture('ok-pool', false),
  fixture('ok-plateau', false),
  fixture('ok-slow', false),
  fixture('ok-stream', false),
  fixture('ok-timers', false),
  fixture('ok-als', false),
  {
    // The gateway itself, from source, with its built-in demo origin: proxied and cached JSON,
    // a streamed download, health and metrics.
    name: 'headroom-gateway',
    leaks: false,
    command: [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'serve'],
    env: GATEWAY_SOAK_ENV,
    requests: [
      { path: '/api/items', weight: 6 },
      { path: '/api/download?size=65536', weight: 1 },
      { path: '/health', weight: 2 },
      { path: '/metrics', weight: 1 },
    ],
  },
];
