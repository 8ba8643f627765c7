// Path text shared by the toolkit and the adapters.
import { HeadroomError } from '../errors.js';

/** `/health/` and `/health//` → `/health`; `/` (or only slashes) stays `/`. */
export const withoutTrailingSlashes = (path: string): string => (path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path);

/**
 * Refuses headroom's route paths (name → path, false or undefined for a route not mounted) where
 * one is another or lies under it (the admin API takes everything below its path, the health route
 * its /live and /ready): one of the two would never be reached, or the framework would refuse the
 * duplicate at start-up in its own words. The metrics path covers nothing below it.
 */
export function refuseOverlappingPaths(factory: string, paths: Record<string, string | false | undefined>): void {
  const mounted = Object.entries(paths).filter((e): e is [string, string] => typeof e[1] === 'string');
  const clashes: string[] = [];
  for (let i = 0; i < mounted.length; i++) {
    for (let j = i + 1; j < mounted.length; j++) {
      const [a, pa] = mounted[i]!;
      const [b, pb] = mounted[j]!;
      const under = (name: string, path: string, other: string): boolean =>
        name !== 'metrics' && name !== 'metricsPath' && other.startsWith(`${path === '/' ? '' : path}/`);
      if (pa === pb || under(a, pa, pb) || under(b, pb, pa)) clashes.push(`${a}=${JSON.stringify(pa)} and ${b}=${JSON.stringify(pb)}`);
    }
  }
  if (clashes.length > 0)
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${factory}: ${clashes.join('; ')} overlap: each of headroom's routes needs a path of its own (or false to leave one out)`,
    );
}
