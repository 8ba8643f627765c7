// deploy/grafana/headroom.json: React panels only (Grafana 12 no longer loads Angular ones), the
// data source / job / instance variables applied to every query, the panels issue 15 asks for, every
// expression parsed by promtool, and every expression run by promtool against a live gateway's scrape.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { promtool, promtoolOrSkip, promtoolTestRules } from '../helpers/promtool.js';
import { read } from './helpers.js';
import { seriesName } from './replay.js';

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  fieldConfig?: { defaults: object; overrides: unknown[] };
  options?: object;
  collapsed?: boolean;
  panels?: unknown[];
}
interface Variable {
  type: string;
  name: string;
  query?: string | { query: string };
  datasource?: { uid: string };
  allValue?: string;
}
const dashboard = JSON.parse(read('deploy/grafana/headroom.json')) as {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
};
const rules = YAML.parse(read('deploy/prometheus/headroom-rules.yml')) as { groups: { rules: { alert: string; expr: string }[] }[] };

/** Queries that rightly return nothing on a fresh, healthy gateway, by panel title and refId. */
const EMPTY_WHEN_HEALTHY: Record<string, string> = {
  'Time until the heap limit/A': 'no value while the post-GC heap is not growing',
  'Prometheus alerts firing now/A': "Prometheus' own ALERTS series, empty while nothing fires",
};

/** Grafana's React panels; Angular ones (graph, singlestat, table-old, plugin panels) fail to load in 12. */
const REACT_PANELS = new Set([
  'row',
  'timeseries',
  'stat',
  'gauge',
  'bargauge',
  'table',
  'text',
  'state-timeline',
  'status-history',
  'barchart',
  'histogram',
  'heatmap',
  'piechart',
  'alertlist',
  'dashlist',
  'logs',
  'news',
  'nodeGraph',
  'xychart',
  'trend',
  'canvas',
]);

const METRIC = /\b((?:headroom|nodejs|process)_[a-z0-9_]+|ALERTS)\b(\{[^}]*\})?/g;
const SUFFIX = /_(bucket|sum|count)$/;
const metricsIn = (expr: string): string[] => [...expr.matchAll(METRIC)].map((m) => m[1]!.replace(SUFFIX, ''));

const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t, key: `${p.title}/${t.refId}` })));

/** Grafana's macros and variables as Prometheus would receive them with "All" selected. */
const forPrometheus = (expr: string): string => {
  const out = expr.replaceAll('$__rate_interval', '1m').replaceAll('"$job"', '".+"').replaceAll('"$instance"', '".+"');
  assert.doesNotMatch(out, /\$/, `a variable or macro the test does not know: ${expr}`);
  return out;
};

test('the dashboard: React panels only, ids unique, laid out on the 24-column grid without overlaps', () => {
  assert.equal(dashboard.uid, 'headroom-gateway');
  assert.ok(dashboard.schemaVersion >= 36);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const cells = new Map<string, string>();
  for (const p of dashboard.panels) {
    assert.ok(REACT_PANELS.has(p.type), `${p.title}: "${p.type}" is an Angular or unknown panel type`);
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        const other = cells.get(`${i},${j}`);
        assert.equal(other, undefined, `${p.title} overlaps ${other}`);
        cells.set(`${i},${j}`, p.title);
      }
    }
    if (p.type === 'row') {
      assert.equal(p.collapsed, false, `${p.title}: rows are open (their panels follow them)`);
      assert.deepEqual(p.panels, []);
      continue;
    }
    // What @grafana/schema's Panel requires, checked by hand (the package is not installed).
    assert.ok(p.fieldConfig && Array.isArray(p.fieldConfig.overrides) && p.options, `${p.title}: fieldConfig and options`);
    assert.ok(p.targets && p.targets.length > 0, `${p.title}: has queries`);
    const refs = p.targets.map((t) => t.refId);
    assert.equal(new Set(refs).size, refs.length, `${p.title}: refIds unique`);
  }
});

