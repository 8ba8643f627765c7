// deploy/helm/headroom: values.schema.json accepts the default values and the example value files
// (merged over the defaults, as Helm does) and refuses mistakes; the env names it allows are the
// non-secret options; each value set passes the gateway's own configuration check and the memory
// and grace rules; templates only read values the schema declares. There is no helm binary here:
// templates are not rendered (render them with `helm template deploy/helm/headroom -f …`).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { allOptions } from '../../src/config/index.js';
import { checkGrace, checkMemory, configFrom, memoryBytes, read } from './helpers.js';

const CHART = 'deploy/helm/headroom';
type Values = Record<string, unknown> & { env: Record<string, string>; memory: string; terminationGracePeriodSeconds: number };
interface Schema {
  properties?: Record<string, Schema>;
  propertyNames?: { enum: string[] };
}

const schema = JSON.parse(read(`${CHART}/values.schema.json`)) as Schema;
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(schema);
const defaults = YAML.parse(read(`${CHART}/values.yaml`)) as Values;

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Helm's coalescing of a values file over the defaults: maps merge, everything else replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}
const errors = (v: unknown): string[] =>
  validate(v) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);

const exampleFiles = readdirSync(new URL('../../deploy/helm/headroom/examples/', import.meta.url)).filter((f) => f.endsWith('.yaml'));
const valueSets: [string, Values][] = [
  ['values.yaml', defaults],
  ...exampleFiles.map((f): [string, Values] => [`examples/${f}`, merge(defaults, YAML.parse(read(`${CHART}/examples/${f}`))) as Values]),
];

test('the default values and every example validate against values.schema.json', () => {
  assert.ok(exampleFiles.length >= 2, 'two example value files');
  for (const [name, values] of valueSets) assert.deepEqual(errors(values), [], name);
});

test('the schema refuses unknown keys, secret options in env, unknown env names and bad quantities', () => {
  const cases: [string, unknown][] = [
    ['unknown top-level key', { ...defaults, replicas: 3 }],
    ['misspelt nested key', { ...defaults, autoscaling: { ...(defaults.autoscaling as object), minReplica: 2 } }],
    ['secret option in env', { ...defaults, env: { ...defaults.env, HEADROOM_ADMIN_TOKEN: 'x'.repeat(24) } }],
    ['unknown env name', { ...defaults, env: { ...defaults.env, CACHE_MAX_BYTE: '1MiB' } }],
    ['env value not a string', { ...defaults, env: { ...defaults.env, PORT: 3000 } }],
    ['memory without a binary unit', { ...defaults, memory: '512M' }],
    ['short admin token', { ...defaults, secrets: { ...(defaults.secrets as object), adminToken: 'short' } }],
    // What the gateway refuses at start-up (the pod would crash-loop) is refused before the install.
    ['admin token with spaces', { ...defaults, secrets: { ...(defaults.secrets as object), adminToken: 'my admin token is long enough' } }],
    ['upstream token with its scheme', { ...defaults, secrets: { ...(defaults.secrets as object), upstreamToken: 'Bearer abc123' } }],
    ['redis URL with a bad port', { ...defaults, secrets: { ...(defaults.secrets as object), redisUrl: 'redis://redis:notaport' } }],
    // The probes and the Service reach the pod on its IP, at the container port.
    ['HOST loopback', { ...defaults, env: { ...defaults.env, HOST: '127.0.0.1' } }],
    ['PORT 0', { ...defaults, env: { ...defaults.env, PORT: '0' } }],
    ['PORT above 65535', { ...defaults, env: { ...defaults.env, PORT: '65536' } }],
  ];
  for (const [what, values] of cases) assert.notDeepEqual(errors(values), [], `accepted: ${what}`);
  const secrets = { ...(defaults.secrets as object), redisUrl: 'rediss://:pw@[::1]:6380/2', upstreamToken: 'abc.DEF-123_~' };
  assert.deepEqual(
    errors({ ...defaults, env: { ...defaults.env, PORT: '65535', HOST: '::' }, secrets }),
    [],
    'a port, all interfaces, a full Redis URL',
  );
});

