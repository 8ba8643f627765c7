// createDashboard's numbers: the gateway variables' bounds, and the two timeouts that must span two frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import { createDashboard } from '../../../src/observe/dashboard/index.js';

test('createDashboard refuses timeouts out of range or shorter than two frames, naming the option', async () => {
  const monitor = createMemoryMonitor({ autoStart: false });
  try {
    assert.throws(() => createDashboard({ monitor, viewTimeout: 5_000 }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /createDashboard: viewTimeout=5000: must be a duration between 10s and 24h/,
    });
    assert.throws(() => createDashboard({ monitor, interval: 10_000, viewTimeout: 15_000 }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createDashboard: viewTimeout must be at least twice interval (20000 ms)',
    });
    assert.throws(() => createDashboard({ monitor, interval: 10_000, stallTimeout: 15_000 }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createDashboard: stallTimeout must be at least twice interval (20000 ms)',
    });
    await createDashboard({ monitor, interval: 10_000, viewTimeout: 20_000, stallTimeout: 20_000 }).close();
  } finally {
    await monitor.close();
  }
});
