// deploy/prometheus/headroom-rules.yml: promtool accepts the rules and the scrape config, and on
// replayed series every alert fires where it should and stays quiet where it should not
// (`promtool test rules`): a leak is announced well before the heap limit, a day of healthy GC
// sawtooth fires nothing, and each alert has a firing case beside a near miss.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { promtool, promtoolOrSkip, promtoolTestRules } from '../helpers/promtool.js';
import { DEPLOY, read } from './helpers.js';
import { DELAY_BUCKETS_SECONDS } from '../../src/monitor/event-loop.js';
import { gcSawtooth, MiB, noise, scrapes, seriesName } from './replay.js';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const RULES_FILE = join(DEPLOY, 'prometheus/headroom-rules.yml');
const rules = (YAML.parse(read('deploy/prometheus/headroom-rules.yml')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const rule = (alert: string): Rule => {
  const r = rules.find((x) => x.alert === alert);
  assert.ok(r, `no alert ${alert} in headroom-rules.yml`);
  return r;
};

interface Input {
  series: string;
  values: string;
}
/** One alert at one instant: `fire` instances must be firing (with `$value` rendered as given), `quiet` ones not. */
interface Case {
  alert: string;
  at: string;
  input: Input[];
  fire: { instance: string; value?: string }[];
  quiet: string[];
}

const s = (metric: string, instance: string, values: string, labels?: Record<string, string>): Input => ({
  series: seriesName(metric, instance, labels),
  values,
});

const DELAY_BOUNDS = [...DELAY_BUCKETS_SECONDS.map(String), '+Inf'];
/** headroom_event_loop_delay_seconds_bucket of one instance: `ticks` per 15-s scrape, each `late` seconds late, `steps` scrapes. */
const delayBuckets = (instance: string, late: number, ticks: number, steps: number): Input[] =>
  DELAY_BOUNDS.map((le) =>
    s('headroom_event_loop_delay_seconds_bucket', instance, `0+${le === '+Inf' || late <= Number(le) ? ticks : 0}x${steps}`, { le }),
  );

/** The annotations promtool renders, for `instance` and a `$value` already formatted as the template would. */
function annotations(alert: string, instance: string, value?: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(rule(alert).annotations ?? {}).map(([k, text]) => {
      const out = text.replaceAll('{{ $labels.instance }}', instance).replace(/\{\{ \$value \| \w+ \}\}/g, () => {
        assert.ok(value !== undefined, `${alert}: the case must give the rendered $value`);
        return value;
      });
      assert.doesNotMatch(out, /\{\{/, `${alert}: a template the test does not render`);
      return [k, out];
    }),
  );
}

function alertTest(c: Case) {
  return {
    eval_time: c.at,
    alertname: c.alert,
    exp_alerts: c.fire.map((f) => ({
      exp_labels: { job: 'headroom', instance: f.instance, severity: rule(c.alert).labels!.severity },
      exp_annotations: annotations(c.alert, f.instance, f.value),
    })),
  };
}

const nan = (minutes: number) => scrapes(minutes, () => Number.NaN);
const http = (instance: string, status: string, values: string, route = '/api/*') =>
  s('headroom_http_requests_total', instance, values, { route, method: 'GET', status });
const UPSTREAM = 'headroom_proxy_errors_total';

/** Each alert beside a near miss (or a flapping or absent signal) evaluated at the same instant. */
const CASES: Case[] = [
  {
    alert: 'HeadroomMemoryCritical',
    at: '3m',
    input: [
      s('headroom_memory_status', 'bad', '0 0 0 0 2x20'),
      s('headroom_memory_status', 'flapping', '0 2 0 1 2 1 0 2 1 1 2 0 1 2 0 0 2 1 0 2 1'),
    ],
    fire: [{ instance: 'bad' }],
    quiet: ['flapping'],
  },
  {
    alert: 'HeadroomMemoryCritical',
    at: '1m', // critical since 1m: not yet a minute
    input: [s('headroom_memory_status', 'bad', '0 0 0 0 2x20')],
    fire: [],
    quiet: ['bad'],
  },
  {
    alert: 'HeadroomMemoryWarning',
    at: '12m',
    input: [s('headroom_memory_status', 'bad', '1x60'), s('headroom_memory_status', 'recovered', '1x32 0x28')],
    fire: [{ instance: 'bad' }],
    quiet: ['recovered'],
  },
  {
    alert: 'HeadroomHeapHigh',
    at: '6m',
    input: [s('headroom_heap_used_ratio', 'bad', '0.86x30'), s('headroom_heap_used_ratio', 'ok', '0.84x30')],
    fire: [{ instance: 'bad', value: '86%' }],
    quiet: ['ok'],
  },
  {
    alert: 'HeadroomHeapNearLimit',
    at: '2m',
    input: [s('headroom_heap_used_ratio', 'bad', '0.96x20'), s('headroom_heap_used_ratio', 'ok', '0.94x20')],
    fire: [{ instance: 'bad', value: '96%' }],
    quiet: ['ok'],
  },
  {
    alert: 'HeadroomRssHigh',
    at: '6m',
    input: [
      s('headroom_rss_used_ratio', 'bad', '0.86x30'),
      s('headroom_rss_used_ratio', 'ok', '0.84x30'),
      s('headroom_rss_used_ratio', 'nolimit', nan(8)),
    ],
    fire: [{ instance: 'bad', value: '86%' }],
    quiet: ['ok', 'nolimit'],
  },
  {
    alert: 'HeadroomRssNearLimit',
    at: '2m',
    input: [
      s('headroom_rss_used_ratio', 'bad', '0.96x20'),
      s('headroom_rss_used_ratio', 'ok', '0.94x20'),
      s('headroom_rss_used_ratio', 'nolimit', nan(5)),
    ],
    fire: [{ instance: 'bad', value: '96%' }],
    quiet: ['ok', 'nolimit'],
  },
  {
    alert: 'HeadroomHeapGrowing',
    at: '35m',
    input: [
      s('headroom_heap_growth_bytes_per_second', 'bad', '35000x140'),
      s('headroom_heap_growth_bytes_per_second', 'slow', '10000x140'),
      s('headroom_heap_growth_bytes_per_second', 'unknown', nan(35)),
    ],
    fire: [{ instance: 'bad', value: '35k' }],
    quiet: ['slow', 'unknown'],
  },
  {
    alert: 'HeadroomEventLoopDelay',
    at: '6m',
    // A loop blocked ~400 ms at a time: the 50 ms timer fires twice a second, each time 0.4 s late.
    // An idle one: 20 ticks a second, on time.
    input: [...delayBuckets('bad', 0.4, 30, 30), ...delayBuckets('idle', 0.0004, 300, 30)],
    fire: [{ instance: 'bad', value: '497.5ms' }],
    quiet: ['idle'],
  },
  {
    alert: 'HeadroomShedding',
    at: '11m',
    input: [
      s('headroom_proxy_shed_total', 'bad', '0+3x60', { part: 'proxy' }),
      s('headroom_proxy_shed_total', 'never', '0x60', { part: 'proxy' }),
      s('headroom_proxy_shed_total', 'once', '0x8 10x52', { part: 'proxy' }), // one burst at 2m, then nothing
    ],
    fire: [{ instance: 'bad' }],
    quiet: ['never', 'once'],
  },
  {
    alert: 'HeadroomRejecting',
    at: '14m', // rate() over a window not yet full reads low: above 1/s from about 2.5m, then 10m
    input: [
      s('headroom_proxy_rejected_total', 'bad', '0+30x60', { reason: 'concurrency' }), // 2/s
      s('headroom_proxy_rejected_total', 'few', '0+6x60', { reason: 'concurrency' }), // 0.4/s
    ],
    fire: [{ instance: 'bad', value: '2' }],
    quiet: ['few'],
  },
  {
    alert: 'HeadroomBreakerOpen',
    at: '6m',
    input: [s('headroom_proxy_breaker_open', 'bad', '1x30'), s('headroom_proxy_breaker_open', 'closed-again', '1x12 0x18')],
    fire: [{ instance: 'bad' }],
    quiet: ['closed-again'],
  },
  {
    alert: 'HeadroomUpstreamErrors',
    at: '11m',
    input: [
      s('headroom_proxy_requests_total', 'bad', '0+150x60'), // 10/s
      s(UPSTREAM, 'bad', '0+15x60', { kind: 'unreachable' }), // 10%
      s('headroom_proxy_requests_total', 'ok', '0+150x60'),
      s(UPSTREAM, 'ok', '0+3x60', { kind: 'timeout' }), // 2%
      s(UPSTREAM, 'ok', '0+60x60', { kind: 'clientAbort' }), // clients leaving are not upstream errors
      s('headroom_proxy_requests_total', 'night', '0+1.5x60'), // 0.1/s
      s(UPSTREAM, 'night', '0+0.15x60', { kind: 'reset' }), // 10%, but 3 in 5 minutes
    ],
    fire: [{ instance: 'bad', value: '10%' }],
    quiet: ['ok', 'night'],
  },
  {
    alert: 'HeadroomServerErrors',
    at: '12m',
    input: [
      http('bad', '200', '0+135x60'),
      http('bad', '502', '0+15x60'), // 10%
      http('ok', '200', '0+120x60'),
      http('ok', '404', '0+30x60'), // client errors do not count
      http('ok', '500', '0+3x60'), // 2%
      // Critical and idle: only its readiness probes (503 while critical) and scrapes are answered.
      http('probed', '503', '0+30x60', '/health/ready'),
      http('probed', '200', '0+4x60', '/metrics'),
    ],
    fire: [{ instance: 'bad', value: '10%' }],
    quiet: ['ok', 'probed'],
  },
  {
    alert: 'HeadroomL2Down',
    at: '5m',
    input: [
      s('headroom_cache_l2_up', 'bad', '1 1 1 1 0x30'),
      s('headroom_cache_l2_up', 'blips', '1 1 0 1 1 1 0 1 1 1 1 0 1 1 1 1 1 0 1 1 1'),
      // Connected, but skipped by its breaker after failures: L1 only, as when it is down.
      s('headroom_cache_l2_up', 'skipped', '1x30'),
      s('headroom_cache_l2_breaker_open', 'skipped', '0 0 0 0 1x30'),
    ],
    fire: [{ instance: 'bad' }, { instance: 'skipped' }],
    quiet: ['blips'],
  },
  {
    alert: 'HeadroomAlertDeliveryFailing',
    at: '10m',
    input: [
      s('headroom_alerts_failed_total', 'bad', '0 0 0 0 1x40'),
      s('headroom_alerts_dropped_total', 'bad', '0x44'),
      s('headroom_alerts_failed_total', 'full', '0x44'),
      s('headroom_alerts_dropped_total', 'full', '0 0 0 0 0 0 3x40'),
      s('headroom_alerts_sent_total', 'ok', '0+1x44'),
      s('headroom_alerts_failed_total', 'ok', '0x44'),
      s('headroom_alerts_dropped_total', 'ok', '0x44'),
    ],
    fire: [{ instance: 'bad' }, { instance: 'full' }],
    quiet: ['ok'],
  },
];

const LIMIT = 512 * MiB;

test('promtool check rules and check config', (t) => {
  if (!promtoolOrSkip('deploy rules')) return t.skip('promtool not installed');
  const r = promtool(['check', 'rules', RULES_FILE]);
  assert.equal(r.status, 0, r.output);
  const c = promtool(['check', 'config', join(DEPLOY, 'prometheus/prometheus.yml')]);
  assert.equal(c.status, 0, c.output);
});

test('every alert has a severity, a summary, a description and a for:, one per instance', () => {
  assert.ok(rules.length >= 10);
  for (const r of rules) {
    assert.ok(r.alert, 'only alerts in this file');
    assert.match(r.labels?.severity ?? '', /^(warning|critical)$/, r.alert);
    assert.ok(r.annotations?.summary && r.annotations.description, r.alert);
    assert.match(r.for ?? '', /^\d+[smh]$/, `${r.alert}: for:`);
    assert.match(r.expr, /by \(job, instance(, le)?\)/, `${r.alert}: one alert per instance`);
  }
});

test('docs/monitoring.md explains every alert of the file, with its severity, and no other', () => {
  const doc = read('docs/monitoring.md');
  const documented = [...doc.matchAll(/^\| `(Headroom\w+)` \| (\w+) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(documented.sort(), rules.map((r) => `${r.alert} ${r.labels!.severity}`).sort());
});

test('every alert fires on its signal and stays quiet beside it on a near miss (promtool test rules)', (t) => {
  if (!promtoolOrSkip('deploy rules')) return t.skip('promtool not installed');
  const r = promtoolTestRules({
    rule_files: [RULES_FILE],
    evaluation_interval: '15s',
    tests: CASES.map((c) => {
      const instances = new Set(c.input.map((i) => /instance="([^"]+)"/.exec(i.series)![1]));
      for (const q of c.quiet) assert.ok(instances.has(q), `${c.alert}: the quiet instance ${q} has series`);
      return { interval: '15s', input_series: c.input, alert_rule_test: [alertTest(c)] };
    }),
  });
  assert.equal(r.status, 0, r.output);
  // Every alert of the file has a case where it fires and a case where it stays quiet on data
  // (the leak alert in its own scenario below).
  for (const { alert } of rules.filter((x) => x.alert !== 'HeadroomHeapWillHitLimit')) {
    assert.ok(
      CASES.some((c) => c.alert === alert && c.fire.length > 0),
      `${alert}: no firing case`,
    );
    assert.ok(
      CASES.some((c) => c.alert === alert && c.quiet.length > 0),
      `${alert}: no quiet case`,
    );
  }
});

test('a 2 MiB/min leak in a 512 MiB heap is announced at least 45 minutes before the limit; a flat heap is not', (t) => {
  if (!promtoolOrSkip('deploy rules')) return t.skip('promtool not installed');
  // An hour at a steady 100 MiB post-GC floor, then 2 MiB more survive every minute: the floor
  // reaches the limit 206 minutes later. Major GCs every 2 minutes; the used heap climbs 40 MiB
  // between them.
  const leakStart = 60 * 60;
  const limitAt = 60 + (LIMIT - 100 * MiB) / (2 * MiB); // minutes
  const leak = gcSawtooth({
    floor: (sec) => 100 * MiB + (Math.max(0, sec - leakStart) / 60) * 2 * MiB,
    climb: 40 * MiB,
    gcSeconds: 120,
    jitter: MiB,
  });
  const flat = gcSawtooth({ floor: () => 100 * MiB, climb: 40 * MiB, gcSeconds: 120, jitter: MiB });
  const input = (instance: string, heap: ReturnType<typeof gcSawtooth>) => [
    s(
      'headroom_heap_size_limit_bytes',
      instance,
      scrapes(limitAt, () => LIMIT),
    ),
    s('headroom_heap_after_gc_bytes', instance, scrapes(limitAt, heap.afterGc)),
    s(
      'headroom_heap_used_ratio',
      instance,
      scrapes(limitAt, (sec) => heap.used(sec) / LIMIT),
    ),
  ];
  const at = (minutes: number, fire: boolean) => ({
    eval_time: `${minutes}m`,
    alertname: 'HeadroomHeapWillHitLimit',
    exp_alerts: fire
      ? [
          {
            exp_labels: { job: 'headroom', instance: 'leak', severity: 'warning' },
            exp_annotations: annotations('HeadroomHeapWillHitLimit', 'leak'),
          },
        ]
      : [],
  });
  const r = promtoolTestRules({
    rule_files: [RULES_FILE],
    evaluation_interval: '15s',
    tests: [
      {
        interval: '15s',
        input_series: [...input('leak', leak), ...input('flat', flat)],
        // Quiet before the leak and in its first half hour; firing 45 minutes before the limit.
        alert_rule_test: [at(60, false), at(90, false), at(limitAt - 45, true)],
      },
    ],
  });
  assert.equal(limitAt, 266);
  assert.equal(r.status, 0, r.output);
});

test('24 hours of a flat GC sawtooth with heapUsed/heapTotal at 95 %+ before every GC fire nothing', (t) => {
  if (!promtoolOrSkip('deploy rules')) return t.skip('promtool not installed');
  // What a healthy, busy gateway shows: V8 keeps heapTotal just above the used heap, so
  // heapUsed/heapTotal touches 95 %+ before every major GC, while the heap is a third of its limit
  // and the post-GC floor does not move. Traffic flows with a rare upstream fault.
  const day = 24 * 60;
  const i = 'sawtooth';
  const heapTotal = 160 * MiB;
  const heap = gcSawtooth({ floor: () => 100 * MiB, climb: 64 * MiB, gcSeconds: 120, jitter: 1.5 * MiB });
  const steps = (day * 60) / 15;
  // The replay is what it claims: heapUsed/heapTotal at or above 95 % before every GC, never above
  // 100 %, and the heap under a third of its limit.
  const ratios = Array.from({ length: steps + 1 }, (_, k) => heap.used(k * 15) / heapTotal);
  assert.ok(Math.max(...ratios) <= 1 && Math.max(...ratios) > 0.97, String(Math.max(...ratios)));
  assert.equal(ratios.filter((x) => x >= 0.95).length, steps / 8, 'one scrape at 95 %+ in each 2-minute GC cycle');
  assert.ok(Math.max(...ratios) * heapTotal < LIMIT / 3);
  const r = promtoolTestRules({
    rule_files: [RULES_FILE],
    evaluation_interval: '15s',
    tests: [
      {
        interval: '15s',
        input_series: [
          s('headroom_heap_size_limit_bytes', i, `${LIMIT}x${steps}`),
          s('nodejs_heap_size_total_bytes', i, `${heapTotal}x${steps}`),
          s('nodejs_heap_size_used_bytes', i, scrapes(day, heap.used)),
          s(
            'headroom_heap_used_ratio',
            i,
            scrapes(day, (sec) => heap.used(sec) / LIMIT),
          ),
          s('headroom_heap_after_gc_bytes', i, scrapes(day, heap.afterGc)),
          // The gateway's own least-squares slope of that floor: noise around zero.
          s(
            'headroom_heap_growth_bytes_per_second',
            i,
            scrapes(day, (sec) => 300 * noise(sec / 60 + 7)),
          ),
          s('headroom_memory_status', i, `0x${steps}`),
          s(
            'headroom_rss_used_ratio',
            i,
            scrapes(day, (sec) => 0.5 + 0.05 * noise(sec)),
          ),
          ...delayBuckets(i, 0.002, 300, steps),
          s('headroom_proxy_requests_total', i, `0+750x${steps}`), // 50/s
          s(UPSTREAM, i, `0+0.15x${steps}`, { kind: 'timeout' }), // one every 100 s
          s('headroom_proxy_shed_total', i, `0x${steps}`, { part: 'proxy' }),
          s('headroom_proxy_rejected_total', i, `0x${steps}`, { reason: 'memory' }),
          s('headroom_proxy_breaker_open', i, `0x${steps}`),
          s('headroom_cache_l2_up', i, `1x${steps}`),
          http(i, '200', `0+749x${steps}`),
          http(i, '502', `0+0.15x${steps}`),
          s('headroom_alerts_sent_total', i, `0x${steps}`),
          s('headroom_alerts_failed_total', i, `0x${steps}`),
          s('headroom_alerts_dropped_total', i, `0x${steps}`),
        ],
        // No alert was even pending at any evaluation of the day.
        promql_expr_test: [{ expr: 'count_over_time(ALERTS[1d])', eval_time: '24h', exp_samples: [] }],
      },
    ],
  });
  assert.equal(r.status, 0, r.output);
});
