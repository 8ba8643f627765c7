// The monitor's options have one home: createMemoryMonitor and the gateway's configuration use the
// same spec objects (so the same defaults and bounds), and every bad argument is one
// HEADROOM_CONFIG_INVALID naming the library option, the value and what is accepted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { sections } from '../../src/config/schema.js';
import { HeadroomError } from '../../src/errors.js';
import { cgroupMemoryLimit } from '../../src/monitor/cgroup.js';
import { createMemoryMonitor, monitorSpecs, type MemoryMonitorOptions } from '../../src/monitor/index.js';
import { resolveMonitorOptions } from '../../src/monitor/options.js';
import { toPercent } from '../../src/options/units.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { fakeMemory } from './helpers.js';

const keys = Object.keys(monitorSpecs) as (keyof typeof monitorSpecs)[];
const configDefaults = loadConfig({ env: {} }).config.monitor;

describe('monitor options: one home', () => {
  test('the config section wraps the very spec objects the monitor declares', () => {
    assert.deepEqual(Object.keys(sections.monitor), keys);
    for (const key of keys) {
      const spec = monitorSpecs[key];
      const option = sections.monitor[key];
      assert.equal(option.parse, spec.parse, `${key}: the config parses with the monitor's own spec`);
      for (const field of ['env', 'doc', 'accepted', 'default', 'defaultText', 'secret'] as const) {
        assert.equal(option[field], spec[field], `${key}.${field}`);
      }
    }
  });

  test('every default the factory uses is the config default', () => {
    const resolved = resolveMonitorOptions({});
    for (const key of keys) assert.deepEqual(resolved[key], configDefaults[key], key);
  });

  test('observed defaults: thresholds, history size and sample interval are the config defaults', async (t) => {
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false });
    assert.deepEqual(monitor.thresholds(), {
      warningPercent: toPercent(configDefaults.warningThreshold),
      criticalPercent: toPercent(configDefaults.criticalThreshold),
      hysteresisPercent: toPercent(configDefaults.hysteresis),
      rssLimit: cgroupMemoryLimit(),
    });
    // The default history interval (1 s) keeps samples taken within it out of the history.
    monitor.sampleNow();
    monitor.sampleNow();
    assert.equal(monitor.history().length, 1, 'two samples within MEMORY_HISTORY_INTERVAL make one history entry');
    await monitor.close();
    const every = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, historyInterval: 0 });
    for (let i = 0; i <= configDefaults.historySize; i++) every.sampleNow();
    assert.equal(every.history().length, configDefaults.historySize);
    await every.close();

    t.mock.timers.enable({ apis: ['setInterval'] });
    let samples = 0;
    const counted = (): ReturnType<typeof mem.sampler> => (samples++, mem.sampler());
    const timed = createMemoryMonitor({ sampler: counted, rssLimit: null });
    const first = samples;
    t.mock.timers.tick(configDefaults.sampleInterval - 1);
    assert.equal(samples, first, 'no sample before the interval');
    t.mock.timers.tick(1);
    assert.equal(samples, first + 1);
    await timed.close();
  });

  test('the thresholds rule is the same in the config and the library, each naming its own option', () => {
    assert.throws(
      () => loadConfig({ env: { MEMORY_WARNING_THRESHOLD: '90', MEMORY_CRITICAL_THRESHOLD: '0.8' } }),
      (err: { problems: string[] }) => err.problems[0] === 'MEMORY_CRITICAL_THRESHOLD=0.8: must be above MEMORY_WARNING_THRESHOLD (90%)',
    );
    assert.throws(() => createMemoryMonitor({ warningThreshold: 90, criticalThreshold: 0.8, autoStart: false }), {
      name: 'HeadroomError',
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createMemoryMonitor: criticalThreshold=0.8 (read as 80%): must be above warningThreshold (90%)',
    });
    // Only the warning given: it is the one named, against the critical default.
    assert.throws(() => createMemoryMonitor({ warningThreshold: 1, autoStart: false }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createMemoryMonitor: warningThreshold=1 (read as 100%): must be below criticalThreshold (85%, its default)',
    });
  });
});

