// deploy/kubernetes: `kubectl kustomize` renders the base and the production overlay; every object
// validates offline against the Kubernetes schemas with no unknown field; the Deployment follows the
// house rules (memory requests = limits, the three probes, grace period, real options, memory
// numbers); selectors line up; the PrometheusRule carries deploy/prometheus/headroom-rules.yml.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { checkGrace, checkMemory, configFrom, DEPLOY, memoryBytes, readYaml, toolOrSkip } from './helpers.js';
import { validateObject } from './strict.js';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & { selector?: { matchLabels?: Record<string, string> } };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  ports: { name: string; containerPort: number }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean };
}

const KUSTOMIZE_INSTALL = 'kubectl ≥ 1.21 from https://pkgs.k8s.io, or the kustomize binary; Debian’s kubernetes-client 1.20 is too old';

/**
 * kubectl with an embedded kustomize ≥ v4 (labels/includeTemplates, patches, $patch: delete).
 * Debian's kubernetes-client is too old and CI has no other package source, so .ci/run requires it
 * (HEADROOM_REQUIRE_KUBECTL=1) only on machines that have it.
 */
function kubectlOrSkip(): boolean {
  if (!toolOrSkip('kubectl', ['version', '--client'], 'HEADROOM_REQUIRE_KUBECTL', KUSTOMIZE_INSTALL, false)) return false;
  const v = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).stdout;
  const m = /Kustomize Version: v(\d+)/.exec(v);
  if (m && Number(m[1]) >= 4) return true;
  const msg = `kubectl's kustomize is too old or unknown (${v.trim().replace(/\n/g, '; ')}): ${KUSTOMIZE_INSTALL}`;
  if (process.env.HEADROOM_REQUIRE_KUBECTL === '1') throw new Error(msg);
  console.warn(`\n*** SKIP: ${msg} ***\n`);
  return false;
}

function render(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', join(DEPLOY, 'kubernetes', dir)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
}

const one = (objs: K8sObject[], kind: string): K8sObject => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
};
const subset = (small: Record<string, string> = {}, big: Record<string, string> = {}): boolean =>
  Object.entries(small).every(([k, v]) => big[k] === v);

const rules = readYaml('deploy/prometheus/headroom-rules.yml') as { groups: unknown[] };
const available = kubectlOrSkip();

