// Classifies upstream failures (undici error codes, see undici lib/core/errors.js) into the
// proxy's error kinds and, when nothing has been sent yet, the HeadroomError to answer with.
import { HeadroomError } from '../errors.js';
import type { ErrorKind } from './stats.js';

/** Failures on the way to the upstream, in words an operator can act on (the code in brackets). */
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'upstream refused the connection (ECONNREFUSED: nothing listens at its address)',
  ENOTFOUND: "upstream's host name did not resolve (ENOTFOUND)",
  EAI_AGAIN: "upstream's host name did not resolve (EAI_AGAIN)",
  EHOSTUNREACH: "upstream's address cannot be reached from here (EHOSTUNREACH)",
  ENETUNREACH: "upstream's address cannot be reached from here (ENETUNREACH)",
  UND_ERR_CONNECT_TIMEOUT: 'upstream did not accept the connection in time (connect timeout)',
};
const RESET = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

/** undici's words for an upstream answer it refuses to take (its SocketError messages), and ours for the client. */
const UNRELAYABLE: Record<string, string> = {
  'bad upgrade': 'upstream answered with a protocol upgrade (101 Switching Protocols), which the proxy does not relay',
  'bad response': 'upstream sent a response that is not valid HTTP/1.1 (such as a final 1xx status)',
};

/** Thrown into undici to abort an upstream request on our side (client gone, shed, close). */
export class ProxyAbort extends Error {
  /** `why`: the message the client gets, when the kind's usual one would not say it. */
  constructor(
    readonly kind: ErrorKind,
    readonly why?: string,
  ) {
    super(`proxy request aborted: ${kind}`);
  }
}

export function faultKind(err: unknown): ErrorKind {
  if (err instanceof ProxyAbort) return err.kind;
  const code = (err as { code?: string } | null)?.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'timeout';
  if (code === 'UND_ERR_BODY_TIMEOUT') return 'bodyTimeout';
  if (Object.hasOwn(UNREACHABLE, code)) return 'unreachable';
  if (RESET.has(code)) return 'reset';
  return 'other';
}

/** The answer for a failure before any response byte was sent. */
export function faultError(kind: ErrorKind, err: unknown, streamTimeout: number, clientTimeout = 0): HeadroomError {
  switch (kind) {
    case 'clientTimeout':
      return new HeadroomError(
        'HEADROOM_REQUEST_TIMEOUT',
        (err instanceof ProxyAbort && err.why) || `the request body made no progress for ${clientTimeout} ms (CLIENT_TIMEOUT)`,
        { cause: err },
      );
    case 'timeout':
      return new HeadroomError('HEADROOM_UPSTREAM_TIMEOUT', `upstream sent no response headers within ${streamTimeout} ms`, { cause: err });
    case 'bodyTimeout':
      // Before anything was sent: proxy.fetch answers once the first body byte arrives (and a JSON read stalls mid-body).
      return new HeadroomError('HEADROOM_UPSTREAM_TIMEOUT', `upstream sent its headers, then no body bytes for ${streamTimeout} ms`, {
        cause: err,
      });
    case 'unreachable':
    case 'reset': {
      const code = (err as { code?: string } | null)?.code ?? '';
      // undici reports an answer it will not take as a socket error: the upstream did answer.
      const said = code === 'UND_ERR_SOCKET' ? UNRELAYABLE[(err as Error).message] : undefined;
      if (said) return new HeadroomError('HEADROOM_UPSTREAM_ERROR', said, { cause: err });
      const why = Object.hasOwn(UNREACHABLE, code) ? UNREACHABLE[code]! : 'upstream dropped the connection before answering';
      return new HeadroomError('HEADROOM_UPSTREAM_UNREACHABLE', why, { cause: err });
    }
    case 'draining':
      return new HeadroomError(
        'HEADROOM_DRAINING',
        'shutting down: the request did not finish in the time given to drain; retry it on another instance',
        {
          cause: err,
          headers: { 'retry-after': '1' },
        },
      );
    case 'shed':
      return new HeadroomError('HEADROOM_SHED', 'aborted to relieve critical memory pressure', {
        cause: err,
        headers: { 'retry-after': '1' },
      });
    default:
      return new HeadroomError('HEADROOM_UPSTREAM_ERROR', 'upstream request failed', { cause: err });
  }
}
