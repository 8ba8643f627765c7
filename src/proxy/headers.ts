// Header rules toward the upstream and back to the client: hop-by-hop headers (RFC 9110 §7.6.1,
// plus any named in Connection) are dropped both ways, Host is left to undici (it writes the
// upstream's), X-Forwarded-* are set, the upstream token replaces any client Authorization and is
// never relayed back. Tables are built once; per request we walk the header lists once.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
// Expect: Node already answered 100-continue to the client, and undici refuses the header.
// Headers a load balancer or front proxy sets, which upstreams believe: the client's address
// (X-Real-IP, X-Client-IP, True-Client-IP), port and prefix, and the original URL (X-Original-URL,
// X-Rewrite-URL: frameworks route by them, past the path rules checked here). A client's would
// pass as the balancer's, so they are dropped unless trustForwarded.
const FROM_BALANCER = new Set([
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-original-url',
  'x-rewrite-url',
]);
const SET_BY_PROXY = new Set([
  ...HOP_BY_HOP,
  'host',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  ...FROM_BALANCER,
  'forwarded',
]);

export interface HeaderRulesOptions {
  upstreamToken?: string;
  /** Keep X-Forwarded-Proto/-Host and the other headers a load balancer sets (FROM_BALANCER) from the client (only behind a trusted one). */
  trustForwarded?: boolean;
  /** Request headers never passed upstream (any case). */
  dropHeaders?: readonly string[];
}

/** Names listed in a Connection header value, lower-cased. */
function connectionNames(value: string): string[] {
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return [];
  return value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

// RFC 9112 §3.2 / RFC 3986 §3.2.2: uri-host [":" port]; a bracketed IP literal or a reg-name.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d{0,5})?$/;

/** Headers some frameworks take as the request's real method (a POST sent as a GET). */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** The schemes an X-Forwarded-Proto may name. */
const FORWARDED_PROTO = /^https?$/i;

/** Why one Host line is unacceptable (RFC 9112 §3.2: answer 400); `seen` when an earlier line was a Host too. */
function hostLineProblem(value: string, seen: boolean): string | undefined {
  if (seen) return 'more than one Host header';
  return HOST.test(value) ? undefined : 'the Host header is not a valid host[:port]';
}

/** An HTTP/1.1 request must carry Host (RFC 9112 §3.2); 1.0 may not. */
const NO_HOST = 'an HTTP/1.1 request without a Host header';

/**
 * Why a request's Host is unacceptable (RFC 9112 §3.2: answer 400), or undefined when it is fine.
 * `httpVersion` '1.1' also requires one (servers made with requireHostHeader: false, so that the
 * answer is headroom's and not Node's bare 400).
 */
export function hostProblem(rawHeaders: string[], httpVersion?: string): string | undefined {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    const problem = hostLineProblem(rawHeaders[i + 1]!, seen);
    if (problem) return problem;
    seen = true;
  }
  return !seen && httpVersion === '1.1' ? NO_HOST : undefined;
}

/** The header lines Node's HTTP server keeps when its maxHeadersCount is unset (measured on Node 20: 1000). */
const NODE_HEADER_LINES = 1000;

/**
 * Why a request lost header lines, or undefined. Node's server keeps the first maxHeadersCount
 * lines (1000 when unset) and drops the rest without a word (under the 16 KiB size limit, 1 001
 * short lines still fit): a dropped Connection, Authorization or Host must not go unnoticed, so
 * such a request is refused (431). rawHeaders keeps a few more lines than `headers`, so any over the
 * limit means some were dropped.
 */
export function droppedHeaderLines(req: IncomingMessage): string | undefined {
  const max = (req.socket as { server?: { maxHeadersCount?: number | null } } | null)?.server?.maxHeadersCount ?? NODE_HEADER_LINES;
  if (max <= 0 || req.rawHeaders.length <= 2 * max) return undefined;
  return `more than ${max} header lines: the server keeps only the first ${max} (maxHeadersCount)`;
}

/**
 * An absolute-form request target (RFC 9112 §3.2.2: `http://host[:port]/path?query`, which a server
 * must accept): its authority, and the origin-form rest cut from the text as sent (dot segments and
 * encodings stay, for the path rules to judge). Undefined for origin-form and the other forms.
 */