for (const [dir, expected] of [
  ['base', { memory: '512Mi', replicas: 2, secretRendered: true, metricsToken: false }],
  ['overlays/production', { memory: '1Gi', replicas: 3, secretRendered: false, metricsToken: true }],
] as const) {
  describe(`kubernetes/${dir}`, { skip: !available && 'kubectl with kustomize ≥ v4 not available' }, () => {
    const objs = available ? render(dir) : [];
    const deployment = () => one(objs, 'Deployment');
    const pod = () => deployment().spec!.template as { spec: PodSpec; metadata: { labels: Record<string, string> } };
    const container = () => pod().spec.containers[0]!;

    test('renders the kinds issue 16 asks for', () => {
      const kinds = objs.map((o) => o.kind).sort();
      for (const k of [
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'PodDisruptionBudget',
        'PrometheusRule',
        'Service',
        'ServiceMonitor',
      ]) {
        assert.ok(kinds.includes(k), `${dir} renders a ${k}`);
      }
      assert.equal(kinds.includes('Secret'), expected.secretRendered, 'Secret in git only in the base (empty token)');
    });

    test('every object validates against the Kubernetes schemas, with no unknown field', () => {
      assert.deepEqual(objs.flatMap(validateObject), []);
    });

    test('Deployment: memory requests = limits, probes on /health/*, non-root, the image entry point', () => {
      const c = container();
      assert.equal(c.resources.requests.memory, expected.memory);
      assert.equal(c.resources.limits.memory, c.resources.requests.memory, 'memory requests = limits');
      assert.equal(c.readinessProbe?.httpGet?.path, '/health/ready');
      assert.equal(c.livenessProbe?.httpGet?.path, '/health/live');
      assert.ok(c.startupProbe?.httpGet, 'a startup probe');
      for (const p of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
        assert.ok(
          c.ports.some((port) => port.name === p!.httpGet!.port || port.containerPort === p!.httpGet!.port),
          'probe port is a container port',
        );
      }
      assert.equal(c.command, undefined, 'no command: the image ENTRYPOINT (headroom run) receives the signals');
      assert.equal(c.args, undefined);
      assert.equal(pod().spec.securityContext?.runAsNonRoot, true);
      assert.equal(deployment().spec!.replicas, expected.replicas);
    });

    test('environment: real options with accepted values; grace period and memory numbers fit', () => {
      const c = container();
      const env: Record<string, string> = { NODE_ENV: 'production' }; // the image's
      for (const ref of c.envFrom ?? []) {
        const name = ref.configMapRef?.name ?? ref.secretRef?.name;
        const source = objs.find((o) => o.metadata.name === name && (o.kind === 'ConfigMap' || o.kind === 'Secret'));
        if (ref.secretRef && !source) continue; // production: created outside git
        assert.ok(source, `envFrom ${name} is rendered`);
        Object.assign(env, source.data ?? {}, source.stringData ?? {});
      }
      for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
      const config = configFrom(env, `kubernetes/${dir}`);
      checkGrace(config, pod().spec.terminationGracePeriodSeconds ?? 30, `kubernetes/${dir}`);
      checkMemory(config, memoryBytes(c.resources.limits.memory!), `kubernetes/${dir}`);
      assert.ok(config.server.shutdownDelay > 0, 'SHUTDOWN_DELAY lets endpoints drop the pod before the listener closes');
    });

    test('Service, PDB, HPA and ServiceMonitor point at the pods', () => {
      const labels = pod().metadata.labels;
      const service = one(objs, 'Service');
      assert.ok(subset(service.spec!.selector as Record<string, string>, labels), 'Service selector');
      assert.ok(subset(one(objs, 'PodDisruptionBudget').spec!.selector!.matchLabels, labels), 'PDB selector');
      const hpa = one(objs, 'HorizontalPodAutoscaler').spec as { scaleTargetRef: { kind: string; name: string }; minReplicas: number };
      assert.deepEqual([hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name], ['Deployment', deployment().metadata.name]);
      assert.ok(hpa.minReplicas >= 2, 'at least two replicas so the PDB allows evictions');
      const sm = one(objs, 'ServiceMonitor').spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path: string; authorization?: { type: string; credentials: { name: string; key: string } } }[];
      };
      assert.ok(subset(sm.selector.matchLabels, service.metadata.labels), 'ServiceMonitor selects the Service');
      const ports = (service.spec!.ports as { name: string }[]).map((p) => p.name);
      assert.ok(sm.endpoints.every((e) => ports.includes(e.port) && e.path === '/metrics'));
      // Production's /metrics asks for METRICS_TOKEN: the scrape sends it from the pods' own Secret.
      const secret = container().envFrom?.find((e) => e.secretRef)?.secretRef?.name;
      const expectedAuth = expected.metricsToken ? { type: 'Bearer', credentials: { name: secret, key: 'METRICS_TOKEN' } } : undefined;
      for (const e of sm.endpoints) assert.deepEqual(e.authorization, expectedAuth);
    });

    test('PrometheusRule carries the groups of deploy/prometheus/headroom-rules.yml', () => {
      assert.deepEqual(one(objs, 'PrometheusRule').spec!.groups, rules.groups);
    });
  });
}

test('the strict check catches unknown and misplaced fields', () => {
  const bad = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x', lables: {} },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      template: {
        metadata: { labels: { a: 'b' } },
        spec: {
          containers: [
            {
              name: 'c',
              image: 'i',
              resource: { limits: { memory: '1Gi' } },
              readinessProbe: { httpGet: { path: '/', port: 1, paht: 'x' } },
            },
          ],
        },
      },
    },
  };
  assert.deepEqual(validateObject(bad).sort(), [
    'Deployment/x: unknown field .metadata.lables',
    'Deployment/x: unknown field .spec.template.spec.containers[0].readinessProbe.httpGet.paht',
    'Deployment/x: unknown field .spec.template.spec.containers[0].resource',
  ]);
  const sm = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 's' },
    spec: { selector: {}, endpoints: [{ port: 'http', intervall: '15s' }] },
  };
  assert.equal(validateObject(sm).length, 1);
  assert.match(validateObject(sm)[0]!, /intervall/);
});