test('the data source, job and instance variables: every query uses all three', () => {
  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  assert.deepEqual([...vars.keys()], ['datasource', 'job', 'instance']);
  assert.equal(vars.get('datasource')!.type, 'datasource');
  assert.equal(vars.get('datasource')!.query, 'prometheus');
  for (const name of ['job', 'instance']) {
    const v = vars.get(name)!;
    assert.equal(v.type, 'query');
    assert.equal(v.datasource?.uid, '${datasource}');
    assert.equal(v.allValue, '.+');
    assert.match(
      typeof v.query === 'string' ? v.query : v.query!.query,
      new RegExp(`^label_values\\(headroom_memory_status.*, ${name}\\)$`),
    );
  }
  for (const { panel, target, key } of queries) {
    assert.equal(panel.datasource?.uid, '${datasource}', `${panel.title}: the data source variable`);
    assert.equal(target.datasource.uid, '${datasource}', key);
    const selectors = [...target.expr.matchAll(METRIC)];
    assert.ok(selectors.length > 0, `${key}: names a metric`);
    for (const [all, , labels] of selectors) {
      assert.ok(
        labels?.includes('job=~"$job"') && labels.includes('instance=~"$instance"'),
        `${key}: ${all} is not filtered by $job and $instance`,
      );
    }
  }
});

test('the panels issue 15 asks for', () => {
  const exprs = (title: RegExp): string =>
    dashboard.panels
      .filter((p) => title.test(p.title))
      .flatMap((p) => (p.targets ?? []).map((t) => t.expr))
      .join('\n');
  const wants: [RegExp, string[]][] = [
    [/^Heap used against the V8 heap limit$/, ['headroom_heap_used_ratio', 'headroom_heap_size_limit_bytes']],
    [/^Post-GC heap/, ['headroom_heap_after_gc_bytes', 'headroom_heap_growth_bytes_per_second']],
    [/^RSS against the container limit$/, ['process_resident_memory_bytes', 'headroom_rss_limit_bytes']],
    [/^Event-loop/, ['headroom_event_loop_delay_seconds_bucket', 'headroom_event_loop_utilization_ratio']],
    [/GC/, ['headroom_gc_pause_seconds_total', 'headroom_gc_runs_total']],
    [
      /cache|Cache|Hit ratio|L2/,
      ['headroom_cache_bytes', 'headroom_cache_requests_total', 'headroom_cache_l2_up', 'headroom_proxy_cache_total'],
    ],
    [
      /[Pp]rox|[Uu]pstream/,
      [
        'headroom_proxy_in_flight',
        'headroom_proxy_queued',
        'headroom_proxy_upstream_latency_seconds_bucket',
        'headroom_proxy_errors_total',
      ],
    ],
    [
      /[Ii]mage|Transform/,
      ['headroom_image_requests_total', 'headroom_image_transforms_queued', 'headroom_image_transform_reserved_bytes'],
    ],
    [/[Ss]hed|breaker/, ['headroom_proxy_shed_total', 'headroom_proxy_rejected_total', 'headroom_proxy_breaker_open']],
    [/[Aa]lert/, ['headroom_alerts_firing', 'ALERTS{alertstate="firing"']],
    [
      /route|status class/,
      ['headroom_http_requests_total', 'headroom_http_request_duration_seconds_bucket', 'status=~"5.."', 'status_class'],
    ],
    [/^Memory status$/, ['headroom_memory_status']],
  ];
  for (const [title, names] of wants) {
    const text = exprs(title);
    for (const n of names) assert.ok(text.includes(n), `a panel matching ${title} reads ${n}`);
  }
});

