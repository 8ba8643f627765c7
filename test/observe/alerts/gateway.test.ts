// The gateway with ALERT_WEBHOOK_URL: the alerter watches the gateway's own monitor (here made
// critical by thresholds below any real heap), /metrics shows headroom_alerts_*, and shutdown
// closes it after the server with nothing left behind. Without the variable there is no alerter.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { startGateway } from '../../helpers/gateway.js';
import { waitFor } from '../../helpers/wait.js';
import { closeAllReceivers, startReceiver } from './receiver.js';
import { seen } from './setup.js';

after(closeAllReceivers);

test('ALERT_WEBHOOK_URL: the gateway alerts on its own status, exports the metrics and closes the alerter', async () => {
  await assertNoLeakedHandles(async () => {
    const receiver = await startReceiver();
    const g = await startGateway({
      UPSTREAM_URL: 'http://127.0.0.1:9/',
      ALERT_WEBHOOK_URL: receiver.url,
      ALERT_WEBHOOK_SECRET: 'gateway-test-secret-0123',
      // Any real heap is above 0.02 % of its limit: the gateway is critical from its first sample.
      MEMORY_WARNING_THRESHOLD: '0.01%',
      MEMORY_CRITICAL_THRESHOLD: '0.02%',
      MEMORY_HYSTERESIS: '0',
    });
    try {
      await waitFor(() => receiver.delivered().length === 1, 'the notification');
      assert.deepEqual(seen(receiver), [['memory_warning:firing', 'memory_critical:firing']]);
      assert.match(String(receiver.delivered()[0]!.headers['x-headroom-signature']), /^sha256=/);
      const metrics = await (await fetch(`${g.url}/metrics`)).text();
      assert.match(metrics, /^headroom_alerts_firing\{alert="memory_critical"\} 1$/m);
      assert.match(metrics, /^headroom_alerts_firing\{alert="l2_unavailable"\} 0$/m);
      assert.match(metrics, /^headroom_alerts_sent_total 1$/m);
      assert.match(metrics, /^headroom_alerts_failed_total 0$/m);
      assert.match(metrics, /^headroom_alerts_dropped_total\{reason="queue_full"\} 0$/m);
      assert.ok(!g.logs.some((l) => l.includes(receiver.url)), 'the webhook URL is never logged');
    } finally {
      await g.close();
      await receiver.close();
    }
  });
});

test('without ALERT_WEBHOOK_URL there is no alerter and no headroom_alerts_* metric', async () => {
  await assertNoLeakedHandles(async () => {
    const g = await startGateway({ UPSTREAM_URL: 'http://127.0.0.1:9/' });
    try {
      const metrics = await (await fetch(`${g.url}/metrics`)).text();
      assert.doesNotMatch(metrics, /headroom_alerts_/);
    } finally {
      await g.close();
    }
  });
});
