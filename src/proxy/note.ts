// What a caller of proxy.handle() may learn about one request, for an access log or request
// metrics: the caller creates the note (with the request id to use), the proxy fills it in while
// the request runs. Without a note the proxy does none of this bookkeeping.
import type { CacheOutcome } from '../cache/cache-status.js';

export interface ProxyNote {
  /**
   * Sent upstream as X-Request-Id (instead of any the client sent) and returned to the client;
   * the caller validates or generates it. Undefined: the client's header passes through as is.
   */
  readonly requestId: string | undefined;
  /** How the response cache took part; undefined when there is no cache or the request was refused before it. */
  cache: CacheOutcome | undefined;
  /** ms from dispatch to the upstream's response head; -1 when no upstream answered. */
  upstreamMs: number;
  /** Request body bytes relayed upstream. */
  bytesIn: number;
}

export function newProxyNote(requestId?: string): ProxyNote {
  return { requestId, cache: undefined, upstreamMs: -1, bytesIn: 0 };
}
