// createAdmission's options: the gateway's configuration wraps the very specs it validates with,
// and a bad argument is one HEADROOM_CONFIG_INVALID naming the option, the value and what is accepted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { proxyOptions as section } from '../../src/config/sections/proxy.js';
import { createAdmission } from '../../src/admission/index.js';
import { admissionLibrarySpecs, admissionSpecs } from '../../src/admission/options.js';
import { refuses } from '../helpers/options.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

describe('admission options: one home', () => {
  test('the configuration wraps these specs, so defaults and bounds are the same objects', () => {
    const { config } = loadConfig({ env: {} });
    for (const key of Object.keys(admissionSpecs) as (keyof typeof admissionSpecs)[]) {
      const spec = admissionSpecs[key];
      assert.equal(section[key].parse, spec.parse, `${spec.env} is built from admissionSpecs.${key}`);
      assert.equal(section[key].accepted, spec.accepted);
      assert.equal(config.proxy[key], spec.default, `${spec.env}: config default`);
    }
    for (const s of Object.values(admissionLibrarySpecs)) assert.equal(s.env, undefined, `library-only: ${s.doc}`);
  });

  test("createAdmission() without options uses the configuration's defaults", async () => {
    const { config } = loadConfig({ env: {} });
    await assertNoLeakedHandles(async () => {
      await using a = createAdmission();
      const s = a.stats() as ReturnType<typeof a.stats> & { thresholdPercent: number };
      assert.deepEqual(
        [s.maxConcurrent, s.queueSize, s.thresholdPercent],
        [config.proxy.maxConcurrent, config.proxy.queueSize, config.proxy.memoryThresholdPercent],
      );
    });
  });
});

describe('createAdmission refuses bad options up front', () => {
  test("maxConcurrent: 0 (the issue's example) no longer makes a controller that queues everything", async () => {
    await assertNoLeakedHandles(async () => {
      refuses(() => createAdmission({ maxConcurrent: 0 }), 'createAdmission: maxConcurrent=0: must be an integer between 1 and 100000');
    });
  });

  test('each option is named with its value and what is accepted', async () => {
    await assertNoLeakedHandles(async () => {
      refuses(() => createAdmission({ maxConcurrent: 2.5 }), 'createAdmission: maxConcurrent=2.5: must be an integer between 1 and 100000');
      refuses(() => createAdmission({ queueSize: -1 }), 'createAdmission: queueSize=-1: must be an integer between 0 and 1000000');
      refuses(
        () => createAdmission({ queueTimeout: 0 }),
        'createAdmission: queueTimeout=0: must be a duration between 1ms and 10m (milliseconds, or a number with ms, s, m or h)',
      );
      // A percent, as the name says: 0.8 would be 0.8 %, refused with the hint.
      refuses(
        () => createAdmission({ memoryThresholdPercent: 0.8 }),
        'createAdmission: memoryThresholdPercent=0.8: must be a percent from 1 to 100: 0.8 would mean 0.8 %; for 80 % write 80',
      );
      refuses(
        () => createAdmission({ memoryThresholdPercent: 150 }),
        'createAdmission: memoryThresholdPercent=150: must be a percent from 1 to 100 (80 or 80%)',
      );
      refuses(() => createAdmission({ sampleInterval: 0 }), /^createAdmission: sampleInterval=0: must be a duration between 1ms and 1m/);
      refuses(() => createAdmission({ retryAfter: 0.5 }), 'createAdmission: retryAfter=0.5: must be an integer between 0 and 86400');
      refuses(() => createAdmission({ shedFraction: 2 }), 'createAdmission: shedFraction=2: must be a number between 0 and 1');
      refuses(
        () => createAdmission({ monitor: { status: () => 'healthy' } as never }),
        /^createAdmission: monitor=\{\}: must be a memory monitor \(an object with status\(\), onPressure\(\)\)$/,
      );
      refuses(
        () => createAdmission({ memoryThresholdPercent: 4, hysteresisPercent: 5 }),
        'createAdmission: hysteresisPercent=5: must be below memoryThresholdPercent (4), or the breaker never closes',
      );
      refuses(() => createAdmission({ maxConcurrent: 0, queueSize: -1 }), /^createAdmission: maxConcurrent=0: .+; queueSize=-1: /);
      refuses(() => createAdmission(42 as never), 'createAdmission: options must be an object');
    });
  });

  test('values the configuration accepts are accepted here too (strings with units)', async () => {
    await assertNoLeakedHandles(async () => {
      await using a = createAdmission({ queueTimeout: '2s' as never, memoryThresholdPercent: '90%' as never, heapPercent: () => 1 });
      assert.equal((a.stats() as { thresholdPercent?: number }).thresholdPercent, 90);
    });
  });
});
