// Which URLs an image may be fetched from: the allow-list of origins (exact scheme://host[:port]
// or *.example.com patterns), no userinfo, http(s) only. Addresses are checked separately, after
// DNS resolution and on the connected socket (see guarded-agent.ts).
import { isIP } from 'node:net';
import { HeadroomError } from '../errors.js';
import { isBlockedAddress } from './address.js';

interface Rule {
  /** undefined: http and https. */
  protocol?: 'http:' | 'https:';
  host: string;
  wildcard: boolean;
  port?: string;
}

export function parseOriginRules(entries: readonly string[]): Rule[] {
  return entries.map((entry) => {
    const m = /^(?:(https?):\/\/)?(\*\.)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/?$/.exec(entry.trim());
    if (!m) throw new TypeError(`image origin "${entry}" is not scheme://host[:port] or *.example.com`);
    return {
      protocol: m[1] ? (`${m[1]}:` as Rule['protocol']) : undefined,
      wildcard: Boolean(m[2]),
      host: m[3]!.toLowerCase(),
      port: m[4],
    };
  });
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
  /** Parses and checks a URL against the allow-list; throws 400/403 HeadroomErrors. */
  check(raw: string | URL): URL;
  /** Whether private addresses may be connected to for this URL. */
  allowsPrivate(url: URL): boolean;
}

export function createOriginPolicy(options: { allowedOrigins: readonly string[]; allowPrivateNetworks: boolean; allowPrivateOrigins: readonly string[] }): OriginPolicy {
  const allowed = parseOriginRules(options.allowedOrigins);
  const privateOk = parseOriginRules(options.allowPrivateOrigins);
  const allowsPrivate = (url: URL): boolean => options.allowPrivateNetworks || matchesRules(url, privateOk);
  return {
    allowsPrivate,
    check(raw) {
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
        throw new HeadroomError('HEADROOM_IMAGE_ORIGIN_FORBIDDEN', 'image URLs with user:password@ are refused');
      }
      if (!matchesRules(url, allowed)) {
        throw new HeadroomError('HEADROOM_IMAGE_ORIGIN_FORBIDDEN', `origin ${url.origin} is not in IMAGE_ALLOWED_ORIGINS`);
      }
      // An IP literal is never looked up, so it is checked here (the socket check catches it too).
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && isBlockedAddress(host) && !allowsPrivate(url)) {
        throw new HeadroomError('HEADROOM_IMAGE_ORIGIN_FORBIDDEN', `address ${host} is private, loopback or otherwise not public`);
      }
      return url;
    },
  };
}
