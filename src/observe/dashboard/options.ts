// Options of the dashboard, declared once: createDashboard validates its arguments with these specs
// and the gateway's configuration (src/config/sections/dashboard.ts) wraps the same objects.
import { HeadroomError } from '../../errors.js';
import { bool, duration, num, optionalObject, resolveOptions } from '../../options/spec.js';
import type { DashboardLogger, DashboardOptions } from './types.js';

export const dashboardSpecs = {
  enabled: bool({
    env: 'DASHBOARD_ENABLED',
    doc: 'Serve the live dashboard (GET /dashboard); its data needs the admin token either way.',
    default: true,
  }),
  maxViewers: num({
    env: 'DASHBOARD_MAX_VIEWERS',
    doc: 'Live feeds open at once (one per dashboard tab); one more is refused 503 HEADROOM_DASHBOARD_FULL.',
    default: 4,
    min: 1,
    max: 64,
    integer: true,
  }),
  interval: duration({
    env: 'DASHBOARD_INTERVAL',
    doc: 'How often the live feed sends a frame to each viewer.',
    default: 1000,
    min: 250,
    max: 60_000,
  }),
  stallTimeout: duration({
    env: 'DASHBOARD_STALL_TIMEOUT',
    doc: 'A viewer that reads nothing for this long (every frame dropped) is disconnected.',
    default: 30_000,
    min: 1000,
    max: 600_000,
  }),
  viewTimeout: duration({
    env: 'DASHBOARD_VIEW_TIMEOUT',
    doc: "A live feed ends after this long, read or not, and the page reconnects at once: a viewer that never reads cannot keep its slot past it (the kernel's send buffers can hide such a viewer from the stall timeout for hours).",
    default: 300_000,
    min: 10_000,
    max: 86_400_000,
  }),
} as const;

/** Library-only (no variable): the gateway configuration wraps dashboardSpecs, so it is kept apart. */
const loggerSpec = optionalObject<DashboardLogger>({
  doc: 'Where a live-feed frame that could not be built is logged (warn); unset: a process warning.',
  what: 'a logger such as pino',
  methods: ['warn'],
});
const createDashboardSpecs = { ...dashboardSpecs, logger: loggerSpec };

export type ResolvedDashboardOptions = ReturnType<typeof resolveDashboardOptions>;

/**
 * stallTimeout and viewTimeout must span two frames: a stall is frames dropped for stallTimeout (one
 * slow frame must not disconnect a viewer), and a feed that ends before its second frame shows one.
 */
export function twiceIntervalProblem(interval: number, timeout: number, intervalName: string): string | undefined {
  return timeout >= 2 * interval ? undefined : `must be at least twice ${intervalName} (${2 * interval} ms)`;
}

/** createDashboard's options with defaults filled in; one HEADROOM_CONFIG_INVALID for bad ones. */
export function resolveDashboardOptions(options: DashboardOptions | undefined) {
  const o = resolveOptions('createDashboard', createDashboardSpecs, options, ['monitor', 'cache', 'proxy', 'image', 'apiBase']);
  for (const name of ['stallTimeout', 'viewTimeout'] as const) {
    const problem = twiceIntervalProblem(o.interval, o[name], 'interval');
    if (problem) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createDashboard: ${name} ${problem}`);
  }
  return o;
}
