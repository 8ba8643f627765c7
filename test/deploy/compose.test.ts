// deploy/docker-compose.yml: parses, every file it mounts or builds from exists, every gateway sets
// only real options with values the gateway accepts, and its memory numbers fit its limit.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { checkGrace, checkMemory, configFrom, exists, memoryBytes, read } from './helpers.js';

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  environment?: Record<string, string | number | boolean | null>;
  volumes?: (string | { type: string; source?: string; target: string })[];
  mem_limit?: string;
  memswap_limit?: string;
  stop_grace_period?: string;
  depends_on?: Record<string, unknown> | string[];
}

const FILE = 'deploy/docker-compose.yml';
const compose = YAML.parse(read(FILE), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const gateways = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');

/** `${VAR:-default}` → default, as compose does with VAR unset (the test's view of a fresh checkout). */
const interpolate = (v: unknown): string =>
  String(v ?? '').replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, _name, dflt: string | undefined) => dflt ?? '');
const seconds = (d: string): number => {
  const m = /^(\d+)(s|m)$/.exec(d);
  assert.ok(m, `not a compose duration: ${d}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};

test('two gateways built from deploy/Dockerfile share one Redis; Prometheus and Grafana run beside them', () => {
  assert.equal(gateways.length, 2);
  for (const [name, s] of gateways) {
    assert.ok(exists(join('deploy', s.build!.context, s.build!.dockerfile)), `${name}: build file`);
    assert.equal(join('deploy', s.build!.context), '.', `${name}: the build context is the repository root (.dockerignore)`);
    assert.equal(interpolate(s.environment?.REDIS_URL), 'redis://redis:6379', `${name}: shares the redis service`);
  }
  assert.ok(services.redis && services.prometheus && services.grafana);
});

test('every file or directory mounted into a container exists', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0]! : v.type === 'bind' ? v.source! : undefined;
      if (source === undefined || !/^[./]/.test(source)) continue; // named or anonymous volume
      assert.ok(exists(join('deploy', source)), `${name}: mounts ${source}, which does not exist`);
    }
  }
});

test('Prometheus loads the rules and scrapes both gateways; Grafana gets the dashboard', () => {
  const prom = YAML.parse(read('deploy/prometheus/prometheus.yml')) as {
    rule_files: string[];
    scrape_configs: { static_configs: { targets: string[] }[] }[];
  };
  assert.deepEqual(prom.rule_files, ['headroom-rules.yml']);
  const mounts = (services.prometheus!.volumes as string[]).map((v) => v.split(':').slice(0, 2));
  assert.deepEqual(mounts, [
    ['./prometheus/prometheus.yml', '/etc/prometheus/prometheus.yml'],
    ['./prometheus/headroom-rules.yml', '/etc/prometheus/headroom-rules.yml'],
  ]);
  const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((sc) => sc.targets));
  assert.deepEqual(targets.sort(), gateways.map(([n]) => `${n}:3000`).sort());

  const provider = YAML.parse(read('deploy/grafana/provisioning/dashboards/headroom.yml')) as {
    providers: { options: { path: string } }[];
  };
  const grafanaMounts = (services.grafana!.volumes as string[]).map((v) => v.split(':'));
  // deploy/grafana/headroom.json is mounted into the directory the provider reads, and is the home dashboard.
  const dashboard = grafanaMounts.find(([source]) => source === './grafana/headroom.json');
  assert.ok(dashboard, 'deploy/grafana/headroom.json is mounted');
  assert.ok(exists(join('deploy', dashboard[0]!)));
  assert.equal(dashboard[1], `${provider.providers[0]!.options.path}/headroom.json`, 'mounted where the provider reads');
  assert.equal((services.grafana!.environment as Record<string, string>).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, dashboard[1]);
  const ds = YAML.parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { url: string; uid: string }[] };
  assert.equal(ds.datasources[0]!.url, 'http://prometheus:9090');
});

test('gateway environments are real options with accepted values; memory and grace fit', () => {
  for (const [name, s] of gateways) {
    const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
    // The image sets NODE_ENV=production; with the demo default this is what a fresh `up` runs.
    const config = configFrom({ NODE_ENV: 'production', ...env }, `${FILE} ${name}`);
    assert.ok(s.mem_limit, `${name}: mem_limit`);
    assert.equal(s.memswap_limit, s.mem_limit, `${name}: no swap (memswap_limit = mem_limit)`);
    checkMemory(config, memoryBytes(s.mem_limit), `${FILE} ${name}`);
    checkGrace(config, seconds(s.stop_grace_period ?? '10s'), `${FILE} ${name}`);
  }
});
