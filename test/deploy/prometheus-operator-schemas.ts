// JSON schemas for the two Prometheus Operator resources the kit ships (monitoring.coreos.com/v1),
// written from the operator's API reference (https://prometheus-operator.dev/docs/api-reference/api/):
// the fields we use and their common neighbours, every object closed (additionalProperties: false)
// so a misspelt field fails. A subset: a field the operator has but this file lacks fails too —
// add it here. (@kubernetes-models/prometheus-operator@4.4.x, which pairs with kubernetes-models
// 4.x, would replace this file with the full generated schemas.)
const DURATION = { type: 'string', pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const closed = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...(required.length ? { required } : {}),
});

const metadata = closed(
  { name: { type: 'string', minLength: 1 }, namespace: { type: 'string' }, labels: stringMap, annotations: stringMap },
  ['name'],
);
const labelSelector = closed({
  matchLabels: stringMap,
  matchExpressions: {
    type: 'array',
    items: closed(
      {
        key: { type: 'string' },
        operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
        values: { type: 'array', items: { type: 'string' } },
      },
      ['key', 'operator'],
    ),
  },
});
const relabelConfig = closed({
  sourceLabels: { type: 'array', items: { type: 'string' } },
  separator: { type: 'string' },
  targetLabel: { type: 'string' },
  regex: { type: 'string' },
  modulus: { type: 'integer' },
  replacement: { type: 'string' },
  action: { type: 'string' },
});
const resource = (kind: string, spec: unknown) =>
  closed(
    {
      apiVersion: { const: 'monitoring.coreos.com/v1' },
      kind: { const: kind },
      metadata,
      spec,
    },
    ['apiVersion', 'kind', 'metadata', 'spec'],
  );

export const serviceMonitorSchema = resource(
  'ServiceMonitor',
  closed(
    {
      jobLabel: { type: 'string' },
      targetLabels: { type: 'array', items: { type: 'string' } },
      podTargetLabels: { type: 'array', items: { type: 'string' } },
      sampleLimit: { type: 'integer', minimum: 0 },
      selector: labelSelector,
      namespaceSelector: closed({ any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } }),
      endpoints: {
        type: 'array',
        items: closed({
          port: { type: 'string' },
          targetPort: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
          path: { type: 'string' },
          scheme: { enum: ['http', 'https'] },
          authorization: closed(
            {
              type: { type: 'string' },
              credentials: closed({ name: { type: 'string' }, key: { type: 'string' }, optional: { type: 'boolean' } }, ['key']),
            },
            ['credentials'],
          ),
          params: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
          interval: DURATION,
          scrapeTimeout: DURATION,
          honorLabels: { type: 'boolean' },
          honorTimestamps: { type: 'boolean' },
          followRedirects: { type: 'boolean' },
          enableHttp2: { type: 'boolean' },
          filterRunning: { type: 'boolean' },
          metricRelabelings: { type: 'array', items: relabelConfig },
          relabelings: { type: 'array', items: relabelConfig },
        }),
      },
    },
    ['selector'],
  ),
);

export const prometheusRuleSchema = resource(
  'PrometheusRule',
  closed({
    groups: {
      type: 'array',
      items: closed(
        {
          name: { type: 'string', minLength: 1 },
          interval: DURATION,
          query_offset: DURATION,
          limit: { type: 'integer' },
          partial_response_strategy: { type: 'string' },
          labels: stringMap,
          rules: {
            type: 'array',
            items: {
              ...closed(
                {
                  alert: { type: 'string' },
                  record: { type: 'string' },
                  expr: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
                  for: DURATION,
                  keep_firing_for: { type: 'string', minLength: 1 },
                  labels: stringMap,
                  annotations: stringMap,
                },
                ['expr'],
              ),
              oneOf: [{ required: ['alert'] }, { required: ['record'] }],
            },
          },
        },
        ['name'],
      ),
    },
  }),
);
