// Hides credentials in URLs before they are printed: in config errors and in every log line that
// carries a URL. Paths and parameter names stay, so a log still says what was asked for.
// Written by hand because it runs on every logged request: a URL without '?' or '@' is returned
// as is (no allocation), and URLSearchParams would re-encode the parts it keeps.

export const HIDDEN = '<hidden>';

// Parameter names whose values are credentials. Short ambiguous names match only exactly.
const SECRET_NAME =
  /^(?:key|sig|auth|code|pwd|jwt|session(?:_?id)?|authorization)$|(?:token|secret|passw(?:or)?d|signature|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)$|^x-(?:amz|goog)-/i;

// A value that is itself an absolute URL (raw or percent-encoded), e.g. /image?url=…. Sticky, so
// it is tried at the value's index without slicing the value out.
const NESTED_URL = /[a-z][a-z0-9+.-]*(?::|%3a)(?:\/|%2f){2}/iy;

// user:password@ (or token@) after '//', up to the last '@' of the authority as URL parsers
// read it: the user name stays, the rest is hidden.
const USERINFO = /\/\/([^/?#]*)@/g;

const decode = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
};

const isSecretName = (name: string): boolean => SECRET_NAME.test(name.includes('%') || name.includes('+') ? (decode(name) ?? name) : name);

// '/admin' alone or followed by '/' (char code 47).
const isAdminPath = (url: string, end: number): boolean => url.startsWith('/admin') && (end === 6 || url.charCodeAt(6) === 47);

/**
 * `url` (a request target like /a?b=c, or an absolute URL) with credentials hidden: the password
 * of user:password@, and the values of query parameters named like credentials. Under /admin
 * every value is hidden. A value that is itself a URL (a signed image URL, a redirect target)
 * keeps its host and path but has all its query values hidden: signing schemes use names no list
 * can know (imgix's s, Akamai's hdnts, CloudFront's Policy).
 */
export function redactUrl(url: string, hideAllValues = false): string {
  const q = url.indexOf('?');
  const at = url.indexOf('@');
  if (q === -1 && at === -1) return url;
  let out = at === -1 ? url : url.replace(USERINFO, (_, info: string) => `//${hideUserinfo(info)}@`);
  if (q === -1) return out;
  const start = out.indexOf('?') + 1;
  const all = hideAllValues || isAdminPath(out, start - 1);
  const query = redactQuery(out.slice(start), all);
  if (query !== undefined) out = out.slice(0, start) + query;
  return out;
}

function hideUserinfo(info: string): string {
  // Percent-encoded ':' counts too; a lone user name may be a token (https://TOKEN@host).
  const colon = info.search(/:|%3a/i);
  return colon >= 0 ? `${info.slice(0, colon)}:${HIDDEN}` : HIDDEN;
}

/** The query with secret values hidden, or undefined when nothing needed hiding. */
function redactQuery(query: string, all: boolean): string | undefined {
  let out = '';
  let copied = 0;
  let changed = false;
  for (let from = 0; from <= query.length;) {
    let end = query.indexOf('&', from);
    if (end === -1) end = query.length;
    let eq = query.indexOf('=', from);
    if (eq > end) eq = -1;
    let hidden: string | undefined;
    if (eq === -1) {
      // A bare value (?SECRET) only counts where every value is hidden.
      if (all && end > from) hidden = HIDDEN;
    } else if (eq + 1 < end) {
      if (all || isSecretName(query.slice(from, eq))) hidden = HIDDEN;
      else {
        NESTED_URL.lastIndex = eq + 1;
        if (NESTED_URL.test(query)) hidden = redactNested(query.slice(eq + 1, end));
      }
    }
    if (hidden !== undefined) {
      const keep = eq === -1 ? from : eq + 1;
      out += query.slice(copied, keep) + hidden;
      copied = end;
      changed = true;
    }
    from = end + 1;
  }
  return changed ? out + query.slice(copied) : undefined;
}

function redactNested(value: string): string | undefined {
  const encoded = value.includes('%');
  const inner = encoded ? decode(value) : value;
  if (inner === undefined) return HIDDEN;
  const hidden = redactUrl(inner, true);
  if (hidden === inner) return undefined;
  return encoded ? encodeURIComponent(hidden).replaceAll(encodeURIComponent(HIDDEN), HIDDEN) : hidden;
}

// Everything up to the last '@' (after scheme://, if any): a malformed value may hold a password
// with '/', '?' or '#' in it, or lack the scheme.
const LOOSE_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)?(.*)@/is;

/**
 * A configuration value as shown in an error message: like redactUrl, but any '@' is taken as
 * the end of credentials, because the value being reported may not be a valid URL.
 */
export function redactValue(value: string): string {
  if (!value.includes('@')) return redactUrl(value);
  return redactUrl(value.replace(LOOSE_USERINFO, (_, scheme: string | undefined, info: string) => `${scheme ?? ''}${hideUserinfo(info)}@`));
}