export function absoluteForm(target: string): { authority: string; path: string } | undefined {
  if (target.charCodeAt(0) === 47 /* / */) return undefined;
  const m = /^https?:\/\/([^/?#]*)([^]*)$/i.exec(target);
  if (!m) return undefined;
  const rest = m[2]!;
  return { authority: m[1]!, path: rest.charCodeAt(0) === 47 ? rest : `/${rest}` };
}

/** The request target in origin-form: an absolute-form target's path and query; any other as it is. */
export const originForm = (target: string): string => absoluteForm(target)?.path ?? target;

/**
 * Why an absolute-form target is refused (answer 400), else undefined: its authority is no
 * host[:port], or is not the Host header's value (RFC 9112 §3.2 has a client send them identical;
 * taking either one would let a client show the upstream and the cache key different hosts).
 */
export function authorityProblem(target: string, rawHeaders: string[]): string | undefined {
  const abs = absoluteForm(target);
  if (!abs) return undefined;
  if (!HOST.test(abs.authority)) return `the request target's authority "${abs.authority}" is not a valid host[:port]`;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    const host = rawHeaders[i + 1]!;
    if (host.toLowerCase() !== abs.authority.toLowerCase())
      return `the request target names ${abs.authority} but the Host header ${host}: they must be the same`;
  }
  return undefined;
}

/**
 * An absolute-form target's authority stands in for a missing Host header (an HTTP/1.0 client need
 * not send one; RFC 9112 §3.2.2 has the server take the target's host): added to the request's
 * header lines, so that X-Forwarded-Host and the cache key carry it. Call once authorityProblem
 * has passed the target.
 */
export function hostFromTarget(req: IncomingMessage, target: string): void {
  // Node's own parse of the lines (none were dropped: droppedHeaderLines runs first) says whether one was sent.
  if (req.headers.host !== undefined) return;
  const abs = absoluteForm(target);
  if (!abs) return;
  req.rawHeaders.push('Host', abs.authority);
  req.headers.host = abs.authority;
}

export interface RequestHeaderInfo {
  headers: string[];
  /** Set when the Host header must be refused (see hostProblem). */
  hostProblem: string | undefined;
  /** The origin the upstream is told it serves (X-Forwarded-Proto://X-Forwarded-Host), lower-case. */
  origin: string;
  hasAuthorization: boolean;
  hasBody: boolean;
  /** X-HTTP-Method-Override and kin: the upstream may answer another method than the request's. */
  overridesMethod: boolean;
  ifNoneMatch: string | undefined;
  cacheControl: string | undefined;
}

/** An empty RequestHeaderInfo for the header walk to fill (same shape every time, for V8). */
export function newHeaderInfo(): RequestHeaderInfo {
  return {
    headers: [],
    hostProblem: undefined,
    origin: '',
    hasAuthorization: false,
    hasBody: false,
    overridesMethod: false,
    ifNoneMatch: undefined,
    cacheControl: undefined,
  };
}

export function createHeaderRules(options: HeaderRulesOptions) {
  const token = options.upstreamToken || undefined;
  const bearer = token ? `Bearer ${token}` : undefined;
  const trust = options.trustForwarded === true;
  // Undefined when there are none: the walk then pays nothing for it.
  const drop = options.dropHeaders?.length ? new Set(options.dropHeaders.map((h) => h.toLowerCase())) : undefined;

  /**
   * Builds the upstream header list (flat [name, value, …]) from the client's raw headers.
   * `requestId`, when given, replaces any X-Request-Id the client sent.
   */
  function request(req: IncomingMessage, info: RequestHeaderInfo, requestId?: string): void {
    const remote = req.socket.remoteAddress ?? '';
    const ownProto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    walk(req.rawHeaders, remote, ownProto, info, requestId, req.httpVersion === '1.1');
  }

  /**
   * The same rules for a Web `Request` (proxy.fetch): its `Headers` give lower-case names with
   * repeated lines joined. Without the peer's address (a Web Request has none) the client's
   * X-Forwarded-For is passed on as the framework left it.
   */
  function webRequest(headers: Headers, remote: string | undefined, ownProto: string, info: RequestHeaderInfo): void {
    const raw: string[] = [];
    headers.forEach((value, name) => raw.push(name, value));
    walk(raw, remote, ownProto, info);
  }

  function walk(
    raw: string[],
    remote: string | undefined,
    ownProto: string,
    info: RequestHeaderInfo,
    requestId?: string,
    requireHost = false,
  ): void {
    const out = info.headers;
    let xff: string | undefined;
    let host: string | undefined;
    let proto: string | undefined;
    let fwdHost: string | undefined;
    let extraHop: string[] | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (SET_BY_PROXY.has(name)) {
        if (name === 'host') {
          info.hostProblem ??= hostLineProblem(value, host !== undefined);
          host = value;
        } else if (name === 'x-forwarded-for') xff = xff ? `${xff}, ${value}` : value;
        else if (name === 'x-forwarded-proto') proto = value;
        else if (name === 'x-forwarded-host') fwdHost = value;
        else if (FROM_BALANCER.has(name)) {
          if (trust) out.push(name, value);
        } else if (name === 'connection') {
          const named = connectionNames(value);
          if (named.length > 0) (extraHop ??= []).push(...named);
        } else if (name === 'transfer-encoding') info.hasBody = true;
        continue;
      }
      if (drop?.has(name)) continue;
      if (name === 'authorization') {
        info.hasAuthorization = true;
        if (bearer) continue;
      } else if (name === 'content-length') {
        if (value !== '0') info.hasBody = true;
      } else if (name === 'if-none-match') info.ifNoneMatch = value;
      else if (name === 'cache-control') info.cacheControl = value;
      else if (requestId !== undefined && name === 'x-request-id') continue;
      else if (METHOD_OVERRIDES.has(name)) info.overridesMethod = true;
      out.push(name, value);
    }
    if (requireHost && host === undefined) info.hostProblem ??= NO_HOST;
    if (extraHop) {
      // Rare: drop the headers the client named in Connection.
      for (let i = out.length - 2; i >= 0; i -= 2) if (extraHop.includes(out[i]!)) out.splice(i, 2);
    }
    if (remote !== undefined) out.push('x-forwarded-for', xff ? `${xff}, ${remote}` : remote);
    else if (xff) out.push('x-forwarded-for', xff);
    // A forwarded scheme other than http(s), or a host that is no host[:port] (Host's rule; a path
    // or a list is not one), is not believed: it would be the upstream's origin and the cache key's.
    const p = trust && proto !== undefined && FORWARDED_PROTO.test(proto) ? proto : ownProto;
    out.push('x-forwarded-proto', p);
    const h = trust && fwdHost !== undefined && HOST.test(fwdHost) ? fwdHost : host;
    if (h) out.push('x-forwarded-host', h);
    // Pages may be built from these (absolute links), so cached responses are keyed on them.
    info.origin = `${p}://${h ?? ''}`.toLowerCase();
    if (bearer) out.push('authorization', bearer);
    if (requestId !== undefined) out.push('x-request-id', requestId);
  }

  /**
   * Converts the upstream's response headers as undici hands them over (lower-case names; a
   * repeated header is an array) to a flat [name, value, …] list for writeHead, minus hop-by-hop
   * headers and any value that would echo the upstream token.
   */
  function response(headers: IncomingHttpHeaders): string[] {
    const out: string[] = [];
    let extraHop: string[] | undefined;
    for (const name in headers) {
      const value = headers[name]!;
      if (HOP_BY_HOP.has(name)) {
        if (name === 'connection') {
          for (const v of typeof value === 'string' ? [value] : value) {
            const named = connectionNames(v);
            if (named.length > 0) (extraHop ??= []).push(...named);
          }
        }
        continue;
      }
      if (typeof value === 'string') {
        if (!token || !value.includes(token)) out.push(name, value);
      } else {
        for (const v of value) if (!token || !v.includes(token)) out.push(name, v);
      }
    }
    if (extraHop) for (let i = out.length - 2; i >= 0; i -= 2) if (extraHop.includes(out[i]!)) out.splice(i, 2);
    return out;
  }

  return { request, webRequest, response };
}

export type HeaderRules = ReturnType<typeof createHeaderRules>;