describe('createMemoryMonitor refuses bad options up front', () => {
  const logFunction = (): void => {};
  const libraryOnly = {
    logger: 'must be a logger with info, warn and error methods (e.g. pino)',
    sampler: 'must be a function returning a memory sample',
    freeMemory: 'must be a function returning free bytes',
    autoStart: 'must be true or false',
  };
  const accepted = (key: string): string =>
    key === 'rssLimit'
      ? `${monitorSpecs.rssLimit.accepted}, or null for no RSS limit`
      : (monitorSpecs[key as keyof typeof monitorSpecs]?.accepted ?? libraryOnly[key as keyof typeof libraryOnly]);
  // [option, bad value, how the message shows it]
  const cases: [string, unknown, string][] = [
    ['warningThreshold', 170, '170'],
    ['warningThreshold', -0.1, '-0.1'],
    ['criticalThreshold', '85 percent', '"85 percent"'],
    ['hysteresis', 0.6, '0.6'],
    ['rssLimit', 0, '0'],
    ['rssLimit', 1024, '1024'],
    ['sampleInterval', 20, '20'],
    ['sampleInterval', 60_001, '60001'],
    ['sampleInterval', 12.5, '12.5'],
    ['historySize', 0, '0'],
    ['historySize', 10.5, '10.5'],
    ['historySize', 100_001, '100001'],
    ['trendWindow', 1000, '1000'],
    ['trendWarmup', -1, '-1'],
    ['logging', 'maybe', '"maybe"'],
    ['logInterval', 3_600_001, '3600001'],
    ['snapshotDir', {}, '{}'],
    ['snapshotMaxBytes', 0, '0'],
    ['snapshotOnCritical', 'sometimes', '"sometimes"'],
    ['snapshotMinInterval', 1000, '1000'],
    ['logger', logFunction, String(logFunction)],
    ['logger', 'stdout', '"stdout"'],
    ['sampler', 5, '5'],
    ['freeMemory', 1e9, '1000000000'],
    ['autoStart', 'no', '"no"'],
  ];
  for (const [key, value, shown] of cases) {
    test(`${key}=${shown}`, () => {
      assert.throws(
        () => createMemoryMonitor({ [key]: value } as MemoryMonitorOptions),
        (err) => {
          assert.ok(err instanceof HeadroomError, `a HeadroomError, not ${String(err)}`);
          assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
          assert.equal(err.message, `createMemoryMonitor: ${key}=${shown}: ${accepted(key)}`);
          const env = monitorSpecs[key as keyof typeof monitorSpecs]?.env;
          if (env) assert.ok(!err.message.includes(env), 'names the library option, not the variable');
          return true;
        },
      );
    });
  }

  test('the message reads as the option, the value and what is accepted', () => {
    assert.throws(() => createMemoryMonitor({ sampleInterval: 20 }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message:
        'createMemoryMonitor: sampleInterval=20: must be a duration between 50ms and 1m (milliseconds, or a number with ms, s, m or h)',
    });
  });

  test('every bad option is named in one error', () => {
    assert.throws(() => createMemoryMonitor({ historySize: 0, snapshotMaxBytes: -1, logger: {} as never }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /^createMemoryMonitor: historySize=0: .*; snapshotMaxBytes=-1: .*; logger=\{\}: must be a logger/,
    });
  });

  test('unknown options are refused with the closest name', () => {
    assert.throws(() => createMemoryMonitor({ critical: 0.9, sampleIntervall: 100 } as never), {
      code: 'HEADROOM_CONFIG_INVALID',
      message:
        'createMemoryMonitor: critical: unknown option; did you mean criticalThreshold?; sampleIntervall: unknown option; did you mean sampleInterval?',
    });
  });

  test('NaN and Infinity are refused', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => createMemoryMonitor({ warningThreshold: value }), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: /^createMemoryMonitor: warningThreshold=/,
      });
    }
  });

  test('options that are not an object are refused', () => {
    assert.throws(() => createMemoryMonitor('fast' as never), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createMemoryMonitor: options must be an object',
    });
  });

  test('good values in every accepted spelling are taken, and nothing is left running', async () => {
    await assertNoLeakedHandles(async () => {
      const monitor = createMemoryMonitor({
        warningThreshold: 60,
        criticalThreshold: '70%' as never,
        hysteresis: 0.02,
        rssLimit: null,
        sampleInterval: '1s' as never,
        snapshotMaxBytes: '64MiB' as never,
      });
      assert.deepEqual(monitor.thresholds(), { warningPercent: 60, criticalPercent: 70, hysteresisPercent: 2, rssLimit: null });
      await monitor.close();
      const limited = createMemoryMonitor({ autoStart: false, rssLimit: 256 * 1024 ** 2 });
      assert.equal(limited.thresholds().rssLimit, 256 * 1024 ** 2);
      await limited.close();
    });
  });
});
