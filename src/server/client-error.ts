// Answers what Node would refuse before any route runs with the documented error body instead of
// a bare status or a dropped connection: what its HTTP parser refuses (duplicate Content-Length,
// bare CR, obsolete line folding, oversized headers, request timeouts), CONNECT (a reverse proxy
// tunnels nothing; without a listener Node closes the socket without a word) and Expect values
// other than 100-continue (Node's bare 417). Then the connection is closed.
import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { HeadroomError, type ErrorCode } from '../errors.js';
import { ALLOWED_METHODS, sendError } from '../proxy/respond.js';

/** The error response, whole, as bytes for a socket no response object owns. */
function errorResponse(error: HeadroomError, extraHeaders = ''): string {
  const body = JSON.stringify(error.toJSON());
  return (
    `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extraHeaders}Connection: close\r\n\r\n${body}`
  );
}

/** Told the status of each request refused here, before any route (the request metrics count it). */
export type OnRejected = (status: number) => void;

/** Installs the CONNECT and Expect answers on the gateway's server; returns the idempotent undo. */
export function refuseUnservable(server: Server, onRejected?: OnRejected): () => void {
  const onConnect = (_req: IncomingMessage, socket: Duplex): void => {
    const error = new HeadroomError(
      'HEADROOM_METHOD_NOT_ALLOWED',
      'CONNECT is not served: headroom is a reverse proxy and opens no tunnels',
    );
    socket.on('error', () => {});
    onRejected?.(error.statusCode);
    // Destroyed once written: no server timeout guards a socket handed to 'connect', and a client
    // that never closes its side must not keep it.
    socket.end(errorResponse(error, `Allow: ${ALLOWED_METHODS}\r\n`), () => socket.destroy());
  };
  const onExpectation = (req: IncomingMessage, res: ServerResponse): void => {
    const expect = String(req.headers.expect).slice(0, 100);
    const error = new HeadroomError('HEADROOM_EXPECTATION_FAILED', `Expect: ${JSON.stringify(expect)} is not met: only 100-continue is`);
    onRejected?.(error.statusCode);
    sendError(res, error, true); // the body it announced is not read: the connection closes
  };
  server.on('connect', onConnect);
  server.on('checkExpectation', onExpectation);
  return () => {
    server.off('connect', onConnect);
    server.off('checkExpectation', onExpectation);
  };
}

interface ParserError extends Error {
  code?: string;
  /** llhttp's reason, a fixed phrase such as 'Duplicate Content-Length'. */
  reason?: unknown;
}

function classify(err: ParserError): { code: ErrorCode; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return {
      code: 'HEADROOM_HEADERS_TOO_LARGE',
      message: `the request line and headers are larger than the server accepts (${maxHeaderSize} bytes in all, the URL included; Node's --max-http-header-size)`,
    };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { code: 'HEADROOM_REQUEST_TIMEOUT', message: 'the request was not received in time' };
  const reason = typeof err.reason === 'string' && err.reason.length < 100 ? `: ${err.reason}` : '';
  return { code: 'HEADROOM_BAD_REQUEST', message: `malformed HTTP request${reason}` };
}

/** Fastify's clientErrorHandler: the documented error body, then the connection closes; counted by `onRejected`. */
export function createClientErrorHandler(onRejected?: OnRejected): (this: FastifyInstance, err: ParserError, socket: Socket) => void {
  return function clientErrorHandler(err, socket) {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const { code, message } = classify(err);
    this.log.debug({ code: err.code }, `client error: ${message}`);
    // The response of a request being handled on this socket; null once one has finished (keep-alive).
    const pending = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (socket.writable && !pending?.headersSent) {
      const error = new HeadroomError(code, message);
      // A request already routed (a slow upload timing out) is counted by its route.
      if (!pending) onRejected?.(error.statusCode);
      socket.write(errorResponse(error));
    }
    socket.destroy();
  };
}
