// Answers what Node's HTTP parser refuses before any route runs (duplicate Content-Length, bare
// CR, obsolete line folding, oversized headers, request timeouts) with the documented error body
// instead of Fastify's default one, then closes the connection: the stream can no longer be trusted.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { HeadroomError, type ErrorCode } from '../errors.js';

interface ParserError extends Error {
  code?: string;
  /** llhttp's reason, a fixed phrase such as 'Duplicate Content-Length'. */
  reason?: unknown;
}

function classify(err: ParserError): { code: ErrorCode; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return { code: 'HEADROOM_HEADERS_TOO_LARGE', message: 'request headers are larger than the server accepts' };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { code: 'HEADROOM_REQUEST_TIMEOUT', message: 'the request was not received in time' };
  const reason = typeof err.reason === 'string' && err.reason.length < 100 ? `: ${err.reason}` : '';
  return { code: 'HEADROOM_BAD_REQUEST', message: `malformed HTTP request${reason}` };
}

export function clientErrorHandler(this: FastifyInstance, err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const { code, message } = classify(err);
  this.log.debug({ code: err.code }, `client error: ${message}`);
  const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !pending?.headersSent) {
    const error = new HeadroomError(code, message);
    const body = JSON.stringify(error.toJSON());
    socket.write(
      `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