test('env names in the schema are exactly the non-secret options (in step with src/config)', () => {
  const expected = allOptions.filter((o) => !o.option.secret).map((o) => o.option.env);
  assert.deepEqual(schema.properties!.env!.propertyNames!.enum, expected);
});

test('every secret option can be set through the chart: a key under secrets, rendered into its Secret', () => {
  const template = read(`${CHART}/templates/secret.yaml`);
  const keys = Object.keys(schema.properties!.secrets!.properties!).filter((k) => k !== 'existingSecret');
  const rendered = new Map([...template.matchAll(/\.Values\.secrets\.(\w+) }}\n\s*([A-Z_]+):/g)].map((m) => [m[2]!, m[1]!]));
  rendered.set('HEADROOM_ADMIN_TOKEN', /HEADROOM_ADMIN_TOKEN: {{ \.Values\.secrets\.adminToken /.test(template) ? 'adminToken' : '');
  const secretEnvs = allOptions.filter((o) => o.option.secret).map((o) => o.option.env);
  for (const env of secretEnvs) {
    assert.ok(rendered.get(env), `${env} (a secret option) has no line in templates/secret.yaml`);
    assert.ok(keys.includes(rendered.get(env)!), `${env}: secrets.${rendered.get(env)} is not in values.schema.json`);
  }
  assert.deepEqual([...rendered.keys()].sort(), [...secretEnvs].sort(), 'the Secret holds only secret options');
  assert.equal(keys.length, secretEnvs.length, 'one key under secrets per secret option');
  // Each in values.yaml, empty by default (unset: the feature stays off).
  for (const k of keys) assert.equal((defaults.secrets as Record<string, unknown>)[k], '', `secrets.${k} in values.yaml`);
  // The schema checks what it can before the gateway would refuse it at start-up.
  const withSecrets = (s: Record<string, string>) => ({ ...defaults, secrets: { ...(defaults.secrets as object), ...s } });
  assert.deepEqual(
    errors(withSecrets({ alertWebhookUrl: 'https://hooks.example/a, https://hooks.example/b', alertWebhookSecret: 'x'.repeat(16) })),
    [],
  );
  assert.notDeepEqual(errors(withSecrets({ alertWebhookUrl: 'hooks.example/a' })), [], 'a webhook URL without a scheme');
  assert.notDeepEqual(errors(withSecrets({ alertWebhookSecret: 'short' })), [], 'a short signing secret');
  assert.notDeepEqual(errors(withSecrets({ logShipUrl: 'ftp://logs' })), [], 'a log sink that is not http(s)');
});

test('each value set is a configuration the gateway accepts, within its memory and grace period', () => {
  for (const [name, values] of valueSets) {
    // The defaults leave UPSTREAM_URL to the user (the chart fails without it): supply one here.
    const env = { NODE_ENV: 'production', UPSTREAM_URL: 'http://upstream:8080', ...values.env };
    const config = configFrom(env, `${CHART}/${name}`);
    checkGrace(config, values.terminationGracePeriodSeconds, `${CHART}/${name}`);
    checkMemory(config, memoryBytes(values.memory), `${CHART}/${name}`);
  }
});

test('templates read only values the schema declares', () => {
  const dir = new URL('../../deploy/helm/headroom/templates/', import.meta.url);
  for (const file of readdirSync(dir)) {
    const text = read(`${CHART}/templates/${file}`);
    for (const [, path] of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
      let node: Schema | undefined = schema;
      for (const key of path!.split('.')) {
        node = node?.properties?.[key] ?? (node?.propertyNames?.enum.includes(key) ? {} : undefined);
        assert.ok(node, `${file}: .Values.${path} is not in values.schema.json`);
      }
    }
  }
});

test('the chart: appVersion is the package version; files/headroom-rules.yml is deploy/prometheus/headroom-rules.yml', () => {
  const chart = YAML.parse(read(`${CHART}/Chart.yaml`)) as { apiVersion: string; appVersion: string };
  const pkg = JSON.parse(read('package.json')) as { version: string };
  assert.equal(chart.apiVersion, 'v2');
  assert.equal(String(chart.appVersion), pkg.version);
  assert.equal(read(`${CHART}/files/headroom-rules.yml`), read('deploy/prometheus/headroom-rules.yml'));
});
