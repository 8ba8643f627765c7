// Which URLs an image may be fetched from: the allow-list of origins (exact scheme://host[:port]
// or *.example.com patterns), no userinfo, http(s) only. Addresses are checked separately, after
// DNS resolution and on the connected socket (see guarded-agent.ts).
import { isIP } from 'node:net';
import { HeadroomError } from '../errors.js';
import { HIDDEN } from '../options/redact.js';
import { isBlockedAddress } from './address.js';

interface Rule {
  /** undefined: http and https. */
  protocol?: 'http:' | 'https:';
  /** As URL.hostname gives it (IPv6 in brackets, compressed, lowercase). */
  host: string;
  wildcard: boolean;
  port?: string;
}

/** What an origin entry may be; quoted in configuration and policy errors. */
export const ORIGIN_SYNTAX =
  'scheme://host[:port] (e.g. https://img.example.com, or http://[::1]:8080 with an IPv6 address in brackets) or *.example.com';

const ENTRY = /^(?:(https?):\/\/)?(\*\.)?([A-Za-z0-9.-]+|\[[^\]]*\])(?::(\d{1,5}))?\/?$/i;

/**
 * An entry as errors quote it: a user:password@ (or token@) in it hidden up to its last '@', with
 * or without a scheme — by hand, not redactUrl: a password may hold '/', '?' or '#'.
 */
function quoted(entry: string): string {
  const at = entry.lastIndexOf('@');
  if (at === -1) return entry;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(entry)?.[0] ?? '';
  const info = entry.slice(scheme.length, at);
  const colon = info.indexOf(':');
  return `${scheme}${colon === -1 ? HIDDEN : `${info.slice(0, colon)}:${HIDDEN}`}${entry.slice(at)}`;
}

/** Parses one entry, or says why it is not an origin (quoting just that entry; see ORIGIN_SYNTAX). */
export function parseOriginRule(entry: string): Rule | string {
  const bad = (why?: string): string => `"${quoted(entry)}" is not an origin${why ? ` (${why})` : ''}`;
  const m = ENTRY.exec(entry.trim());
  if (!m) {
    if (entry.includes('[') && !/\[[^\]]*\]/.test(entry)) return bad('the [ of an IPv6 address has no closing ]');
    const unbracketedV6 = !entry.includes('[') && (entry.replace(/^\w+:\/\//, '').match(/:/g)?.length ?? 0) > 1;
    return bad(unbracketedV6 ? 'an IPv6 address goes in brackets' : undefined);
  }
  const [, scheme, wildcard, raw, port] = m as unknown as [string, string | undefined, string | undefined, string, string | undefined];
  if (port !== undefined && (Number(port) > 65535 || Number(port) === 0)) return bad('the port must be 1 to 65535');
  // The host as WHATWG URL normalises it, so the entry compares equal to the URLs it names.
  let host: string;
  try {
    host = new URL(`http://${raw}`).hostname;
  } catch {
    return bad(raw.startsWith('[') ? `${raw} is not an IPv6 address` : undefined);
  }
  if (wildcard && (host.startsWith('[') || isIP(host))) return bad('a *. pattern needs a domain name');
  // *.com would allow every host under a top-level domain: anyone can register one that resolves publicly.
  if (wildcard && !host.includes('.')) return bad('a *. pattern needs a domain of at least two labels, such as *.example.com');
  return {
    protocol: scheme ? (`${scheme.toLowerCase()}:` as Rule['protocol']) : undefined,
    wildcard: Boolean(wildcard),
    host,
    port: port === undefined ? undefined : String(Number(port)),
  };
}

/** Every bad entry of a list, each quoting just that entry, then what is accepted; undefined if none. */
export function originListProblem(entries: readonly string[]): string | undefined {
  const bad = entries.map(parseOriginRule).filter((r): r is string => typeof r === 'string');
  return bad.length ? `${bad.map((b) => `entry ${b}`).join('; ')}; use ${ORIGIN_SYNTAX}` : undefined;
}

export function parseOriginRules(entries: readonly string[]): Rule[] {
  const problem = originListProblem(entries);
  if (problem) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `image origins: ${problem}`);
  return entries.map((entry) => parseOriginRule(entry) as Rule);
}

const defaultPort = (protocol: string): string => (protocol === 'https:' ? '443' : '80');

export function matchesRules(url: URL, rules: readonly Rule[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || defaultPort(url.protocol);
  return rules.some((r) => {
    if (r.protocol && r.protocol !== url.protocol) return false;
    if (port !== (r.port ?? defaultPort(url.protocol))) return false;
    return r.wildcard ? host.endsWith(`.${r.host}`) : host === r.host;
  });
}

export interface OriginPolicy {
  /**
   * Parses and checks a URL against the allow-list; throws 400/403 HeadroomErrors. With
   * `redirectedFrom` (a redirect hop) the refusal names that origin and the rule, never the target:
   * the client did not name it, and an origin's redirects may point inside its network.
   */
  check(raw: string | URL, redirectedFrom?: URL): URL;
  /** Whether private addresses may be connected to for this URL. */
  allowsPrivate(url: URL): boolean;
}

export function createOriginPolicy(options: {
  allowedOrigins: readonly string[];
  allowPrivateNetworks: boolean;
  allowPrivateOrigins: readonly string[];
}): OriginPolicy {
  const allowed = parseOriginRules(options.allowedOrigins);
  const privateOk = parseOriginRules(options.allowPrivateOrigins);
  const allowsPrivate = (url: URL): boolean => options.allowPrivateNetworks || matchesRules(url, privateOk);
  return {
    allowsPrivate,
    check(raw, redirectedFrom) {
      // What is refused: the client's own URL, or where an origin redirected it (not named).
      const refused = (client: string, redirect: string): HeadroomError =>
        new HeadroomError(
          'HEADROOM_IMAGE_ORIGIN_FORBIDDEN',
          redirectedFrom ? `image origin ${redirectedFrom.origin} redirected to ${redirect}` : client,
        );
      let url: URL;
      try {
        url = typeof raw === 'string' ? new URL(raw) : raw;
      } catch {
        throw new HeadroomError('HEADROOM_BAD_REQUEST', 'url must be an absolute http or https URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new HeadroomError('HEADROOM_BAD_REQUEST', `url must be an absolute http or https URL, not ${url.protocol}`);
      }
      if (url.username || url.password) {
        throw refused('image URLs with user:password@ are refused', 'a URL with user:password@, refused');
      }
      if (!matchesRules(url, allowed)) {
        throw refused(`origin ${url.origin} is not in IMAGE_ALLOWED_ORIGINS`, 'an origin that is not in IMAGE_ALLOWED_ORIGINS');
      }
      // An IP literal is never looked up, so it is checked here (the socket check catches it too).
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && isBlockedAddress(host) && !allowsPrivate(url)) {
        throw refused(
          `address ${host} is private, loopback or otherwise not public`,
          'a private, loopback or otherwise reserved address, refused unless IMAGE_ALLOW_PRIVATE_ORIGINS lists it',
        );
      }
      return url;
    },
  };
}
