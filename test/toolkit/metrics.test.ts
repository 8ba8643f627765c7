// createHeadroom with a prom-client registry of the app's: headroom's metrics leave it on close, a
// registry another open headroom uses is refused with HEADROOM_CONFIG_INVALID naming the fix, and
// a name clash with the app's own metrics is refused the same way, leaving the registry as it was.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Gauge from 'prom-client/lib/gauge.js';
import PromRegistry from 'prom-client/lib/registry.js';
import { createHeadroom } from '../../src/toolkit/headroom.js';
import { refuses } from '../helpers/options.js';

const names = (registry: PromRegistry): string[] => registry.getMetricsAsArray().map((m) => m.name);
const monitor = { autoStart: false };

describe('createHeadroom with the app’s registry', () => {
  it('takes its metrics out on close, so the next headroom can add its own', async () => {
    const registry = new PromRegistry();
    new Gauge({ name: 'app_jobs', help: 'The app’s own.', registers: [registry] });
    for (let i = 0; i < 2; i++) {
      const hr = createHeadroom({ registry, monitor });
      assert.ok(names(registry).includes('headroom_app_requests_in_flight'));
      assert.ok(names(registry).includes('process_cpu_user_seconds_total'), 'process metrics added to a registry without them');
      await hr.close();
      assert.deepEqual(names(registry), ['app_jobs'], 'only the app’s own metric is left');
    }
  });

  it('refuses a registry another open headroom still uses, naming the fix', async () => {
    const registry = new PromRegistry();
    const first = createHeadroom({ registry, monitor });
    try {
      refuses(
        () => createHeadroom({ registry, monitor }),
        'createHeadroom: registry: this registry already holds the metrics of another headroom still open: ' +
          'close that one first (app.close() or its close()), or give each app a registry of its own (leave registry unset)',
      );
    } finally {
      await first.close();
    }
  });

  it('refuses a clash with a metric of the app by name, and leaves the registry as it was', async () => {
    const registry = new PromRegistry();
    new Gauge({ name: 'headroom_heap_size_limit_bytes', help: 'The app’s, by chance.', registers: [registry] });
    refuses(
      () => createHeadroom({ registry, monitor }),
      /registry: A metric with the name headroom_heap_size_limit_bytes has already been registered/,
    );
    assert.deepEqual(names(registry), ['headroom_heap_size_limit_bytes']);
  });
});
