// The /metrics text. prom-client 15 prints NaN as "Nan" (lib/util.js getValueAsString); the text
// format and OpenMetrics spell it "NaN", and strict parsers want that. prom-client writes no
// timestamps and label values cannot hold a raw newline, so " Nan" ending a sample line is always
// the value.
import type { Registry } from 'prom-client';
import { checkMetricsArgs } from './define.js';

export async function exposition(registry: Registry): Promise<string> {
  checkMetricsArgs('exposition(registry)', registry);
  return (await registry.metrics()).replace(/^([^#\n][^\n]*) Nan$/gm, '$1 NaN');
}
