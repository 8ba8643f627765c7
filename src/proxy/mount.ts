// Mapping a mount path onto the proxy's prefix, for every adapter. A framework routes a request to
// the proxy under a path of the app's choosing (Express `app.use('/v2', …)`, a Fastify register
// prefix, a Nest controller under a global prefix), while the proxy's rules (prefix, stripPrefix,
// path escape) are written for URLs under its own prefix. These cut the mount off and put the
// prefix in its place; the rest of the path and the query stay byte for byte.
//
// It lives beside the proxy (not in the toolkit) because the proxy's own Fastify plugin uses it too
// and dependencies point one way.

const HEX = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);
const UNRESERVED = /[A-Za-z0-9._~-]/;

/**
 * What follows `mount` in `url` (path rest and query, byte for byte), or undefined when the URL is
 * not under the mount at a segment boundary. Percent-encoded unreserved characters in the part that
 * matches the mount count as the characters (routers match /%761/api as /v1/api), without decoding
 * the rest. An empty mount gives the URL back.
 */
export function afterMount(url: string, mount: string, caseInsensitive = false): string | undefined {
  if (mount === '') return url;
  // With caseInsensitive (a router that matches paths so, as Express does by default) ASCII letters
  // match in either case.
  const same = (a: number, b: number): boolean =>
    a === b || (caseInsensitive && (a | 32) === (b | 32) && (b | 32) >= 97 && (b | 32) <= 122);
  let i = 0;
  if (url.startsWith(mount)) i = mount.length;
  else {
    for (let j = 0; j < mount.length; j++) {
      if (same(url.charCodeAt(i), mount.charCodeAt(j))) {
        i++;
        continue;
      }
      if (url.charCodeAt(i) !== 37 /* % */) return undefined;
      const hi = HEX(url.charCodeAt(i + 1));
      const lo = HEX(url.charCodeAt(i + 2));
      const ch = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
      if (!same(ch, mount.charCodeAt(j)) || !UNRESERVED.test(String.fromCharCode(ch))) return undefined;
      i += 3;
    }
  }
  const c = url.charCodeAt(i);
  // The mount ends the URL or is followed by '/' (47) or '?' (63).
  return Number.isNaN(c) || c === 47 || c === 63 ? url.slice(i) : undefined;
}

/** `prefix` + what follows `mount` in `url` (see afterMount, also for caseInsensitive), or undefined when the URL is not under the mount. */
export function mountToPrefix(url: string, mount: string, prefix: string, caseInsensitive = false): string | undefined {
  const rest = afterMount(url, mount, caseInsensitive);
  if (rest === undefined) return undefined;
  return rest === '' || rest.charCodeAt(0) === 47 || rest.charCodeAt(0) === 63 ? prefix + rest : `${prefix}/${rest}`;
}
