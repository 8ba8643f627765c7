// Location headers that point into the upstream, rewritten to the path the client used. The
// upstream builds them from what it sees: its own origin (which the client may not reach) and
// paths without the prefix the proxy stripped, so `Location: http://10.0.0.5:8055/admin/` or
// `Location: /admin/` sent on as they are take the client out of the proxy. Rewritten when the
// URL is the upstream's origin (an absolute or //host URL) or a path (/…), and its path lies under
// the upstream's base path (and under the prefix, when the prefix is not stripped). Other origins
// and relative references (`login`, `../x`), which already resolve against the client's URL, are
// left alone; so is a path that climbs or is odd (dot segments, //, backslashes, controls, bytes
// beyond ASCII): under a mount at the root, `/base//evil.test` would become `//evil.test`, which a
// browser reads as another host.
import { pathEscapes } from './path.js';

/** The rest of a path after `head` at a segment boundary ('' when it is all of it), or undefined. */
function after(path: string, head: string): string | undefined {
  if (head === '') return path;
  if (!path.startsWith(head)) return undefined;
  const c = path.charCodeAt(head.length);
  // Ends the path, or is followed by '/', '?' or '#'.
  return Number.isNaN(c) || c === 47 || c === 63 || c === 35 ? path.slice(head.length) : undefined;
}

const ABSOLUTE = /^(?:https?:)?\/\//i;

/** The path part of a URL or request target (before '?' or '#'). */
const pathPart = (url: string): string => {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
};

/** Controls, spaces and anything beyond ASCII (undici hands header bytes over as Latin-1). */
// eslint-disable-next-line no-control-regex -- controls are what it looks for
const ODD = /[\x00-\x20\x7f-\uffff]/;

export interface LocationRewriter {
  /** The prefix the client's URL has in front of the path it shares with the upstream's (see rewrite). */
  clientPrefixOf(clientUrl: string, upstreamPath: string): string;
  /**
   * Rewrites the Location headers in a flat [name, value, …] list (lower-case names).
   * `exchange.clientUrl()` gives the request target the client sent (Express's originalUrl; asked
   * only when there is a Location to rewrite), `upstreamPath` is the one the proxy sent upstream:
   * the client's prefix is what the first has in front of the path both share.
   */
  rewrite(headers: string[], exchange: { clientUrl(): string }, upstreamPath: string): void;
}

export function createLocationRewriter(upstream: URL, prefix: string, stripPrefix: boolean): LocationRewriter {
  const base = upstream.pathname.replace(/\/+$/, '');
  /** The part of an upstream path the client's URL ends with (base and, unstripped, prefix cut). */
  const restOf = (upstreamPath: string): string | undefined => {
    const rest = after(upstreamPath, base);
    return rest === undefined || stripPrefix ? rest : after(rest, prefix);
  };
  const clientPrefixOf = (clientUrl: string, upstreamPath: string): string => {
    const rest = restOf(pathPart(upstreamPath));
    const path = pathPart(clientUrl);
    // The mapper keeps the rest byte for byte, unless it decoded letters in it (/%61pi/%7a): then the prefix.
    return rest !== undefined && path.endsWith(rest) ? path.slice(0, path.length - rest.length) : prefix;
  };
  const rewriteOne = (location: string, clientPrefix: () => string): string | undefined => {
    let path: string;
    if (ODD.test(location)) return undefined;
    if (ABSOLUTE.test(location)) {
      let u: URL;
      try {
        u = new URL(location, upstream);
      } catch {
        return undefined;
      }
      if (u.origin !== upstream.origin) return undefined;
      path = u.pathname + u.search + u.hash;
    } else if (location.charCodeAt(0) === 47 /* / */) path = location;
    else return undefined;
    const rest = restOf(path);
    if (rest === undefined || pathEscapes(pathPart(rest))) return undefined;
    const to = clientPrefix() + rest;
    if (to === '' || to.charCodeAt(0) !== 47) return `/${to}`;
    // Never another host: the client's prefix comes from its URL; a browser reads //x and /\x as one.
    return /^[/\\][\t\n\r]*[/\\]/.test(to) ? undefined : to;
  };
  return {
    clientPrefixOf,
    rewrite(headers, exchange, upstreamPath) {
      let clientPrefix: string | undefined;
      const prefixNow = (): string => (clientPrefix ??= clientPrefixOf(exchange.clientUrl(), upstreamPath));
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i] !== 'location') continue;
        const to = rewriteOne(headers[i + 1]!, prefixNow);
        if (to !== undefined) headers[i + 1] = to;
      }
    },
  };
}