test('every dashboard expression parses (promtool check rules on one recording rule per query)', (t) => {
  if (!promtoolOrSkip('dashboard expressions')) return t.skip('promtool not installed');
  const dir = mkdtempSync(join(tmpdir(), 'headroom-dashboard-'));
  try {
    const file = join(dir, 'dashboard-rules.yml');
    const recorded = queries.map(({ panel, target }) => ({
      record: `dashboard:panel_${panel.id}_${target.refId}`,
      expr: forPrometheus(target.expr),
    }));
    writeFileSync(file, YAML.stringify({ groups: [{ name: 'dashboard', rules: recorded }] }, { lineWidth: 0 }));
    const r = promtool(['check', 'rules', file]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${recorded.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('against a live gateway', () => {
  let gw: TestGateway;
  let scrape: string;
  // A webhook receiver, so that the gateway's alerter (and its headroom_alerts_* metrics) is on.
  const receiver = createServer((req, res) => req.resume().on('end', () => res.end()));
  before(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const { port } = receiver.address() as AddressInfo;
    // MEMORY_GC_PAUSES as the deploy kit sets it: the GC panels read the pause counters.
    gw = await startGateway({
      HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      MEMORY_GC_PAUSES: 'true',
    });
    // Some traffic, so that labelled families have their series: a proxied request, an image, a
    // refused image, and a major GC for the post-GC heap.
    assert.equal((await request(`${gw.url}/api/items`)).status, 200);
    const image = `${gw.gw.upstreamUrl}/images/demo.png`;
    assert.equal((await request(`${gw.url}/image?url=${encodeURIComponent(image)}&w=64`)).status, 200);
    assert.equal((await request(`${gw.url}/image?url=${encodeURIComponent(`${gw.url}/health`)}`)).status, 403);
    assert.equal(
      (await request(`${gw.url}/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
      200,
    );
    scrape = (await request(`${gw.url}/metrics`)).text;
  });
  after(async () => {
    await gw.close();
    await new Promise((r) => receiver.close(r));
  });

  /** name{labels} → value, for every sample line of the scrape. */
  const samples = (): [string, string, string][] =>
    scrape
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
        assert.ok(m, `not a sample line: ${l}`);
        return [m[1]!, m[2] ?? '', m[3]!];
      });
  /** Families with at least one sample (a histogram by its base name). */
  const exported = (): Set<string> => new Set(samples().flatMap(([name]) => [name, name.replace(SUFFIX, '')]));

  test('every metric the dashboard and the alert rules read is exported', () => {
    const have = exported();
    const used = new Set([
      ...queries.flatMap(({ target }) => metricsIn(target.expr)),
      ...rules.groups.flatMap((g) => g.rules.flatMap((r) => metricsIn(r.expr))),
    ]);
    used.delete('ALERTS'); // Prometheus' own
    assert.ok(used.size >= 40, `only ${used.size} metrics`);
    const missing = [...used].filter((m) => !have.has(m));
    assert.deepEqual(missing, [], 'metrics that /metrics does not export');
  });

  test('every dashboard query returns data from the live scrape (promtool test rules)', (t) => {
    if (!promtoolOrSkip('dashboard queries')) return t.skip('promtool not installed');
    // The scrape replayed as 5 minutes of identical scrapes of one instance.
    const input = samples().map(([name, labels, value]) => ({
      series: seriesName(name, 'gw:3000').replace('{', `{${labels}${labels ? ',' : ''}`),
      values: Array(21).fill(value).join(' '),
    }));
    const checked = queries.filter(({ key }) => !(key in EMPTY_WHEN_HEALTHY));
    assert.ok(checked.length >= 45, `only ${checked.length} queries checked`);
    const r = promtoolTestRules({
      rule_files: [],
      evaluation_interval: '15s',
      tests: [
        {
          interval: '15s',
          input_series: input,
          promql_expr_test: checked.map(({ target }) => ({
            expr: `count(${forPrometheus(target.expr)}) > bool 0`,
            eval_time: '5m',
            exp_samples: [{ labels: '{}', value: 1 }],
          })),
        },
      ],
    });
    assert.equal(r.status, 0, `queries that return nothing on a live gateway's metrics:\n${r.output}`);
  });
});
