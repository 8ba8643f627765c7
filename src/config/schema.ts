// The one configuration schema: every option of every part, grouped by the part that uses it.
// Env vars, CLI flags and the config file are all validated by it (see load.ts), and
// docs/configuration.md is generated from it (see docs.ts).
import type { Option, OptionValue } from './options.js';
import { serverOptions } from './sections/server.js';
import { monitorOptions } from './sections/monitor.js';
import { cacheOptions } from './sections/cache.js';
import { OWN_ROOTS, proxyOptions } from './sections/proxy.js';
import { imageOptions } from './sections/image.js';
import { logOptions } from './sections/log.js';
import { alertOptions } from './sections/alerts.js';
import { dashboardOptions } from './sections/dashboard.js';
import { thresholdsProblem } from '../monitor/options.js';
import { twiceIntervalProblem } from '../observe/dashboard/options.js';
import { maxEntryBytesProblem, redisTopologyProblems } from '../cache/options.js';
import { maxPerClientProblem } from '../admission/options.js';
import { labelRecord, lineRoomProblem } from '../log/options.js';
import { redisOptionNames } from './sections/cache.js';

export const sections = {
  server: serverOptions,
  monitor: monitorOptions,
  cache: cacheOptions,
  proxy: proxyOptions,
  image: imageOptions,
  log: logOptions,
  alerts: alertOptions,
  dashboard: dashboardOptions,
} as const;

export type Sections = typeof sections;
export type SectionName = keyof Sections;
export type Config = {
  [S in SectionName]: { [K in keyof Sections[S]]: OptionValue<Sections[S][K]> };
};

export interface OptionEntry {
  section: SectionName;
  key: string;
  option: Option<unknown>;
}

/** Every option, in declaration order. */
export const allOptions: OptionEntry[] = Object.entries(sections).flatMap(([section, opts]) =>
  Object.entries(opts).map(([key, option]) => ({ section: section as SectionName, key, option: option as Option<unknown> })),
);

/**
 * Rules that involve more than one option (or an option and the gateway's own routes). `given`
 * says whether the user set an option: a rule broken by one option against another's default is
 * the given one's problem.
 */
export function crossChecks(config: Config, given: (env: string) => boolean = () => true): { env: string; message: string }[] {
  const problems: { env: string; message: string }[] = [];
  const root = config.proxy.prefix.split('/')[1]!.toLowerCase();
  if (OWN_ROOTS.includes(root))
    problems.push({
      env: proxyOptions.prefix.env,
      message: `must not be or lie under one of the gateway's own routes (${OWN_ROOTS.map((r) => `/${r}`).join(', ')}): requests there (an admin bearer token included) would go upstream or clash with them`,
    });
  const { warningThreshold, criticalThreshold } = config.monitor;
  const names = { warning: monitorOptions.warningThreshold.env, critical: monitorOptions.criticalThreshold.env };
  const thresholds = thresholdsProblem(warningThreshold, criticalThreshold, names, {
    warning: given(names.warning),
    critical: given(names.critical),
  });
  if (thresholds) problems.push({ env: names[thresholds.on], message: thresholds.message });
  const entryBytes = maxEntryBytesProblem(config.cache.maxBytes, config.cache.maxEntryBytes, cacheOptions.maxBytes.env);
  if (entryBytes) problems.push({ env: cacheOptions.maxEntryBytes.env, message: entryBytes });
  const c = config.cache;
  const topology = {
    url: c.redisUrl,
    clusterNodes: c.redisClusterNodes,
    sentinels: c.redisSentinels,
    sentinelName: c.redisSentinelName,
    password: c.redisPassword,
    tls: c.redisTls,
  };
  for (const p of redisTopologyProblems(topology, redisOptionNames)) problems.push({ env: p.name, message: p.message });
  const perClient = maxPerClientProblem(config.proxy.maxConcurrent, config.proxy.maxPerClient, proxyOptions.maxConcurrent.env);
  if (perClient) problems.push({ env: proxyOptions.maxPerClient.env, message: perClient });
  const d = config.dashboard;
  for (const name of ['stallTimeout', 'viewTimeout'] as const) {
    const problem = twiceIntervalProblem(d.interval, d[name], dashboardOptions.interval.env);
    if (!problem) continue;
    const timeout = dashboardOptions[name].env;
    if (given(dashboardOptions.interval.env) && !given(timeout))
      problems.push({ env: dashboardOptions.interval.env, message: `must be at most half of ${timeout} (${d[name]} ms, its default)` });
    else problems.push({ env: timeout, message: problem });
  }
  const l = config.log;
  if (l.shipUrl) {
    const room = lineRoomProblem(
      { format: l.format, maxBytes: l.maxBytes, concurrency: l.concurrency, index: l.index, labels: labelRecord(l.labels) },
      { maxBytes: logOptions.maxBytes.env, labels: logOptions.labels.env, concurrency: logOptions.concurrency.env },
    );
    if (room) problems.push({ env: logOptions.maxBytes.env, message: room });
  }
  return problems;
}

/** A problem with one option's raw value. */
export interface ConfigIssue {
  section: SectionName;
  key: string;
  message: string;
}

/**
 * Reads the whole configuration from raw values by section and key (strings or JSON; undefined =
 * default): every option is read, so every problem is reported at once.
 */
export function parseConfig(raw: Partial<Record<SectionName, Record<string, unknown>>>): { config: Config } | { issues: ConfigIssue[] } {
  const out: Record<string, Record<string, unknown>> = {};
  const issues: ConfigIssue[] = [];
  for (const { section, key, option } of allOptions) {
    const r = option.read(raw[section]?.[key]);
    if ('problem' in r) issues.push({ section, key, message: r.problem });
    else (out[section] ??= {})[key] = r.value;
  }
  return issues.length > 0 ? { issues } : { config: out as unknown as Config };
}
