// Path text shared by the toolkit and the adapters.
import { HeadroomError } from '../errors.js';

/** `/health/` and `/health//` → `/health`; `/` (or only slashes) stays `/`. */
export const withoutTrailingSlashes = (path: string): string => (path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path);

/** The paths a route of headroom's answers itself, by what it is (told by its option's name). */
function claimed(name: string, path: string): string[] {
  const base = path === '/' ? '' : path;
  if (/health/i.test(name)) return [path, `${base}/live`, `${base}/ready`];
  if (/image/i.test(name)) return [path, `${base}/meta`];
  // The admin API and a proxy take everything below their path (as a wildcard route).
  if (/admin|proxy/i.test(name)) return [path, `${base}/*`];
  return [path];
}

/**
 * Refuses headroom's route paths (name → path, false or undefined for a route not mounted) when
 * two claim the same path (the health route its /live and /ready too, the image route /meta, the
 * admin API and a proxy everything below theirs): one would never be reached, or the framework
 * would refuse the duplicate at start-up in its own words. A path under the admin API's or a
 * proxy's is fine: the exact route is found first.
 */
export function refuseOverlappingPaths(factory: string, paths: Record<string, string | false | undefined>): void {
  const owner = new Map<string, string>();
  const clashes: string[] = [];
  for (const [name, path] of Object.entries(paths)) {
    if (typeof path !== 'string') continue;
    for (const p of claimed(name, path)) {
      const other = owner.get(p);
      if (other === undefined) owner.set(p, name);
      else if (other !== name) {
        const clash = `${other}=${JSON.stringify(paths[other])} and ${name}=${JSON.stringify(path)}`;
        if (!clashes.includes(clash)) clashes.push(clash);
      }
    }
  }
  if (clashes.length > 0)
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${factory}: ${clashes.join('; ')} claim the same path: each of headroom's routes needs a path of its own (or false to leave one out)`,
    );
}
