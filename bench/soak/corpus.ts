// The labelled corpus of bench/soak: 10 services that leak and 10 that do not (test/fixtures/soak
// and the headroom gateway itself), with the requests each is soaked with.
import type { ScenarioRequest } from '../../src/soak/index.js';

export interface CorpusEntry {
  name: string;
  leaks: boolean;
  command: string[];
  requests?: Partial<ScenarioRequest>[];
}

const fixture = (name: string, leaks: boolean, requests?: Partial<ScenarioRequest>[]): CorpusEntry => ({
  name,
  leaks,
  command: [process.execPath, `test/fixtures/soak/${name}.mjs`],
  ...(requests ? { requests } : {}),
});

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
    requests: [
      { path: '/api/items', weight: 6 },
      { path: '/api/download?size=65536', weight: 1 },
      { path: '/health', weight: 2 },
      { path: '/metrics', weight: 1 },
    ],
  },
];
