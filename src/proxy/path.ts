// Maps a gateway URL under the prefix to the upstream path, refusing anything that could climb out
// of the upstream base path: dot segments (also percent-encoded, also double-encoded), empty
// segments (//), backslashes and a raw '#'. Normal paths cost one regex test.
//
// A dot segment is `.` or `..` ended by '/' or the end, and also by ';', '#' or '?': servers that
// cut path parameters (Tomcat, Jetty: `/base/..;/admin` is `/admin`) or parse the path with a URL
// parser (`/base/..#` is `/`) resolve those as `..` too. A request target never holds a fragment
// (RFC 9112 §3.2), so a raw '#' is refused outright; an encoded one (%23) is an ordinary character.
const ESCAPE = /(?:^|\/)\.\.?(?:[/;#?]|$)|\/\/|\\|\0/;

/** True when the path (no query) would escape the base path. */
export function pathEscapes(path: string): boolean {
  if (ESCAPE.test(path) || path.includes('#')) return true;
  let p = path;
  // Decode up to three times so %252e%252e is caught too; malformed escapes are refused.
  for (let i = 0; i < 3 && p.includes('%'); i++) {
    try {
      p = decodeURIComponent(p);
    } catch {
      return true;
    }
    if (ESCAPE.test(p)) return true;
  }
  return false;
}

export interface PathMapper {
  /** True when the URL belongs to the prefix. */
  matches(url: string): boolean;
  /** Upstream path + query, or null when the path is rejected. */
  map(url: string): string | null;
  /** True when the URL is under the prefix, encoded unreserved characters decoded: a null from map() was an escape, not a path outside. */
  under(url: string): boolean;
}

// RFC 3986 §6.2.2.2: percent-encoded unreserved characters are equivalent to the characters.
const ENCODED_UNRESERVED = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/g;

/** The URL with encoded unreserved characters decoded, e.g. /%61pi → /api. */
export function decodeUnreserved(url: string): string {
  return url.replace(ENCODED_UNRESERVED, (m) => String.fromCharCode(Number.parseInt(m.slice(1), 16)));
}

export function createPathMapper(prefix: string, stripPrefix: boolean, basePath: string): PathMapper {
  const base = basePath.replace(/\/+$/, '');
  const n = prefix.length;
  const matches = (url: string): boolean => {
    if (!url.startsWith(prefix)) return false;
    const c = url.charCodeAt(n);
    // The prefix ends the URL or is followed by '/' (47) or '?' (63).
    return Number.isNaN(c) || c === 47 || c === 63;
  };
  return {
    matches,
    under: (url) => matches(url) || matches(decodeUnreserved(url)),
    map(url) {
      // A router that matched the decoded path (/%61pi/x) hands us the raw one: normalise it
      // first, so the prefix is cut at the right place or the request is refused.
      if (!matches(url)) {
        url = decodeUnreserved(url);
        if (!matches(url)) return null;
      }
      const rest = stripPrefix ? url.slice(n) : url;
      const q = rest.indexOf('?');
      const path = q === -1 ? rest : rest.slice(0, q);
      // A '#' in the query is no escape, but a request target never holds one: not forwarded either.
      if (pathEscapes(path) || (q !== -1 && rest.includes('#', q))) return null;
      const full = base + rest;
      return full.charCodeAt(0) === 47 ? full : '/' + full;
    },
  };
}
