// deploy/prometheus and deploy/grafana: promtool accepts the rules and the scrape config, the alerts
// fire on the series they watch (promtool test rules), and every metric the rules and the dashboard
// read is one a live gateway exports.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { parsePrometheus } from '../server/prometheus.js';
import { DEPLOY, read, toolOrSkip } from './helpers.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = YAML.parse(read('deploy/prometheus/rules.yml')) as { groups: { name: string; rules: Rule[] }[] };
const dashboard = JSON.parse(read('deploy/grafana/dashboards/headroom.json')) as {
  uid: string;
  panels: { id: number; title: string; datasource: { uid: string }; targets: { expr: string; refId: string }[] }[];
};

const METRIC = /\b((?:headroom|nodejs|process)_[a-z0-9_]+)\b/g;
const metricsIn = (expr: string): string[] => [...expr.matchAll(METRIC)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));

const promtool = (args: string[], cwd?: string) => spawnSync('promtool', args, { encoding: 'utf8', cwd });

test('promtool check rules and check config', (t) => {
  if (!toolOrSkip('promtool', ['--version'], 'HEADROOM_REQUIRE_PROMTOOL', 'apt-get install -y prometheus')) return t.skip('no promtool');
  const r = promtool(['check', 'rules', join(DEPLOY, 'prometheus/rules.yml')]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const c = promtool(['check', 'config', join(DEPLOY, 'prometheus/prometheus.yml')]);
  assert.equal(c.status, 0, c.stdout + c.stderr);
});

test('the alerts fire on the series they watch (promtool test rules)', (t) => {
  if (!toolOrSkip('promtool', ['--version'], 'HEADROOM_REQUIRE_PROMTOOL', 'apt-get install -y prometheus')) return t.skip('no promtool');
  const dir = mkdtempSync(join(tmpdir(), 'headroom-rules-'));
  try {
    const i = { job: 'headroom', instance: 'gw:3000' };
    const series = (metric: string, values: string, labels: Record<string, string> = {}) => ({
      series: `${metric}{${Object.entries({ ...i, ...labels })
        .map(([k, v]) => `${k}="${v}"`)
        .join(',')}}`,
      values,
    });
    // promtool compares annotations too: render the few templates the rules use.
    const annotations = (alertname: string, value: string): Record<string, string> => {
      const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === alertname)!;
      return Object.fromEntries(
        Object.entries(rule.annotations ?? {}).map(([k, v]) => [
          k,
          v.replace(/\{\{ \$labels\.instance \}\}/g, i.instance).replace(/\{\{ \$value \| humanizePercentage \}\}/g, value),
        ]),
      );
    };
    const fired = (alertname: string, severity: string, at: string, value = '') => ({
      eval_time: at,
      alertname,
      exp_alerts: [{ exp_labels: { ...i, severity }, exp_annotations: annotations(alertname, value) }],
    });
    const silent = (alertname: string, at: string) => ({ eval_time: at, alertname, exp_alerts: [] });
    const tests = {
      rule_files: [join(DEPLOY, 'prometheus/rules.yml')],
      evaluation_interval: '15s',
      tests: [
        {
          interval: '15s',
          input_series: [
            series('headroom_memory_status', '0 0 0 0 2x60'),
            series('headroom_heap_used_ratio', '0.5 0.96x40'),
            series('headroom_rss_used_ratio', Array(41).fill('NaN').join(' ')),
            series('headroom_proxy_shed_total', '0+3x60', { part: 'proxy' }),
            series('headroom_proxy_rejected_total', '0+0x60', { reason: 'memory' }),
            series('headroom_proxy_breaker_open', '0x60'),
            series('headroom_heap_growth_bytes_per_second', Array(61).fill('NaN').join(' ')),
          ],
          alert_rule_test: [
            silent('HeadroomMemoryCritical', '1m'),
            silent('HeadroomMemoryWarning', '10m'),
            fired('HeadroomMemoryWarning', 'warning', '12m'),
            fired('HeadroomMemoryCritical', 'critical', '3m'),
            fired('HeadroomHeapNearLimit', 'critical', '2m', '96%'),
            fired('HeadroomHeapHigh', 'warning', '6m', '96%'),
            silent('HeadroomRssNearLimit', '6m'), // NaN without a limit: quiet
            silent('HeadroomHeapGrowing', '10m'),
            fired('HeadroomShedding', 'warning', '11m'),
            silent('HeadroomRejecting', '11m'),
            silent('HeadroomBreakerOpen', '11m'),
          ],
        },
      ],
    };
    const file = join(dir, 'rules.test.yml');
    writeFileSync(file, YAML.stringify(tests));
    const r = promtool(['test', 'rules', file]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // Every alert of the file is exercised above.
    const tested = new Set(tests.tests[0]!.alert_rule_test.map((a) => a.alertname));
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter(Boolean);
    assert.deepEqual(
      alerts.filter((a) => !tested.has(a!)),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every alert has a severity, a summary and a for:, on bounded label sets', () => {
  for (const g of rules.groups) {
    for (const r of g.rules) {
      assert.ok(r.alert, `${g.name}: only alerts here`);
      assert.match(r.labels?.severity ?? '', /^(warning|critical)$/, r.alert);
      assert.ok(r.annotations?.summary && r.annotations.description, r.alert);
      assert.match(r.for ?? '', /^\d+[smh]$/, `${r.alert}: for:`);
      assert.match(r.expr, /by \(job, instance\)/, `${r.alert}: one alert per instance`);
    }
  }
});

test('the dashboard: valid JSON, one datasource, the panels issue 16 asks for', () => {
  const ds = YAML.parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string }[] };
  assert.equal(dashboard.uid, 'headroom-gateway');
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels) {
    assert.equal(p.datasource.uid, ds.datasources[0]!.uid, `${p.title}: the provisioned datasource`);
    assert.ok(p.targets.length > 0, `${p.title}: has queries`);
  }
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
  for (const m of [
    'headroom_heap_used_ratio',
    'headroom_rss_used_ratio',
    'headroom_memory_status',
    'nodejs_eventloop_lag_p99_seconds',
    'headroom_proxy_in_flight',
    'headroom_proxy_shed_total',
  ]) {
    assert.ok(exprs.includes(m), `a panel on ${m}`);
  }
});

describeLive();

function describeLive(): void {
  let gw: TestGateway;
  let exported: Map<string, string>;
  before(async () => {
    gw = await startGateway();
    exported = parsePrometheus((await request(`${gw.url}/metrics`)).text);
  });
  after(() => gw.close());

  test('every metric the rules and the dashboard read is exported by a live gateway', () => {
    const used = new Set([
      ...rules.groups.flatMap((g) => g.rules.flatMap((r) => metricsIn(r.expr))),
      ...dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr))),
    ]);
    assert.ok(used.size >= 8);
    assert.deepEqual(
      [...used].filter((m) => !exported.has(m)),
      [],
      'metrics that /metrics does not export',
    );
  });
}
