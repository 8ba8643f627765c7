// Watches each gateway request from its start to the close of its response, then writes its
// access log line and counts it in the request metrics. Both the raw proxy path (observe-proxy.ts)
// and Fastify's routes (fastify.ts) report here, so a proxied request and an image request give
// the same line. One shared 'close' listener (`this` is the response) and one record per request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyNote } from '../proxy/note.js';
import type { CacheOutcome } from '../cache/cache-status.js';
import type { AccessLog } from './access-log.js';
import { REJECTED_ROUTE, type RequestMetrics } from './request-metrics.js';

/** Status logged and counted for a response closed before its head was sent (nginx's "client closed request"). */
export const CLIENT_CLOSED_STATUS = 499;

const kRecord = Symbol('headroom.requestRecord');

interface RequestRecord {
  req: IncomingMessage;
  socket: Socket;
  reqId: string;
  route: string;
  started: number;
  /** socket.bytesWritten when the request began; the connection may have carried earlier ones. */
  bytesBefore: number;
  note: ProxyNote | undefined;
  /** A Fastify route's cache outcome (its X-Cache header). */
  cache: CacheOutcome | undefined;
  /**
   * The client's address, for the access line. Worked out at the start: by the response's close a
   * request's socket may be gone (a client that left, req.socket cleared once the body was read).
   */
  client: string;
}

type Observed = ServerResponse & { [kRecord]?: RequestRecord };

export interface RequestObserver {
  /**
   * Starts watching one request; its line is written and it is counted when `res` closes.
   * `note`: the proxy's note for a proxied request (cache outcome, upstream time, upload bytes).
   */
  begin(req: IncomingMessage, res: ServerResponse, reqId: string, route: string, note?: ProxyNote): void;
  /** Records how a cache took part in a request begun with begin() (for routes that say so in X-Cache). */
  cacheOutcome(res: ServerResponse, outcome: CacheOutcome): void;
  /**
   * Counts a request refused before it reached a route (a malformed request Node's parser threw
   * out, CONNECT, an unmet Expect), answered with `status`: route `rejected`, method `OTHER`.
   */
  rejected(status: number): void;
}

/** `clientOf`: the client's address of a request (TRUST_PROXY applied), for its access line. */
export function createRequestObserver(
  accessLog: AccessLog,
  metrics: RequestMetrics,
  clientOf: (req: IncomingMessage) => string,
): RequestObserver {
  function onClose(this: Observed): void {
    const r = this[kRecord];
    if (!r) return;
    this[kRecord] = undefined;
    const ms = performance.now() - r.started;
    const aborted = !this.writableFinished;
    const status = this.headersSent ? this.statusCode : CLIENT_CLOSED_STATUS;
    metrics.observe(r.route, r.req.method ?? 'GET', status, ms / 1000);
    if (!accessLog.wants(r.route, status)) return;
    const note = r.note;
    accessLog.write({
      reqId: r.reqId,
      method: r.req.method ?? 'GET',
      route: r.route,
      url: r.req.url ?? '/',
      status,
      ms,
      // A gateway route's body is not counted as it arrives: its Content-Length once it arrived
      // whole, else 0 (a client's claim alone is not logged: Content-Length 999999999 and 5 bytes).
      bytesIn: note ? note.bytesIn : r.req.complete ? Number(r.req.headers['content-length']) || 0 : 0,
      // Exact for HTTP/1.1 keep-alive; a pipelined predecessor still flushing would be counted here.
      bytesOut: Math.max(0, (r.socket.bytesWritten ?? 0) - r.bytesBefore),
      cache: note ? note.cache : r.cache,
      upstreamMs: note && note.upstreamMs >= 0 ? note.upstreamMs : undefined,
      aborted,
      client: r.client,
    });
  }

  return {
    begin(req, res, reqId, route, note) {
      const socket = req.socket;
      (res as Observed)[kRecord] = {
        req,
        socket,
        reqId,
        route,
        started: performance.now(),
        bytesBefore: socket.bytesWritten ?? 0,
        note,
        cache: undefined,
        client: accessLog.enabled ? clientOf(req) : '',
      };
      // on, not once: onClose disarms itself, and once() would wrap it in a new function per request.
      res.on('close', onClose);
    },
    cacheOutcome(res, outcome) {
      const r = (res as Observed)[kRecord];
      if (r) r.cache = outcome;
    },
    rejected(status) {
      metrics.observe(REJECTED_ROUTE, 'OTHER', status, 0);
    },
  };
}
