// Offline validation of rendered Kubernetes objects: kubernetes-models 4.x validate() (the
// Kubernetes OpenAPI schemas, compiled) plus a check for unknown fields, which those validators
// accept silently (Kubernetes would drop them, or refuse them with --validate=strict).
//
// How the unknown-field check works: the compiled validators read every property their schema
// declares (`data.x === undefined || validate(data.x)`), and enumerate only objects that are maps
// (labels, resources.limits). Validating a copy wrapped in recording proxies therefore tells which
// keys the schema knows; a key never read, on an object never enumerated, is not in the schema.
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import { Ajv, type ValidateFunction } from 'ajv';
import { serviceMonitorSchema, prometheusRuleSchema } from './prometheus-operator-schemas.js';

type Validatable = { prototype: { validate(this: unknown): void } };
const MODELS: Record<string, Validatable> = {
  'v1/ConfigMap': core.ConfigMap,
  'v1/Secret': core.Secret,
  'v1/Service': core.Service,
  'v1/Namespace': core.Namespace,
  'apps/v1/Deployment': apps.Deployment,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': autoscaling.HorizontalPodAutoscaler,
};

const ajv = new Ajv({ allErrors: true, strict: false });
const CRDS: Record<string, ValidateFunction> = {
  'monitoring.coreos.com/v1/ServiceMonitor': ajv.compile(serviceMonitorSchema),
  'monitoring.coreos.com/v1/PrometheusRule': ajv.compile(prometheusRuleSchema),
};

interface Recorded {
  path: string;
  target: object;
  read: Set<string>;
  enumerated: boolean;
}

function wrap(value: unknown, path: string, seen: Recorded[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  const target: object = Array.isArray(value)
    ? value.map((v, i) => wrap(v, `${path}[${i}]`, seen))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, wrap(v, `${path}.${k}`, seen)]));
  const rec: Recorded = { path, target, read: new Set(), enumerated: false };
  seen.push(rec);
  return new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === 'string') rec.read.add(key);
      return Reflect.get(t, key, receiver) as unknown;
    },
    has(t, key) {
      if (typeof key === 'string') rec.read.add(key);
      return Reflect.has(t, key);
    },
    ownKeys(t) {
      rec.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

/** Every problem of one object: schema errors and unknown fields, as `kind/name: path message`. */
export function validateObject(obj: { apiVersion: string; kind: string; metadata?: { name?: string } }): string[] {
  const id = `${obj.kind}/${obj.metadata?.name ?? '?'}`;
  const key = `${obj.apiVersion}/${obj.kind}`;
  const crd = CRDS[key];
  if (crd) {
    // The CRD subset schemas say additionalProperties: false themselves.
    return crd(obj)
      ? []
      : (crd.errors ?? []).map(
          (e) =>
            `${id}: ${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`,
        );
  }
  const model = MODELS[key];
  if (!model) return [`${id}: no schema for ${key} (add it to test/deploy/strict.ts)`];
  const seen: Recorded[] = [];
  const wrapped = wrap(obj, '', seen);
  const problems: string[] = [];
  try {
    model.prototype.validate.call(wrapped);
  } catch (err) {
    problems.push(`${id}: ${(err as Error).message}`);
  }
  const unknown: string[] = [];
  for (const rec of seen) {
    if (Array.isArray(rec.target) || rec.enumerated) continue;
    for (const k of Object.keys(rec.target)) if (!rec.read.has(k)) unknown.push(`${rec.path}.${k}`);
  }
  // Inside an unknown field nothing is read: report only the outermost.
  const outermost = unknown.filter((p) => !unknown.some((q) => p !== q && (p.startsWith(`${q}.`) || p.startsWith(`${q}[`))));
  return [...problems, ...outermost.map((p) => `${id}: unknown field ${p}`)];
}
